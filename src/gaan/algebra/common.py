"""Helpers shared by the algebra modules: safe norms and component stacking. (Magnitudes of
one component are plain `abs`: its gradient at 0 is 0 and its second derivative 0, both finite.)"""

import torch
from torch import Tensor


def safe_norm(x: Tensor, keepdim: bool = True) -> Tensor:
    """Euclidean norm over the last axis with a zero (not NaN) gradient at x = 0.

    The components are divided by the largest of their magnitudes before squaring: squares
    overflow long before the norm does (float32 squares pass 3.4e38 at 1.8e19, which rank-3
    products reach at |r| ~ 2.6e6), while the scaled squares lie in [1, C]. The scale is
    detached: the norm is homogeneous, so `scale * |x / scale|` with a constant scale has the
    norm's exact gradient. The double ``where`` keeps both the value exact (no epsilon added)
    and the backward pass finite when two points coincide or a component vanishes.
    """
    scale = x.detach().abs().amax(-1, keepdim=True)
    positive = scale > 0
    safe_scale = torch.where(positive, scale, torch.ones_like(scale))
    scaled = x / safe_scale
    squared = torch.where(positive, (scaled * scaled).sum(-1, keepdim=True), torch.ones_like(scale))
    norm = torch.where(positive, safe_scale * torch.sqrt(squared), torch.zeros_like(scale))
    return norm if keepdim else norm.squeeze(-1)


def stack(*components: Tensor) -> Tensor:
    """Stack broadcastable components along a new last axis."""
    return torch.stack(torch.broadcast_tensors(*components), dim=-1)
