"""Running-statistics normalizations that respect padding masks."""

import torch
from torch import Tensor, nn

from ..algebra import safe_norm


def _real_entries(x: Tensor, mask: Tensor | None) -> Tensor:
    """Rows of x (flattened over all but the last axis) that belong to real points."""
    rows = x.reshape(-1, x.shape[-1])
    if mask is None:
        return rows
    if tuple(mask.shape) != tuple(x.shape[:-1]):
        raise ValueError(f"mask must have shape {tuple(x.shape[:-1])}, got {tuple(mask.shape)}")
    return rows[mask.reshape(-1)]


class MomentumNormalization(nn.Module):
    """Normalize each channel to zero mean and unit variance with running (momentum) statistics.

    Statistics are taken over every axis but the last and, with a mask, over real points only.
    """

    def __init__(self, n_dim: int, momentum: float = 0.99, epsilon: float = 1e-7):
        super().__init__()
        self.momentum, self.epsilon = momentum, epsilon
        self.register_buffer("mean", torch.zeros(n_dim))
        self.register_buffer("std", torch.ones(n_dim))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if self.training:
            rows = _real_entries(x, mask).detach()
            if rows.shape[0]:
                self.mean.mul_(self.momentum).add_((1 - self.momentum) * rows.mean(0).to(self.mean.dtype))
                self.std.mul_(self.momentum).add_((1 - self.momentum) * rows.std(0, unbiased=False).to(self.std.dtype))
        return (x - self.mean.to(x.dtype)) / self.std.clamp_min(self.epsilon).to(x.dtype)


class MomentumLayerNormalization(nn.Module):
    """Divide (multi)vectors by a running mean of their norm, so they have length ~1.

    A single scale for all channels keeps rotation covariance.
    """

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-7):
        super().__init__()
        self.momentum, self.epsilon = momentum, epsilon
        self.register_buffer("norm", torch.ones(1))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if self.training:
            rows = _real_entries(x, mask).detach()
            if rows.shape[0]:
                mean_norm = safe_norm(rows).mean().to(self.norm.dtype)
                self.norm.mul_(self.momentum).add_((1 - self.momentum) * mean_norm)
        return x / self.norm.clamp_min(self.epsilon).to(x.dtype)
