"""Bessel radial basis of each pair's distance (DimeNet, NequIP): sqrt(2 / c) sin(n pi d / c) / d."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gaan.models.pair_inputs.base import PairInput
from gaan.models.views import ViewPairs, required_radius
from gaan.nn.validation import check_positive_int


class BesselBasis(PairInput):
    """sqrt(2 / c) sin(n pi d / c) / d for n = 1 .. `count` (c = `cutoff`, input units of the
    backbone: A when `model.normalize` is false), 0 beyond the cutoff and for the centre itself.

    Each function is 0 at the cutoff, and the longest wavelength is the cutoff itself (the
    shortest 2c / count): a smoother expansion than `RadialBasis`'s narrow Gaussians, whose
    curvature a potential inherits. Its derivative does not vanish at the cutoff: use it with
    an enveloped view (`gaan.models.views.SmoothNeighbourhoods`, `NearestSmooth`), whose weight
    takes every pair smoothly out at or before that distance.
    """

    def __init__(self, count: int = 8, cutoff: float = 4.0):
        super().__init__()
        check_positive_int("model.pair_inputs: BesselBasis count", count)
        self.cutoff = required_radius("model.pair_inputs: BesselBasis cutoff", cutoff)
        self.size = count
        self.register_buffer("frequencies", torch.arange(1, count + 1) * math.pi / self.cutoff, persistent=False)

    def extra_repr(self) -> str:
        return f"count={self.size}, cutoff={self.cutoff}"

    def forward(self, pairs: ViewPairs, features: Tensor, vectors: Tensor) -> Tensor:
        squared = pairs.relative.square().sum(-1, keepdim=True)
        inside = (squared < self.cutoff**2) & ~pairs.is_self[..., None]
        # sqrt(d^2 + tiny) keeps second derivatives finite at d = 0; sin(w d) / d -> w there
        distance = torch.sqrt(torch.where(inside, squared, torch.ones_like(squared)) + 1e-12)
        values = math.sqrt(2.0 / self.cutoff) * torch.sin(self.frequencies.to(distance.dtype) * distance) / distance
        return torch.where(inside, values, torch.zeros_like(values))
