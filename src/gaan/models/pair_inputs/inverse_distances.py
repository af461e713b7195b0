"""Softened inverse powers of each pair's distance (Coulomb-like close-range inputs)."""

from __future__ import annotations

import torch
from torch import Tensor

from gaan.models.pair_inputs.base import PairInput
from gaan.models.views import ViewPairs, required_radius


class InverseDistances(PairInput):
    """(s / sqrt(d**2 + s**2))**p, p in `powers`, of each pair distance d (normalized units, after
    the view's soft limit): ~(s / d)**p far away, at most 1 at contact, zero for the centre itself.

    Inverse powers such as Coulomb's 1 / d**2 are what MLPs of the polynomial invariants
    (|r|**2, r . v) approximate badly near d = 0, where close pairs orbit fast.
    """

    def __init__(self, softening: float, powers=(1, 2, 3)):
        super().__init__()
        self.softening = required_radius("model.pair_inputs: InverseDistances softening", softening)
        self.powers = tuple(int(p) for p in powers)
        if not self.powers or min(self.powers) < 1:
            raise ValueError(f"model.pair_inputs: InverseDistances powers must be integers >= 1, got {list(powers)}")
        self.size = len(self.powers)

    def extra_repr(self) -> str:
        return f"softening={self.softening}, powers={list(self.powers)}"

    def forward(self, pairs: ViewPairs, features: Tensor, vectors: Tensor) -> Tensor:
        squared = pairs.relative.square().sum(-1, keepdim=True)
        base = self.softening * torch.rsqrt(squared + self.softening**2)
        not_self = (~pairs.is_self)[..., None].to(base.dtype)
        return torch.cat([base**p for p in self.powers], -1) * not_self
