"""Neighbour searches on 3-d coordinates with numpy alone: pairs closer than a cutoff, and the k
nearest points.

`gaan-backmap` needs both on every call (clash candidates, side-chain overlaps, the network's
bead environments). scipy's k-d tree would do, but importing scipy.spatial costs 0.23 CPU s (its
package pulls in distance metrics, rotations, qhull and special functions), about a tenth of a
small protein's whole call. Here points are hashed into cubic cells as wide as the cutoff, so a
pair closer than the cutoff lies in the same or an adjacent cell: the work grows with the number
of close pairs, not with the square of the number of points. Distances are float64 and exact;
results come sorted, so they do not depend on the order the cells are visited in.
"""

from __future__ import annotations

from itertools import product

import numpy as np

# k_nearest looks within 1.5 times the radius that holds 2k points at the mean density first
_FIRST_RADIUS_FACTOR = 1.5
_BLOCK_ENTRIES = 1 << 22  # distances per block of the exhaustive search: bounds its memory (32 MiB)
_SPARE = 16  # candidates beyond k that the exhaustive search measures exactly


# neighbouring cells: all 27 offsets, and the 14 that visit each unordered pair of cells once
_ALL_OFFSETS = tuple(product((-1, 0, 1), repeat=3))
_HALF_OFFSETS = tuple(o for o in _ALL_OFFSETS if o >= (0, 0, 0))


def _close_pairs(
    points: np.ndarray, others: np.ndarray, cutoff: float, offsets: tuple[tuple[int, int, int], ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, distance) of points[i] and others[j] at most `cutoff` apart, unsorted, for others in
    the cells at `offsets` from each point's cell (cells `cutoff` wide)."""
    if cutoff <= 0:
        raise ValueError(f"cutoff must be > 0, got {cutoff}")
    points, others = (np.asarray(c, dtype=np.float64).reshape(-1, 3) for c in (points, others))
    point_rows, other_rows = (np.flatnonzero(np.isfinite(c).all(1)) for c in (points, others))
    if len(point_rows) == 0 or len(other_rows) == 0:
        return _empty_pairs()
    origin = np.minimum(points[point_rows].min(0), others[other_rows].min(0))
    # cells from 1, so that a neighbouring cell (-1 .. +1 on each axis) never wraps into another row of keys
    point_cells, other_cells = (
        np.floor((c[rows] - origin) / cutoff).astype(np.int64) + 1 for c, rows in ((points, point_rows), (others, other_rows))
    )
    span = np.maximum(point_cells.max(0), other_cells.max(0)) + 2
    if float(np.prod(span.astype(np.float64))) >= 2.0**62:
        raise ValueError(f"coordinates span {span * cutoff} A: too wide for cells of {cutoff} A")

    def key(cells: np.ndarray) -> np.ndarray:
        return (cells[:, 0] * span[1] + cells[:, 1]) * span[2] + cells[:, 2]

    other_keys = key(other_cells)
    order = np.argsort(other_keys, kind="stable")
    occupied, first, count = np.unique(other_keys[order], return_index=True, return_counts=True)
    sorted_others = others[other_rows[order]]
    point_keys, point_coords = key(point_cells), points[point_rows]
    found_i, found_j, found_distance = [], [], []
    for dx, dy, dz in offsets:
        wanted = point_keys + (dx * span[1] + dy) * span[2] + dz
        slot = np.minimum(np.searchsorted(occupied, wanted), len(occupied) - 1)
        hit = np.flatnonzero(occupied[slot] == wanted)
        sizes = count[slot[hit]]
        within_cell = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        i = np.repeat(hit, sizes)  # into point_rows
        j = np.repeat(first[slot[hit]], sizes) + within_cell  # into sorted_others
        squared = ((point_coords[i] - sorted_others[j]) ** 2).sum(-1)
        near = squared <= cutoff * cutoff
        found_i.append(point_rows[i[near]])
        found_j.append(other_rows[order[j[near]]])
        found_distance.append(np.sqrt(squared[near]))
    return np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_distance)


def _empty_pairs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)


