"""Steinhardt bond-orientational order baseline: per-point q_l over bonds to the other points
of the cloud, then an MLP. Rotation- and permutation-invariant, no learned geometry: the
classic hand-made descriptor that GA attention has to beat (fcc vs hcp is its hard pair)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from gaan.models.base import Backbone, BackboneOutput
from gaan.nn.mlp import mlp


def legendre(l: int, x: Tensor) -> Tensor:
    """P_l(x) by Bonnet's recursion."""
    previous, current = torch.ones_like(x), x
    if l == 0:
        return previous
    for n in range(1, l):
        previous, current = current, ((2 * n + 1) * x * current - n * previous) / (n + 1)
    return current


def steinhardt_order(positions: Tensor, mask: Tensor, l_values: tuple[int, ...] = (4, 6)) -> Tensor:
    """q_l of each point's bonds to every other real point: (B, N, len(l_values)).

    By the addition theorem, sum_m |mean_j Y_lm(b_j)|^2 = (2l+1)/(4 pi) mean_jk P_l(b_j . b_k),
    so q_l = sqrt(mean_jk P_l(cos theta_jk)) needs no spherical harmonics.
    """
    bonds = positions[:, None, :, :] - positions[:, :, None, :]  # (B, i, j, 3): i -> j
    points = positions.shape[1]
    valid = mask[:, None, :] & mask[:, :, None] & ~torch.eye(points, dtype=torch.bool, device=mask.device)
    lengths = (bonds.square().sum(-1, keepdim=True) + 1e-12).sqrt()
    directions = bonds / lengths
    cosines = (directions @ directions.transpose(-1, -2)).clamp(-1, 1)  # (B, i, j, k)
    pair_weights = (valid[..., :, None] & valid[..., None, :]).to(positions.dtype)
    counts = pair_weights.sum((-1, -2)).clamp_min(1)
    orders = []
    for l in l_values:
        mean = (legendre(l, cosines) * pair_weights).sum((-1, -2)) / counts
        orders.append((mean.clamp_min(0) + 1e-12).sqrt())
    return torch.stack(orders, -1) * mask[..., None].to(positions.dtype)


class SteinhardtBackbone(Backbone):
    """Per-point [q_l..., features] -> MLP; pooled by the task's head."""

    def __init__(self, in_features: int, width: int = 32, l_values: tuple[int, ...] = (4, 6), depth: int = 2):
        super().__init__()
        self.width = width
        self.l_values = tuple(int(l) for l in l_values)
        if not self.l_values or min(self.l_values) < 0:
            raise ValueError(f"model.l_values must be non-negative integers, got {l_values}")
        self.net = mlp(len(self.l_values) + in_features, width, hidden=width, layers=depth + 1)

    def encode(self, positions: Tensor, features: Tensor, mask: Tensor) -> BackboneOutput:
        order = steinhardt_order(positions, mask, self.l_values)
        h = self.net(torch.cat([order, features], -1)) * mask[..., None].to(features.dtype)
        return BackboneOutput(invariants=h, positions=positions, mask=mask)


def steinhardt_features(vectors: np.ndarray, l_values: Sequence[int] = (4, 6)) -> np.ndarray:
    """Steinhardt q_l of each environment from its neighbour vectors, computed with freud.

    vectors: (M, K, 3) centre -> neighbour (all K neighbours count). Returns (M, len(l_values))
    float32. Rotation invariant; q_4 = 0.191, q_6 = 0.575 for a perfect fcc shell.

    The reference the torch :func:`steinhardt_order` is checked against, and a quick
    descriptor for analysing crystal data.
    """
    import freud  # ~2.4 s to import and only this reference needs it, so not at module level

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
    nlist = freud.locality.NeighborList.from_arrays(len(points), len(points), query_indices, point_indices, vectors.reshape(-1, 3))
    steinhardt = freud.order.Steinhardt(l_values)
    steinhardt.compute((box, points), neighbors=nlist)
    order = np.asarray(steinhardt.particle_order)[:num_envs]
    return order.reshape(num_envs, len(l_values)).astype(np.float32)
