"""Residue environments in the project's sample format: for residue i, its k nearest beads
as vectors relative to bead i, per-bead features, and the labels (and targets) of its heavy
atoms. The datamodule and the backmapping tool both build their samples here, so the tool
predicts exactly like training."""

from __future__ import annotations

import numpy as np
import torch

from gaan.tasks.protein.neighbours import k_nearest
from gaan.tasks.protein.residues import (
    NUM_RESIDUE_TYPES,
    RESIDUE_ATOMS,
    residue_label_ids,
    residue_type_index,
)

# chain-position classes of a bead relative to residue i (one-hot)
CHAIN_OFFSETS = (-2, -1, 0, 1, 2)
FARTHER_BEFORE, FARTHER_AFTER, OTHER_SEGMENT = 5, 6, 7  # same chain |offset| > 2; other chain or across a break
NUM_CHAIN_CLASSES = 8
# The handedness vector: the normalised cross product of the chain directions at residue i,
# (r_{i-1} - r_i) x (r_{i+1} - r_i) (or the nearest pair of sequence neighbours that exists),
# added as one more point flagged by the last feature column. It rotates with the input but
# flips sign differently under reflections, so even a reflection-blind (O(3)) network gets the
# chirality of L-amino acids (where C-beta sits) from it.
FRAME_LENGTH = 3.8  # Angstrom: about one C-alpha spacing, so the point is of the beads' scale
NUM_ENVIRONMENT_FEATURES = NUM_RESIDUE_TYPES + NUM_CHAIN_CLASSES + 1
_QUERY_BLOCK = 4096  # residues per neighbour query: bounds the index arrays for huge structures


def segment_positions(chain_ids, residue_numbers, breaks=None) -> tuple[np.ndarray, np.ndarray]:
    """(segment id, index within segment) per residue; a segment is a run of one chain without
    a break (another chain id, a residue-number gap, or `breaks[r]` True)."""
    chain_ids = np.asarray(chain_ids).astype(str)
    numbers = np.asarray(residue_numbers, dtype=np.int64)
    new = np.ones(len(numbers), dtype=bool)
    if len(numbers) > 1:
        step = np.diff(numbers)
        new[1:] = (chain_ids[1:] != chain_ids[:-1]) | ~np.isin(step, (0, 1))
    if breaks is not None:
        new |= np.asarray(breaks, dtype=bool)
    new[0] = True
    segment = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    return segment, np.arange(len(numbers)) - starts[segment]


