"""Steinhardt bond-orientational order baseline: per-point q_l over bonds to the other points
of the cloud, then an MLP. Rotation- and permutation-invariant, no learned geometry: the
classic hand-made descriptor that GA attention has to beat (fcc vs hcp is its hard pair)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

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