def pairs_between(points: np.ndarray, others: np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (i, j) with |points[i] - others[j]| <= cutoff: (i, j, distance), sorted by i then j.
    Points with a non-finite coordinate have no neighbours."""
    i, j, distance = _close_pairs(points, others, cutoff, _ALL_OFFSETS)
    ranked = np.lexsort((j, i))
    return i[ranked], j[ranked], distance[ranked]


def pairs_within(coords: np.ndarray, cutoff: float) -> np.ndarray:
    """(P, 2) every pair i < j of `coords` at most `cutoff` apart, sorted (what scipy's
    cKDTree.query_pairs gives, in order). Each pair of cells is visited once."""
    i, j, _ = _close_pairs(coords, coords, cutoff, _HALF_OFFSETS)
    first, second = np.minimum(i, j), np.maximum(i, j)
    distinct = first != second  # the zero offset also pairs each point with itself, and each pair of one cell twice
    first, second = first[distinct], second[distinct]
    pairs = np.unique(first * max(len(coords), 1) + second)
    return np.stack(np.divmod(pairs, max(len(coords), 1)), axis=1)


def k_nearest_exhaustive(points: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k points nearest each query, in any dimension, by comparing every pair: ((m, k)
    distances, (m, k) indices), nearest first, ties by lower index. Candidates come from squared
    distances as |q|^2 + |p|^2 - 2 q.p (one matrix product per block of queries); the k +
    `_SPARE` best are then measured exactly and ranked, so rounding in the product (1e-15 of
    |p|^2) cannot change the answer unless the k-th and the (k + `_SPARE`)-th are that close."""
    points, queries = np.asarray(points, dtype=np.float64), np.asarray(queries, dtype=np.float64)
    if not 1 <= k <= len(points):
        raise ValueError(f"k must be in 1 .. {len(points)} (the number of points), got {k}")
    distances, indices = np.zeros((len(queries), k)), np.zeros((len(queries), k), dtype=np.int64)
    kept = min(k + _SPARE, len(points))
    norms = (points**2).sum(1)
    block = max(1, _BLOCK_ENTRIES // len(points))
    for start in range(0, len(queries), block):
        rows = slice(start, start + block)
        query = queries[rows]
        approximate = norms[None, :] - 2 * query @ points.T  # + |q|^2, the same along a row
        candidates = np.argpartition(approximate, kept - 1, axis=1)[:, :kept] if kept < len(points) else np.argsort(approximate, axis=1)
        exact = np.sqrt(((query[:, None, :] - points[candidates]) ** 2).sum(-1))
        ranked = np.lexsort((candidates, exact), axis=-1)[:, :k]
        distances[rows], indices[rows] = np.take_along_axis(exact, ranked, 1), np.take_along_axis(candidates, ranked, 1)
    return distances, indices


def k_nearest(points: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k points nearest each query in 3-d: ((m, k) distances, (m, k) indices), nearest
    first, ties by lower index. Needs k <= len(points) and finite coordinates.

    They are looked for within a radius that holds about 2k points at the points' mean density
    (`pairs_between`); queries with fewer than k inside it are searched exhaustively."""
    points, queries = (np.asarray(c, dtype=np.float64).reshape(-1, 3) for c in (points, queries))
    if not 1 <= k <= len(points):
        raise ValueError(f"k must be in 1 .. {len(points)} (the number of points), got {k}")
    distances, indices = np.zeros((len(queries), k)), np.zeros((len(queries), k), dtype=np.int64)
    if len(queries) == 0:
        return distances, indices
    box = np.ptp(points, axis=0).clip(min=1.0)
    radius = _FIRST_RADIUS_FACTOR * (2 * k * np.prod(box) / len(points) / (4 / 3 * np.pi)) ** (1 / 3)
    i, j, distance = pairs_between(queries, points, float(radius))  # sorted by query, then index
    found = np.bincount(i, minlength=len(queries))
    starts = np.cumsum(found) - found
    enough = found >= k
    for q in np.flatnonzero(enough):
        near = slice(starts[q], starts[q] + found[q])
        best = np.lexsort((j[near], distance[near]))[:k]
        distances[q], indices[q] = distance[near][best], j[near][best]
    rest = np.flatnonzero(~enough)
    if len(rest):
        distances[rest], indices[rest] = k_nearest_exhaustive(points, queries[rest], k)
    return distances, indices
