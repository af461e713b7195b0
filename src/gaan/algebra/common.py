"""Helpers shared by the algebra modules: safe norms and component stacking."""

import torch
from torch import Tensor


def safe_norm(x: Tensor, keepdim: bool = True) -> Tensor:
    """Euclidean norm over the last axis with a zero (not NaN) gradient at x = 0.

    The double ``where`` keeps both the value exact (no epsilon added) and the backward pass
    finite when two points coincide or a component vanishes.
    """
    squared = (x * x).sum(-1, keepdim=keepdim)
    positive = squared > 0
    safe_squared = torch.where(positive, squared, torch.ones_like(squared))
    return torch.where(positive, torch.sqrt(safe_squared), torch.zeros_like(squared))


def safe_abs(x: Tensor) -> Tensor:
    """Absolute value written as a one-component norm (finite gradient at 0)."""
    return safe_norm(x.unsqueeze(-1), keepdim=False)


def stack(*components: Tensor) -> Tensor:
    """Stack broadcastable components along a new last axis."""
    return torch.stack(torch.broadcast_tensors(*components), dim=-1)
