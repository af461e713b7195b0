"""Local-environment structure identification: eight crystal prototypes, noisy 12-NN clouds.

Each sample is one particle's environment in a periodic, noisy replica of a prototype
crystal scaled to nearest-neighbour distance 1: the vectors to its 12 nearest neighbours
(minimum image), the types of the centre and of each neighbour, the prototype as the label,
and the noise level. Environments are randomly rotated as a whole.

Types default to the *species index within the prototype* (0 for unary crystals; S=0, Zn=1;
Cl=0, Cs=1) rather than the chemical element: the elements alone would name the class for
six of the eight prototypes. ``type_encoding="element"`` gives indices into ``ELEMENTS``.
"""

from __future__ import annotations

import functools
from typing import Literal, Sequence

import numpy as np

from gaan.data.base import PointCloudDataModule

__all__ = [
    "CRYSTAL_CLASSES",
    "DEFAULT_NOISE_LEVELS",
    "ELEMENTS",
    "build_supercell",
    "build_unit_cell",
    "CrystalDataModule",
    "class_index",
    "coordination_numbers",
    "environments_to_samples",
    "generate_crystal_environments",
    "generate_crystal_splits",
    "nearest_neighbor_distances",
    "num_type_features",
    "random_rotations",
    "steinhardt_features",
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
DEFAULT_NOISE_LEVELS = (0.001, 0.05, 0.1)
TypeEncoding = Literal["species", "element"]


def class_index(name: str) -> int:
    """Label of a prototype name; ValueError naming the valid classes otherwise."""
    try:
        return CRYSTAL_CLASSES.index(name)
    except ValueError:
        raise ValueError(
            f"unknown crystal class {name!r}; expected one of {CRYSTAL_CLASSES}"
        ) from None


def num_type_features(type_encoding: TypeEncoding = "species") -> int:
    """Number of distinct type indices under ``type_encoding``."""
    _check_type_encoding(type_encoding)
    return 2 if type_encoding == "species" else len(ELEMENTS)


def _check_type_encoding(type_encoding: str) -> None:
    if type_encoding not in ("species", "element"):
        raise ValueError(
            f"type_encoding must be 'species' or 'element', got {type_encoding!r}"
        )


# --------------------------------------------------------------------------------------------
# unit cells (ase)
# --------------------------------------------------------------------------------------------


def build_unit_cell(name: str):
    """The conventional unit cell of a prototype as ``ase.Atoms`` (in Angstrom).

    Atom counts follow the Pearson symbols (hP2 -> 2, cF136 -> 136, ...).
    """
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
    import freud

    # freud wants the lattice vectors as columns, upper triangular (else it would rotate the
    # box away from the Cartesian positions); the ase cells used here are already
    matrix = np.asarray(cell, dtype=np.float64).T
    if np.abs(np.tril(matrix, -1)).max() > 1e-9 * np.abs(matrix).max():
        raise ValueError(f"cell must be upper triangular as columns for freud, got {cell}")
    return freud.box.Box.from_matrix(matrix)


def _neighbor_query(
    cell: np.ndarray, positions: np.ndarray, num_neighbors: int
) -> tuple[np.ndarray, np.ndarray]:
    """Periodic k-NN of every point: (N, k) neighbour indices, (N, k, 3) vectors.

    Neighbours are ordered by distance (ties by index), vectors point centre -> neighbour.
    """
    import freud

    box = _freud_box(cell)
    points = box.wrap(np.asarray(positions, dtype=np.float32))
    query = freud.locality.AABBQuery(box, points)
    nlist = query.query(
        points, {"num_neighbors": num_neighbors, "exclude_ii": True}
    ).toNeighborList()
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
    _, vectors = _neighbor_query(supercell.cell.array, supercell.positions, 1)
    return np.linalg.norm(vectors[: len(atoms), 0], axis=-1)


def coordination_numbers(atoms, tolerance: float = 0.1) -> np.ndarray:
    """(N,) neighbours within ``(1 + tolerance)`` times each atom's nearest distance."""
    supercell = _replicate_for_width(atoms, min_width=6.0 * _rough_spacing(atoms))
    _, vectors = _neighbor_query(supercell.cell.array, supercell.positions, 24)
    distances = np.linalg.norm(vectors[: len(atoms)], axis=-1)
    return (distances <= (1.0 + tolerance) * distances[:, :1]).sum(axis=1)


def _rough_spacing(atoms) -> float:
    return float((atoms.cell.volume / len(atoms)) ** (1 / 3))


def _perpendicular_widths(cell: np.ndarray) -> np.ndarray:
    volume = abs(np.linalg.det(cell))
    return np.array(
        [volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)]
    )


