"""How each force component's error enters the md17 loss (`task.module.force_error`).

The loss is force_weight x the mean of `force_error(predicted - true)` over real atoms' force
components. `SquaredError` (the default) makes that the force-component MSE. `HuberError` keeps the
square for errors up to `delta` and grows linearly beyond, with the same value and slope at
`delta`: each component's gradient is bounded, so the few frames a model fits worst steer it no
more than the many it fits well, which is what the reported force MAE scores (MACE trains with
a Huber loss for the same reason).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SquaredError(nn.Module):
    """e^2 for every component."""

    def forward(self, error: Tensor) -> Tensor:
        return error.square()


class HuberError(nn.Module):
    """e^2 for |e| <= delta, 2 delta |e| - delta^2 beyond (the square's value and slope at delta).

    :param delta: where the square turns linear, in the data's force unit (eV/A for md17)
    """

    def __init__(self, delta: float = 0.01):
        super().__init__()
        if not delta > 0:
            raise ValueError(f"task.module.force_error.delta must be > 0 (a force in the data's unit), got {delta!r}")
        self.delta = float(delta)

    def extra_repr(self) -> str:
        return f"delta={self.delta}"

    def forward(self, error: Tensor) -> Tensor:
        magnitude = error.abs()
        return torch.where(magnitude <= self.delta, error.square(), 2 * self.delta * magnitude - self.delta**2)
