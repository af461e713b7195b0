"""Learning-rate schedules built from the top-level `scheduler` config (Hydra partials)."""

from __future__ import annotations

import math

import torch


def warmup_cosine(optimizer: torch.optim.Optimizer, T_max: int, warmup_epochs: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over `warmup_epochs`, then cosine decay to zero at epoch `T_max`.

    With `warmup_epochs=0` this is torch's `CosineAnnealingLR(T_max)` (eta_min 0) in closed form.
    Warm-up epoch e (counted from 0) runs at (e + 1) / warmup_epochs of the base rate, so no epoch
    is wasted at rate zero; `T_max` keeps torch's name so the config reads the same either way.
    """
    if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max < 1:
        raise ValueError(f"scheduler.T_max must be a positive integer (epochs), got {T_max!r}")
    if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or not 0 <= warmup_epochs < T_max:
        raise ValueError(f"scheduler.warmup_epochs must be an integer in [0, T_max={T_max}), got {warmup_epochs!r}")

    def factor(epoch: int) -> float:
        if epoch < warmup_epochs:
            return (epoch + 1) / warmup_epochs
        progress = min(epoch - warmup_epochs, T_max - warmup_epochs) / (T_max - warmup_epochs)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