def _replicate_for_width(atoms, min_width: float):
    widths = _perpendicular_widths(atoms.cell.array)
    reps = np.maximum(1, np.ceil(min_width / widths)).astype(int)
    # ase keeps the original atoms first, so indices < len(atoms) are the unit cell's
    return atoms.repeat(tuple(int(r) for r in reps))


@functools.lru_cache(maxsize=None)
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
    _check_type_encoding(type_encoding)
    if not min_box_width > 0:
        raise ValueError(f"min_box_width must be positive, got {min_box_width}")
    cell, positions, symbols = _scaled_supercell(name, float(min_box_width))
    if type_encoding == "species":
        species = sorted(set(symbols))
        types = np.array([species.index(s) for s in symbols], dtype=np.int64)
    else:
        types = np.array([ELEMENTS.index(s) for s in symbols], dtype=np.int64)
    return cell.copy(), positions.copy(), types


# --------------------------------------------------------------------------------------------
# environments
# --------------------------------------------------------------------------------------------


def random_rotations(rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, 3, 3) uniformly distributed rotation matrices (from unit quaternions)."""
    q = rng.standard_normal((count, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


def _check_noise_levels(noise_levels: Sequence[float]) -> tuple[float, ...]:
    levels = tuple(float(s) for s in noise_levels)
    if not levels:
        raise ValueError("noise_levels must name at least one sigma")
    for sigma in levels:
        if not np.isfinite(sigma) or sigma < 0:
            raise ValueError(
                f"noise_levels: sigma must be finite and >= 0, got {sigma} in {noise_levels}"
            )
    return levels


def generate_crystal_environments(
    num_samples: int,
    seed: int | np.random.SeedSequence,
    *,
    classes: Sequence[str] = CRYSTAL_CLASSES,
    noise_levels: Sequence[float] = DEFAULT_NOISE_LEVELS,
    num_neighbors: int = 12,
    rotate: bool = True,
    type_encoding: TypeEncoding = "species",
    min_box_width: float = 6.0,
) -> dict[str, np.ndarray]:
    """Sample ``num_samples`` environments, balanced over classes x noise levels.

    For each (class, sigma) group, fresh noisy copies of the scaled supercell are drawn
    (each atom displaced by N(0, sigma^2) per axis) until the group has enough centres; the
    centres of one copy are distinct atoms. The samples are shuffled.

    Returns (M = num_samples, K = num_neighbors):
        ``vectors`` (M, K, 3) float32: centre -> neighbour, nearest first, rotated;
        ``center_type`` (M,) int64, ``neighbor_types`` (M, K) int64;
        ``label`` (M,) int64: index into ``CRYSTAL_CLASSES`` (not into ``classes``);
        ``noise`` (M,) float32: the sigma the environment was drawn with.
    """
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    if not 1 <= num_neighbors <= 24:
        raise ValueError(f"num_neighbors must be in [1, 24], got {num_neighbors}")
    class_ids = [class_index(name) for name in classes]
    if not class_ids:
        raise ValueError("classes must name at least one crystal class")
    levels = _check_noise_levels(noise_levels)
    _check_type_encoding(type_encoding)
    rng = np.random.default_rng(seed)

    groups = [(c, s) for c in class_ids for s in levels]
    per_group = np.full(len(groups), num_samples // len(groups))
    per_group[: num_samples % len(groups)] += 1

    vectors = np.empty((num_samples, num_neighbors, 3))
    center_type = np.empty(num_samples, dtype=np.int64)
    neighbor_types = np.empty((num_samples, num_neighbors), dtype=np.int64)
    label = np.empty(num_samples, dtype=np.int64)
    noise = np.empty(num_samples, dtype=np.float32)
    filled = 0
    for (cls, sigma), wanted in zip(groups, per_group):
        cell, positions, types = build_supercell(
            CRYSTAL_CLASSES[cls], min_box_width, type_encoding
        )
        while wanted > 0:
            noisy = positions + sigma * rng.standard_normal(positions.shape)
            neighbors, vecs = _neighbor_query(cell, noisy, num_neighbors)
            take = min(wanted, len(positions))
            centres = rng.permutation(len(positions))[:take]
            block = slice(filled, filled + take)
            vectors[block] = vecs[centres]
            center_type[block] = types[centres]
            neighbor_types[block] = types[neighbors[centres]]
            label[block] = cls
            noise[block] = sigma
            filled += take
            wanted -= take
    # drawn even when unused, so rotate=False gives the same samples, unrotated
    rotations = random_rotations(rng, num_samples)
    if rotate:
        vectors = np.einsum("mij,mkj->mki", rotations, vectors)
    order = rng.permutation(num_samples)
    return {
        "vectors": vectors[order].astype(np.float32),
        "center_type": center_type[order],
        "neighbor_types": neighbor_types[order],
        "label": label[order],
        "noise": noise[order],
    }


def generate_crystal_splits(
    sizes: dict[str, int], seed: int = 0, **kwargs
) -> dict[str, dict[str, np.ndarray]]:
    """Independent splits (own noisy copies, own rotations), one child seed per split.

    ``sizes`` maps split name -> number of samples; the child seed depends on the split's
    position in ``sizes``, so ``{"train": ..., "valid": ..., "test": ...}`` is reproducible.
    Extra keyword arguments go to :func:`generate_crystal_environments`.
    """
    children = np.random.SeedSequence(seed).spawn(len(sizes))
    return {
        split: generate_crystal_environments(size, child, **kwargs)
        for (split, size), child in zip(sizes.items(), children)
    }


# --------------------------------------------------------------------------------------------
# baseline features
# --------------------------------------------------------------------------------------------


def steinhardt_features(vectors: np.ndarray, l_values: Sequence[int] = (4, 6)) -> np.ndarray:
    """Steinhardt q_l of each environment from its neighbour vectors, computed with freud.

    vectors: (M, K, 3) centre -> neighbour (all K neighbours count). Returns (M, len(l_values))
    float32. Rotation invariant; q_4 = 0.191, q_6 = 0.575 for a perfect fcc shell.
    """
    import freud

    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 3 or vectors.shape[-1] != 3 or vectors.shape[1] < 1:
        raise ValueError(f"vectors must have shape (M, K, 3) with K >= 1, got {vectors.shape}")
    l_values = [int(l) for l in l_values]
    if not l_values or min(l_values) < 0:
        raise ValueError(f"l_values must be non-negative integers, got {l_values}")
    num_envs, k, _ = vectors.shape
    if num_envs == 0:
        return np.zeros((0, len(l_values)), dtype=np.float32)
    # one freud system of M centres followed by M * K neighbour points, placed so that the
    # positions agree with the bond vectors (freud reads both) and environments stay apart
    extent = float(np.abs(vectors).max()) + 1.0
    spacing = 4.0 * extent
    side = int(np.ceil(num_envs ** (1 / 3)))
    grid = np.stack(np.unravel_index(np.arange(num_envs), (side, side, side)), axis=1)
    centres = (grid - (side - 1) / 2.0) * spacing
    neighbors = (centres[:, None, :] + vectors).reshape(-1, 3)
    points = np.concatenate([centres, neighbors]).astype(np.float32)
    box = freud.box.Box.cube(side * spacing + 4.0 * extent)
    query_indices = np.repeat(np.arange(num_envs), k)
    point_indices = num_envs + np.arange(num_envs * k)
    nlist = freud.locality.NeighborList.from_arrays(
        len(points), len(points), query_indices, point_indices, vectors.reshape(-1, 3)
    )
    steinhardt = freud.order.Steinhardt(l_values)
    steinhardt.compute((box, points), neighbors=nlist)
    order = np.asarray(steinhardt.particle_order)[:num_envs]
    return order.reshape(num_envs, len(l_values)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# datamodule (thin wrapper on the harness's PointCloudDataModule)
# --------------------------------------------------------------------------------------------


def environments_to_samples(
    env: dict[str, np.ndarray], num_types: int, include_center: bool = True
) -> list[dict]:
    """Harness samples from :func:`generate_crystal_environments` output.

    positions: the neighbour vectors (K, 3), preceded by the centre at the origin when
    ``include_center`` (the backbones centre clouds on their centroid, which would otherwise
    hide where the central particle sits). features: one-hot point type, one-hot centre type,
    and an is-centre flag: (K [+1], 2 * num_types + 1). targets: ``label`` and ``noise``.
    """
    import torch

    eye = np.eye(num_types, dtype=np.float32)
    samples = []
    for m in range(len(env["label"])):
        positions = env["vectors"][m]
        point_types = env["neighbor_types"][m]
        is_center = np.zeros(len(positions), dtype=np.float32)
        if include_center:
            positions = np.concatenate([np.zeros((1, 3), np.float32), positions])
            point_types = np.concatenate([env["center_type"][m : m + 1], point_types])
            is_center = np.concatenate([[1.0], is_center]).astype(np.float32)
        center = np.broadcast_to(eye[env["center_type"][m]], (len(positions), num_types))
        features = np.concatenate([eye[point_types], center, is_center[:, None]], axis=1)
        samples.append(
            {
                "positions": torch.from_numpy(np.ascontiguousarray(positions, dtype=np.float32)),
                "features": torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)),
                "targets": {
                    "label": torch.tensor(int(env["label"][m])),
                    "noise": torch.tensor(float(env["noise"][m])),
                },
            }
        )
    return samples


class CrystalDataModule(PointCloudDataModule):
    """task=crystal: 8-way structure identification of noisy 12-neighbour environments.

    The pool of ``num_samples`` environments (balanced over class x noise level) is drawn
    from ``generator_seed``; the harness splits it by ``split_seed``.
    """

    name = "crystal"

    def __init__(
        self,
        data_dir: str,
        num_samples: int = 24_000,
        noise_levels: Sequence[float] = DEFAULT_NOISE_LEVELS,
        num_neighbors: int = 12,
        type_encoding: TypeEncoding = "species",
        include_center: bool = True,
        generator_seed: int = 0,
        **kwargs,
    ):
        super().__init__(data_dir, **kwargs)
        self.num_samples = int(num_samples)
        self.noise_levels = _check_noise_levels(noise_levels)
        self.num_neighbors = int(num_neighbors)
        _check_type_encoding(type_encoding)
        self.type_encoding = type_encoding
        self.include_center = bool(include_center)
        self.generator_seed = int(generator_seed)

    @property
    def num_features(self) -> int:
        return 2 * num_type_features(self.type_encoding) + 1

    def cache_key(self) -> dict:
        return {
            "num_samples": self.num_samples,
            "noise_levels": list(self.noise_levels),
            "num_neighbors": self.num_neighbors,
            "type_encoding": self.type_encoding,
            "include_center": self.include_center,
            "seed": self.generator_seed,
            "version": 1,
        }

    def build_samples(self) -> list[dict]:
        env = generate_crystal_environments(
            self.num_samples,
            self.generator_seed,
            noise_levels=self.noise_levels,
            num_neighbors=self.num_neighbors,
            type_encoding=self.type_encoding,
        )
        return environments_to_samples(
            env, num_type_features(self.type_encoding), self.include_center
        )
