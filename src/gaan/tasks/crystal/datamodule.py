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

from collections.abc import Sequence

import numpy as np
import torch

from gaan.data.base import PointCloudDataModule
from gaan.data.geometry import random_rotations
from gaan.tasks.crystal.cells import (
    CRYSTAL_CLASSES,
    TypeEncoding,
    build_supercell,
    check_type_encoding,
    class_index,
    num_type_features,
    periodic_neighbors,
)

__all__ = [
    "CRYSTAL_CLASSES",
    "DEFAULT_NOISE_LEVELS",
    "CrystalDataModule",
    "environments_to_samples",
    "generate_crystal_environments",
    "generate_crystal_splits",
]

DEFAULT_NOISE_LEVELS = (0.001, 0.05, 0.1)

# --------------------------------------------------------------------------------------------
# environments
# --------------------------------------------------------------------------------------------


def _check_noise_levels(noise_levels: Sequence[float]) -> tuple[float, ...]:
    levels = tuple(float(s) for s in noise_levels)
    if not levels:
        raise ValueError("noise_levels must name at least one sigma")
    for sigma in levels:
        if not np.isfinite(sigma) or sigma < 0:
            raise ValueError(f"noise_levels: sigma must be finite and >= 0, got {sigma} in {noise_levels}")
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
    check_type_encoding(type_encoding)
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
        cell, positions, types = build_supercell(CRYSTAL_CLASSES[cls], min_box_width, type_encoding)
        while wanted > 0:
            noisy = positions + sigma * rng.standard_normal(positions.shape)
            neighbors, vecs = periodic_neighbors(cell, noisy, num_neighbors)
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


def generate_crystal_splits(sizes: dict[str, int], seed: int = 0, **kwargs) -> dict[str, dict[str, np.ndarray]]:
    """Independent splits (own noisy copies, own rotations), one child seed per split.

    ``sizes`` maps split name -> number of samples; the child seed depends on the split's
    position in ``sizes``, so ``{"train": ..., "valid": ..., "test": ...}`` is reproducible.
    Extra keyword arguments go to :func:`generate_crystal_environments`.
    """
    children = np.random.SeedSequence(seed).spawn(len(sizes))
    return {split: generate_crystal_environments(size, child, **kwargs) for (split, size), child in zip(sizes.items(), children)}


# --------------------------------------------------------------------------------------------
# datamodule (thin wrapper on the harness's PointCloudDataModule)
# --------------------------------------------------------------------------------------------


def environments_to_samples(env: dict[str, np.ndarray], num_types: int, include_center: bool = True) -> list[dict]:
    """Harness samples from :func:`generate_crystal_environments` output.

    positions: the neighbour vectors (K, 3), preceded by the centre at the origin when
    ``include_center`` (the backbones centre clouds on their centroid, which would otherwise
    hide where the central particle sits). features: one-hot point type, one-hot centre type,
    and an is-centre flag: (K [+1], 2 * num_types + 1). targets: ``label`` and ``noise``.
    """
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
        check_type_encoding(type_encoding)
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
        return environments_to_samples(env, num_type_features(self.type_encoding), self.include_center)
