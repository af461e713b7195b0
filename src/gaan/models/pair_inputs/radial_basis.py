"""Gaussian radial basis of each pair's distance (the distance expansion of SchNet-like force fields)."""

from __future__ import annotations

import torch
from torch import Tensor

from gaan.models.pair_inputs.base import PairInput
from gaan.models.views import ViewPairs, required_radius
from gaan.nn.validation import check_positive_int


class RadialBasis(PairInput):
    """exp(-((d - mu_j) / w)**2 / 2) for `count` centres mu_j evenly spaced on [0, `maximum`]
    (normalized units, after the view's soft limit), width w = the spacing; zero for the centre
    itself.

    Bond energies change by ~1 eV over a few hundredths of an A: the smooth polynomial
    invariants move too little over that range for an MLP to resolve it quickly, while a
    basis with ~0.2 A resolution turns a bond's length into features that change by O(1).
    """

    def __init__(self, count: int = 16, maximum: float = 2.5):
        super().__init__()
        check_positive_int("model.pair_inputs: RadialBasis count", count, minimum=2)
        self.maximum = required_radius("model.pair_inputs: RadialBasis maximum", maximum)
        self.size = count
        self.register_buffer("centres", torch.linspace(0.0, self.maximum, count), persistent=False)
        self.width = self.maximum / (count - 1)

    def extra_repr(self) -> str:
        return f"count={self.size}, maximum={self.maximum}"

    def forward(self, pairs: ViewPairs, features: Tensor, vectors: Tensor) -> Tensor:
        # sqrt(d^2 + tiny): finite second derivatives at d = 0 (the centre, zeroed below)
        distance = torch.sqrt(pairs.relative.square().sum(-1, keepdim=True) + 1e-12)
        basis = torch.exp(-0.5 * ((distance - self.centres.to(distance.dtype)) / self.width) ** 2)
        return basis * (~pairs.is_self)[..., None].to(basis.dtype)
