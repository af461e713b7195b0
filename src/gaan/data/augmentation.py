"""Random-rotation augmentation: how a model that is not equivariant learns the symmetry.

Every cloud of a training batch is turned by its own uniformly random rotation: positions, input
vectors and the targets that rotate with them (`covariant_targets`, named by each datamodule, e.g.
N-body displacements, forces, backmapped atom offsets). Invariant targets are left as they are.
Equivariant models gain nothing from it (their output turns with the input exactly); baselines
such as `model=transformer` need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

from gaan.data.batch import PointCloudBatch
from gaan.data.geometry import random_rotations


def rotate_batch(batch: PointCloudBatch, rotations: Tensor, covariant_targets: Sequence[str]) -> PointCloudBatch:
    """The batch with cloud b turned by rotations[b] (B, 3, 3): x -> x R^T on the last axis of the
    positions, the input vectors and every target named in `covariant_targets`."""
    if batch.positions.shape[-1] != 3:
        raise ValueError(f"rotation augmentation is for 3-D clouds, got {batch.positions.shape[-1]}-D positions")
    missing = [name for name in covariant_targets if name not in batch.targets]
    if missing:
        raise ValueError(f"covariant targets {missing} are not in the batch's targets {sorted(batch.targets)}")
    rotations = rotations.to(batch.positions)

    def turn(x: Tensor) -> Tensor:  # (B, ..., 3)
        flat = x.reshape(x.shape[0], -1, 3)
        return (flat @ rotations.transpose(1, 2)).reshape(x.shape)

    targets = {name: turn(value) if name in covariant_targets else value for name, value in batch.targets.items()}
    vectors = None if batch.vectors is None else turn(batch.vectors)
    return replace(batch, positions=turn(batch.positions), vectors=vectors, targets=targets)


def random_rotation_matrices(count: int, generator: torch.Generator | None = None) -> Tensor:
    """(count, 3, 3) uniformly distributed rotations, drawn from the torch RNG (so a resumed run
    draws the same ones: Lightning restores the torch RNG state)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.from_numpy(random_rotations(np.random.default_rng(seed), count))
