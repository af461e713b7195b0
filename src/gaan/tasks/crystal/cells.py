"""The eight crystal prototypes: unit cells (ase), scaled supercells and periodic k-NN (freud).

Types default to the *species index within the prototype* (0 for unary crystals; S=0, Zn=1;
Cl=0, Cs=1); ``type_encoding="element"`` gives indices into ``ELEMENTS``.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np

__all__ = [
    "CRYSTAL_CLASSES",
    "ELEMENTS",
    "build_supercell",
    "build_unit_cell",
    "class_index",
    "coordination_numbers",
    "nearest_neighbor_distances",
    "num_type_features",
    "periodic_neighbors",
]

CRYSTAL_CLASSES = (
    "hP2-Mg",
    "cI2-W",
    "cF4-Cu",
    "cF8-C",
    "cF8-SZn",
    "cP2-ClCs",
    "cP46-Si",
    "cF136-Si",
)
ELEMENTS = ("C", "Cl", "Cs", "Cu", "Mg", "S", "Si", "W", "Zn")
TypeEncoding = Literal["species", "element"]


def class_index(name: str) -> int:
    """Label of a prototype name; ValueError naming the valid classes otherwise."""
    try:
        return CRYSTAL_CLASSES.index(name)
    except ValueError:
        raise ValueError(f"unknown crystal class {name!r}; expected one of {CRYSTAL_CLASSES}") from None


def num_type_features(type_encoding: TypeEncoding = "species") -> int:
    """Number of distinct type indices under ``type_encoding``."""
    check_type_encoding(type_encoding)
    return 2 if type_encoding == "species" else len(ELEMENTS)


def check_type_encoding(type_encoding: str) -> None:
    if type_encoding not in ("species", "element"):
        raise ValueError(f"type_encoding must be 'species' or 'element', got {type_encoding!r}")


# --------------------------------------------------------------------------------------------
# unit cells (ase)
# --------------------------------------------------------------------------------------------


def build_unit_cell(name: str):
    """The conventional unit cell of a prototype as ``ase.Atoms`` (in Angstrom).

    Atom counts follow the Pearson symbols (hP2 -> 2, cF136 -> 136, ...).
    """
    # imported here: ase costs ~1.3 s and only data generation needs it
    from ase.build import bulk
    from ase.spacegroup import crystal

    class_index(name)
    right_angles = [90.0, 90.0, 90.0]
    if name == "hP2-Mg":
        return bulk("Mg", "hcp", a=3.2093, c=5.2106)
    if name == "cI2-W":
        return bulk("W", "bcc", a=3.155, cubic=True)
    if name == "cF4-Cu":
        return bulk("Cu", "fcc", a=3.61491, cubic=True)
    if name == "cF8-C":
        return bulk("C", "diamond", a=3.55, cubic=True)
    if name == "cF8-SZn":
        return bulk("ZnS", "zincblende", a=5.4093, cubic=True)
    if name == "cP2-ClCs":
        return bulk("CsCl", "cesiumchloride", a=4.07925)
    if name == "cP46-Si":
        # type-I clathrate, Pm-3n: Si on 6c, 16i and 24k
        return crystal(
            ["Si", "Si", "Si"],
            basis=[(0.25, 0.0, 0.5), (0.1843, 0.1843, 0.1843), (0.0, 0.3077, 0.1172)],
            spacegroup=223,
            cellpar=[10.355] * 3 + right_angles,
        )
    # cF136-Si: type-II clathrate, Fd-3m origin choice 2: Si on 8a, 32e and 96g
    return crystal(
        ["Si", "Si", "Si"],
        basis=[(0.125, 0.125, 0.125), (0.2179, 0.2179, 0.2179), (0.1823, 0.1823, 0.3702)],
        spacegroup=227,
        setting=2,
        cellpar=[14.864] * 3 + right_angles,
    )


def _freud_box(cell: np.ndarray):
    import freud  # ~2.4 s to import: only when generating, not for every user of gaan.data

    # freud wants the lattice vectors as columns, upper triangular (else it would rotate the
    # box away from the Cartesian positions); the ase cells used here are already
    matrix = np.asarray(cell, dtype=np.float64).T
    if np.abs(np.tril(matrix, -1)).max() > 1e-9 * np.abs(matrix).max():
        raise ValueError(f"cell must be upper triangular as columns for freud, got {cell}")
    return freud.box.Box.from_matrix(matrix)


def periodic_neighbors(cell: np.ndarray, positions: np.ndarray, num_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """Periodic k-NN of every point: (N, k) neighbour indices, (N, k, 3) vectors.

    Neighbours are ordered by distance (ties by index), vectors point centre -> neighbour.
    """
    import freud

    box = _freud_box(cell)
    points = box.wrap(np.asarray(positions, dtype=np.float32))
    query = freud.locality.AABBQuery(box, points)
    nlist = query.query(points, {"num_neighbors": num_neighbors, "exclude_ii": True}).toNeighborList()
    centres = np.asarray(nlist.query_point_indices)
    others = np.asarray(nlist.point_indices)
    vectors = np.asarray(nlist.vectors, dtype=np.float64)
    distances = np.asarray(nlist.distances, dtype=np.float64)
    order = np.lexsort((others, distances, centres))
    counts = np.bincount(centres, minlength=len(points))
    if not np.all(counts == num_neighbors):
        raise RuntimeError(
            f"neighbour query returned {counts.min()}..{counts.max()} neighbours per point, "
            f"expected {num_neighbors}: the periodic box is too small"
        )
    n = len(points)
    return (
        others[order].reshape(n, num_neighbors),
        vectors[order].reshape(n, num_neighbors, 3),
    )


def nearest_neighbor_distances(atoms) -> np.ndarray:
    """(N,) periodic distance from each atom to its nearest neighbour."""
    supercell = _replicate_for_width(atoms, min_width=3.0 * _rough_spacing(atoms))
    _, vectors = periodic_neighbors(supercell.cell.array, supercell.positions, 1)
    return np.linalg.norm(vectors[: len(atoms), 0], axis=-1)


def coordination_numbers(atoms, tolerance: float = 0.1) -> np.ndarray:
    """(N,) neighbours within ``(1 + tolerance)`` times each atom's nearest distance."""
    supercell = _replicate_for_width(atoms, min_width=6.0 * _rough_spacing(atoms))
    _, vectors = periodic_neighbors(supercell.cell.array, supercell.positions, 24)
    distances = np.linalg.norm(vectors[: len(atoms)], axis=-1)
    return (distances <= (1.0 + tolerance) * distances[:, :1]).sum(axis=1)


