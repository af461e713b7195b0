"""Small covariant maps shared by the backbones' building blocks."""

from __future__ import annotations

import torch
from torch import Tensor


def soft_clip(x: Tensor, radius: float = 1.0) -> Tensor:
    """x / sqrt(1 + |x|**2 / radius**2) over the last axis: never longer than `radius`, nearly
    unchanged well inside it, one-to-one, and rotation-covariant (a function of |x| times x)."""
    return x * torch.rsqrt(1 + x.square().sum(-1, keepdim=True) / radius**2)