def residue_environments(
    bead_positions,
    residue_names,
    chain_ids,
    residue_numbers,
    k: int = 16,
    beads: str = "ca",
    chain_breaks=None,
    atom_coordinates=None,
    complete=None,
    targets_only: bool = False,
) -> list[dict]:
    """Samples, one per residue of a standard type whose bead is finite.

    bead_positions (R, 3); residue_names, chain_ids, residue_numbers (R,) in chain order;
    k: beads per environment (residue i itself first, at the origin, then its k - 1 nearest);
    chain_breaks (R,) optional: True where residue r does not continue residue r - 1
    (`coarse_grain.chain_breaks`); atom_coordinates (R, MAX_RESIDUE_ATOMS, 3) and complete (R,)
    optional (`ResidueTable.coords` / `.complete`): targets for complete residues;
    targets_only: skip residues without targets (training data).
    `beads` is recorded only (the geometry is whatever bead_positions holds).

    Each sample: positions (k' [+ 1], 3) float32 relative to bead i, features (k' [+ 1], 21 + 8 + 1)
    float32 (residue type one-hot, chain position one-hot: offsets -2..+2, farther before / after
    in the same segment, other chain or across a break; the frame flag), where the last point, if
    residue i has two sequence neighbours with beads, is the handedness vector (FRAME_LENGTH times
    the unit normal of the chain at i; see above), labels (L,) int64 atom label ids of
    residue i (`atom_label_index`), targets {"atoms": (L, 3) float32 atom - bead i} when known,
    residue_index (int, row in the inputs). k' = min(k, number of beads).
    """
    positions = np.asarray(bead_positions, dtype=np.float64)
    names = np.asarray(residue_names).astype(str)
    if positions.ndim != 2 or positions.shape[1] != 3 or len(positions) != len(names):
        raise ValueError(f"bead_positions must be (R, 3) with R = len(residue_names) = {len(names)}, got {positions.shape}")
    if k < 1:
        raise ValueError(f"k (task.datamodule.k) must be >= 1, got {k}")
    segment, index_in_segment = segment_positions(chain_ids, residue_numbers, chain_breaks)
    types = np.array([residue_type_index(n) for n in names], dtype=np.int64)
    finite = np.isfinite(positions).all(1)
    bead_rows = np.flatnonzero(finite)
    if len(bead_rows) == 0:
        return []
    k_used = min(k, len(bead_rows))
    wanted = [r for r in bead_rows if names[r] in RESIDUE_ATOMS]
    if atom_coordinates is not None:
        atoms = np.asarray(atom_coordinates, dtype=np.float64)
        has_targets = np.asarray(complete, dtype=bool) if complete is not None else np.isfinite(atoms).any(-1).any(-1)
    else:
        atoms, has_targets = None, np.zeros(len(names), dtype=bool)
    if targets_only:
        wanted = [r for r in wanted if has_targets[r]]
    wanted = np.asarray(wanted, dtype=np.int64)
    frames = _handedness_vectors(positions, segment)
    samples: list[dict] = []
    label_cache = {name: torch.from_numpy(residue_label_ids(name)) for name in RESIDUE_ATOMS}
    eye_types = np.eye(NUM_RESIDUE_TYPES, dtype=np.float32)
    eye_chain = np.eye(NUM_CHAIN_CLASSES, dtype=np.float32)
    for block in range(0, len(wanted), _QUERY_BLOCK):
        rows = wanted[block : block + _QUERY_BLOCK]
        _, neighbours = k_nearest(positions[bead_rows], positions[rows], k_used)
        neighbours = bead_rows[neighbours]
        # residue i first: ties at distance 0 (duplicate beads) must not push it out
        for n, r in enumerate(rows):
            others = neighbours[n][neighbours[n] != r][: k_used - 1]
            neighbours[n] = np.concatenate([[r], others])
        relative = positions[neighbours] - positions[rows][:, None, :]
        same = segment[neighbours] == segment[rows][:, None]
        offset = index_in_segment[neighbours] - index_in_segment[rows][:, None]
        chain_class = np.where(offset < -2, FARTHER_BEFORE, np.where(offset > 2, FARTHER_AFTER, offset + 2))
        chain_class = np.where(same, chain_class, OTHER_SEGMENT)
        features = np.concatenate([eye_types[types[neighbours]], eye_chain[chain_class], np.zeros((*neighbours.shape, 1), np.float32)], -1)
        for n, r in enumerate(rows):
            name = names[r]
            point_positions, point_features = relative[n], features[n]
            if np.isfinite(frames[r]).all():
                frame_features = np.zeros((1, NUM_ENVIRONMENT_FEATURES), np.float32)
                frame_features[0, -1] = 1.0
                point_positions = np.concatenate([point_positions, frames[r][None]])
                point_features = np.concatenate([point_features, frame_features])
            sample = {
                "positions": torch.from_numpy(point_positions.astype(np.float32)),
                "features": torch.from_numpy(point_features),
                "labels": label_cache[name],
                "targets": {},
                "residue_index": int(r),
            }
            if has_targets[r]:
                count = len(RESIDUE_ATOMS[name])
                sample["targets"]["atoms"] = torch.from_numpy((atoms[r, :count] - positions[r]).astype(np.float32))
            samples.append(sample)
    return samples


def _handedness_vectors(positions: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """(R, 3) FRAME_LENGTH * unit((p_a - p_i) x (p_b - p_i)) for the first sequence-neighbour
    pair (a, b) of residue i in (i-1, i+1), (i+1, i+2), (i-2, i-1) that lies in i's segment with
    finite beads and a non-degenerate cross product; NaN where there is none."""
    count = len(positions)
    frames = np.full((count, 3), np.nan)
    rows = np.arange(count)
    for a_offset, b_offset in ((-1, 1), (1, 2), (-2, -1)):
        a, b = rows + a_offset, rows + b_offset
        valid = (a >= 0) & (b >= 0) & (a < count) & (b < count) & ~np.isfinite(frames).all(1)
        a, b = np.clip(a, 0, count - 1), np.clip(b, 0, count - 1)
        valid &= (segment[a] == segment) & (segment[b] == segment)
        normal = np.cross(positions[a] - positions, positions[b] - positions)
        length = np.linalg.norm(normal, axis=-1)
        valid &= np.isfinite(length) & (length > 1e-3)
        with np.errstate(invalid="ignore", divide="ignore"):
            frames[valid] = FRAME_LENGTH * normal[valid] / length[valid, None]
    return frames
