"""Bounded scaling of a point's covariant hidden vectors.

Hidden vectors updated by residual sums (`gaan.models.GACovariantStateBackbone`) have no bound:
on a frame unlike the training frames they can grow past every value the pair networks were
fitted on, and the networks' quadratic invariants of them (|r ^ V|^2, V_i . V_j) extrapolate
without limit. On aspirin one seed's validation error rose to 45 eV/A on single frames while
its training error kept falling, with the hidden vectors at twice their training maximum
(docs/chemistry.md, issue 30, eighth round). Scaling by a smooth function of the vectors' own
norms keeps them bounded and covariant (TensorNet normalizes its tensor features likewise).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SoftVectorNorm(nn.Module):
    """V_c / sqrt(1 + mean_c |V_c|^2) over a point's C hidden vectors.

    Smooth, rotation- and reflection-covariant (the factor is invariant), the identity to first
    order for small vectors, and bounded: every |V_c| stays below sqrt(C). Zero vectors (padding,
    the initial state) stay zero.
    """

    def forward(self, vectors: Tensor) -> Tensor:
        """vectors (..., C, D) -> (..., C, D)."""
        mean_square = vectors.square().sum(-1).mean(-1)
        return vectors * torch.rsqrt(1 + mean_square)[..., None, None]
