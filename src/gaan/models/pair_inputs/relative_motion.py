"""Invariants of a pair's relative motion: how the two points approach and orbit."""

from __future__ import annotations

import torch
from torch import Tensor

from gaan.models.pair_inputs.base import PairInput, distinct_indices
from gaan.models.views import ViewPairs

# x / sqrt(x + eps) is sqrt(x) to ~eps / x but, unlike sqrt, has a finite gradient at 0
WEDGE_EPS = 1e-12


class RelativeMotion(PairInput):
    """For each input vector channel c, with r = r_k - r_i (as in the view) and w = v_k[c] - v_i[c]
    (normalized units): r . w (approach or recession), |r ^ w| (the pair's angular momentum,
    sqrt(|r|**2 |w|**2 - (r . w)**2), any dimension) and |w|**2. Zero on the diagonal and for
    pairs with a padded point.

    A point's view holds its own input vectors only, so without these the orbit of a close pair
    (which decides the N-body error) is seen only through the partner's features and moves.
    """

    uses_vectors = True

    def __init__(self, channels):
        super().__init__()
        self.channels = distinct_indices("model.pair_inputs: RelativeMotion channels", channels)
        self.size = 3 * len(self.channels)

    def extra_repr(self) -> str:
        return f"channels={list(self.channels)}"

    def forward(self, pairs: ViewPairs, features: Tensor, vectors: Tensor) -> Tensor:
        if max(self.channels) >= vectors.shape[2]:
            raise ValueError(
                f"model.pair_inputs: RelativeMotion channels={list(self.channels)}: the batch has only "
                f"{vectors.shape[2]} input vector channel(s) per point"
            )
        selected = vectors[:, :, list(self.channels)]
        w = pairs.partner(selected) - pairs.centre(selected)  # (B, N, P, V, C): k's minus i's
        r = pairs.relative[:, :, :, None, :]
        dot = (r * w).sum(-1)
        speed2 = w.square().sum(-1)
        wedge2 = (r.square().sum(-1) * speed2 - dot.square()).clamp_min(0)  # Lagrange's identity
        wedge = wedge2 * torch.rsqrt(wedge2 + WEDGE_EPS)
        pair_mask = pairs.mask.to(dot.dtype)[..., None]
        return torch.cat([dot, wedge, speed2], -1) * pair_mask
