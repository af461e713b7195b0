"""Geometry helpers shared by the data generators (numpy)."""

from __future__ import annotations

import numpy as np

__all__ = ["random_rotations"]


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
