"""A value network that first expands each invariant in a Gaussian basis.

A plain MLP of raw tuple invariants (|r_j|, |r_k|, r_j . r_k, |r_j ^ r_k|, ...) moves little over
the few hundredths of an Angstrom in which a bond's energy changes by an eV, so it learns sharp
features slowly; force fields expand distances in a radial basis for that reason (SchNet,
TorchMD-Net, NequIP). `gaussian_basis_network` does the same for every invariant of a tuple.
Use it as a layer's `value_net` factory, e.g. in a backbone config::

    attention:
      value_net: {_target_: gaan.nn.basis_network.gaussian_basis_network, _partial_: true, count: 16}
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .mlp import mlp


class GaussianBasis(nn.Module):
    """exp(-((x - mu_c) / w)**2 / 2) for `count` centres mu_c evenly spaced on [low, high], width w
    the spacing, for every input column: (..., F) -> (..., F * count)."""

    def __init__(self, count: int = 16, low: float = -4.0, high: float = 4.0):
        super().__init__()
        if isinstance(count, bool) or not isinstance(count, int) or count < 2:
            raise ValueError(f"GaussianBasis count must be an integer >= 2, got {count!r}")
        if not high > low:
            raise ValueError(f"GaussianBasis needs low < high, got low={low!r}, high={high!r}")
        self.count = count
        self.register_buffer("centres", torch.linspace(float(low), float(high), count), persistent=False)
        self.width = (float(high) - float(low)) / (count - 1)

    def extra_repr(self) -> str:
        return f"count={self.count}, low={float(self.centres[0])}, high={float(self.centres[-1])}"

    def forward(self, x: Tensor) -> Tensor:
        basis = torch.exp(-0.5 * ((x[..., None] - self.centres.to(x.dtype)) / self.width) ** 2)
        return basis.flatten(-2)


def gaussian_basis_network(
    in_features: int,
    out_features: int,
    count: int = 16,
    low: float = -4.0,
    high: float = 4.0,
    hidden: int | None = None,
    activation: str = "silu",
) -> nn.Sequential:
    """GaussianBasis of every input, then a two-layer MLP (`hidden` units, default 2 x out)."""
    return nn.Sequential(GaussianBasis(count, low, high), mlp(in_features * count, out_features, hidden or 2 * out_features, activation))