def _rough_spacing(atoms) -> float:
    return float((atoms.cell.volume / len(atoms)) ** (1 / 3))


def _perpendicular_widths(cell: np.ndarray) -> np.ndarray:
    volume = abs(np.linalg.det(cell))
    return np.array([volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)])


def _replicate_for_width(atoms, min_width: float):
    widths = _perpendicular_widths(atoms.cell.array)
    reps = np.maximum(1, np.ceil(min_width / widths)).astype(int)
    # ase keeps the original atoms first, so indices < len(atoms) are the unit cell's
    return atoms.repeat(tuple(int(r) for r in reps))


@functools.cache
def _scaled_supercell(name: str, min_box_width: float) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Cell (3, 3), positions (N, 3) with nearest-neighbour distance 1, symbols per atom."""
    unit = build_unit_cell(name)
    scale = 1.0 / float(nearest_neighbor_distances(unit).min())
    unit.set_cell(unit.cell.array * scale, scale_atoms=True)
    supercell = _replicate_for_width(unit, min_box_width)
    cell = supercell.cell.array.copy()
    positions = supercell.positions.copy()
    cell.setflags(write=False)
    positions.setflags(write=False)
    return cell, positions, tuple(supercell.get_chemical_symbols())


def build_supercell(
    name: str, min_box_width: float = 6.0, type_encoding: TypeEncoding = "species"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A replica of ``name`` scaled to nearest-neighbour distance 1.

    Replicated until every perpendicular box width is at least ``min_box_width`` (in units of
    the nearest-neighbour distance). Returns ``cell`` (3, 3) float64 (rows are lattice
    vectors), ``positions`` (N, 3) float64 and ``types`` (N,) int64.
    """
    class_index(name)
    check_type_encoding(type_encoding)
    if not min_box_width > 0:
        raise ValueError(f"min_box_width must be positive, got {min_box_width}")
    cell, positions, symbols = _scaled_supercell(name, float(min_box_width))
    if type_encoding == "species":
        species = sorted(set(symbols))
        types = np.array([species.index(s) for s in symbols], dtype=np.int64)
    else:
        types = np.array([ELEMENTS.index(s) for s in symbols], dtype=np.int64)
    return cell.copy(), positions.copy(), types
