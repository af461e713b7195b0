"""Smooth cutoff envelopes: weights in [0, 1] that fall from 1 at distance 0 to exactly 0 at
the cutoff, with vanishing derivatives there, so a neighbour crossing the cutoff enters or
leaves a view without a step in the energy (or, for `PolynomialCutoff`, in the forces).

Views (`gaan.models.views.SmoothNeighbourhoods`) give each pair its envelope as a per-point
weight; the layers weight a tuple by the geometric mean of its points' weights.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gaan.models.views import required_radius


class Envelope(nn.Module):
    """Base class: `forward(distance)` -> weights of the same shape, 0 at and beyond `cutoff`."""

    def __init__(self, cutoff: float):
        super().__init__()
        self.cutoff = required_radius("model.view.envelope.cutoff", cutoff)

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff}"


class CosineCutoff(Envelope):
    """(cos(pi d / cutoff) + 1) / 2 inside the cutoff (SchNet, TorchMD-Net): value and first
    derivative vanish at the cutoff."""

    def forward(self, distance: Tensor) -> Tensor:
        inside = distance < self.cutoff
        x = torch.where(inside, distance, torch.zeros_like(distance)) / self.cutoff
        return torch.where(inside, 0.5 * (torch.cos(math.pi * x) + 1.0), torch.zeros_like(distance))


class PolynomialCutoff(Envelope):
    """1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2), x = d / cutoff (DimeNet,
    NequIP): value, first and second derivatives vanish at the cutoff, so even its square root
    (a pair's weight in a rank-2 tuple with the centre) has a continuous derivative."""

    def __init__(self, cutoff: float, p: int = 6):
        super().__init__(cutoff)
        if isinstance(p, bool) or not isinstance(p, int) or p < 2:
            raise ValueError(f"model.view.envelope.p must be an integer >= 2, got {p!r}")
        self.p = p

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff}, p={self.p}"

    def forward(self, distance: Tensor) -> Tensor:
        p = self.p
        inside = distance < self.cutoff
        x = torch.where(inside, distance, torch.zeros_like(distance)) / self.cutoff
        value = 1.0 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
        # the sum cancels to ~1e-16 of either sign just inside the cutoff: never negative
        return torch.where(inside, value.clamp_min(0.0), torch.zeros_like(distance))


class Squared(Envelope):
    """The square of another envelope (same cutoff). A rank-2 tuple is weighted by the geometric
    mean of its points' weights, which for a tuple of the centre (weight 1) and one neighbour is
    the neighbour's weight's square root: for `PolynomialCutoff`, (1 - x)**1.5 near the cutoff,
    whose second derivative (the forces' slope) diverges there, a stiff spot for an MD
    integrator. Squared, the square root is the envelope itself: as smooth as it is."""

    def __init__(self, envelope: Envelope):
        if not isinstance(envelope, Envelope):
            raise ValueError(f"model.view.envelope.envelope must be a gaan.models.envelopes envelope, got {type(envelope).__name__}")
        super().__init__(envelope.cutoff)
        self.envelope = envelope

    def forward(self, distance: Tensor) -> Tensor:
        return self.envelope(distance).square()
