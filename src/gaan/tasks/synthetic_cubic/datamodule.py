"""Synthetic task: tell squashed cubic neighbour shells from regular ones.

Each sample is the 14-point neighbourhood of a simple-cubic site (6 face neighbours at
distance 1 and 8 corners at sqrt(3)), randomly rotated, jittered and with a few points
dropped so clouds have different sizes. Class 1 is squashed along one axis by `squash`;
class 0 is regular. Rotation-invariant models can solve it; a bag of norms nearly can.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from gaan.data.base import PointCloudDataModule
from gaan.data.geometry import random_rotations


def cubic_shell() -> np.ndarray:
    faces = [v for v in itertools.product((-1, 0, 1), repeat=3) if sum(map(abs, v)) == 1]
    corners = list(itertools.product((-1, 1), repeat=3))
    return np.array(faces + corners, dtype=np.float64)


def make_cubic_environments(num_samples: int, squash: float = 0.8, noise: float = 0.05, max_dropped: int = 2, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    shell = cubic_shell()
    labels = rng.integers(0, 2, size=num_samples)
    rotations = random_rotations(rng, num_samples)
    samples = []
    for i in range(num_samples):
        points = shell.copy()
        if labels[i] == 1:
            points[:, rng.integers(0, 3)] *= squash
        points = points @ rotations[i].T + rng.normal(scale=noise, size=points.shape)
        keep = rng.permutation(len(points))[: len(points) - rng.integers(0, max_dropped + 1)]
        points = points[np.sort(keep)]
        samples.append(
            {
                "positions": torch.tensor(points, dtype=torch.float32),
                "features": torch.ones(len(points), 1, dtype=torch.float32),
                "targets": {"label": torch.tensor(int(labels[i]))},
            }
        )
    return samples


class SyntheticCubicDataModule(PointCloudDataModule):
    name = "synthetic_cubic"

    def __init__(
        self,
        data_dir: str,
        num_samples: int = 2048,
        squash: float = 0.8,
        noise: float = 0.05,
        max_dropped: int = 2,
        generator_seed: int = 0,
        **kwargs,
    ):
        super().__init__(data_dir, **kwargs)
        self.num_samples = num_samples
        self.squash = squash
        self.noise = noise
        self.max_dropped = max_dropped
        self.generator_seed = generator_seed

    @property
    def num_features(self) -> int:
        return 1

    def cache_key(self) -> dict:
        return {
            "num_samples": self.num_samples,
            "squash": self.squash,
            "noise": self.noise,
            "max_dropped": self.max_dropped,
            "seed": self.generator_seed,
        }

    def build_samples(self) -> list[dict]:
        return make_cubic_environments(self.num_samples, self.squash, self.noise, self.max_dropped, self.generator_seed)
