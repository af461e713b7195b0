"""Pair attention that reads and writes covariant hidden vectors as well as invariant features.

Each point i carries invariant features h_i (F) and C covariant hidden vectors V_i (C, D). For
each pair (i, j) of i's view, with relative vector r = r_j - r_i, the layer takes the geometric
products r V_j, r V_i and V_i V_j (channel by channel) and reads rotation-invariant numbers off
them: the scalar parts (r . V_j, r . V_i, V_i . V_j) and the squared bivector norms
(|r ^ V_j|^2, |r ^ V_i|^2). Embedded with a small MLP beside the pair's own inputs (a radial
basis), they multiply the partner's features (a continuous filter), and attention over the
pairs reduces

    dh_i = sum_j a_ij x_ij,    dV_i = sum_j a_ij (g_ij V_j + q_ij r_ij),

with x_ij the filtered features and g_ij, q_ij invariant gates read off them: the hidden
vectors carry directions from block to block (PaiNN-, TorchMD-ET-like equivariant state) where
invariant-only blocks see the geometry afresh each time. Every product is parity-even (no
cross product), so the outputs are O(3)-invariant and -covariant.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gaan.algebra.tuples import algebra_for
from gaan.nn.aggregation import build_aggregation
from gaan.nn.mlp import mlp
from gaan.nn.validation import check_positive_int

# invariants per hidden-vector channel: r.V_j, |r^V_j|^2, r.V_i, |r^V_i|^2, V_i.V_j
INVARIANTS_PER_CHANNEL = 5


class CovariantStateAttention(nn.Module):
    """One block's pair attention over per-point views, with covariant hidden vectors.

    :param width: invariant features F per point
    :param channels: covariant hidden vectors C per point
    :param pair_size: size of the pairs' own invariant inputs (e.g. a radial basis)
    :param heads: attention heads; F and C are split evenly between them
    :param hidden: hidden units of the pair MLP (default `width`)
    :param aggregation: `gaan.nn.aggregation` name or module (`weighted_softmax` lets the view's
        envelope weights into the normalization, so partners leave smoothly)

    The space's dimension (2 or 3) is the inputs' last axis.
    """

    def __init__(
        self,
        width: int,
        channels: int,
        pair_size: int,
        heads: int = 1,
        hidden: int | None = None,
        aggregation: str | nn.Module = "weighted_softmax",
    ):
        super().__init__()
        check_positive_int("model.width", width)
        check_positive_int("model.channels", channels)
        check_positive_int("model.attention.heads", heads)
        check_positive_int("pair_size", pair_size, minimum=0)
        if width % heads or channels % heads:
            raise ValueError(f"model.width ({width}) and model.channels ({channels}) must be multiples of model.attention.heads ({heads})")
        self.width, self.channels, self.heads = width, channels, heads
        hidden = width if hidden is None else hidden
        self.pair_net = mlp(pair_size + INVARIANTS_PER_CHANNEL * channels, width, hidden=hidden)
        self.value = nn.Linear(width, width)
        self.score = nn.Linear(width, heads)
        self.aggregation = build_aggregation(aggregation)
        self.gates = nn.Linear(width, 2 * channels)

    def extra_repr(self) -> str:
        return f"width={self.width}, channels={self.channels}, heads={self.heads}"

    def invariants(self, relative: Tensor, centre_vectors: Tensor, partner_vectors: Tensor) -> Tensor:
        """(B, N, P, 5 C) invariants of the products r V_j, r V_i and V_i V_j."""
        vec_vec = algebra_for(relative.shape[-1]).vec_vec
        r = relative[..., None, :]  # (B, N, P, 1, D)
        centre = centre_vectors[:, :, None]  # (B, N, 1, C, D)
        r_partner = vec_vec(r, partner_vectors)  # even: (scalar, bivector...)
        r_centre = vec_vec(r, centre)
        centre_partner = vec_vec(centre, partner_vectors)
        parts = [
            r_partner[..., 0],
            r_partner[..., 1:].square().sum(-1),
            r_centre[..., 0].expand_as(r_partner[..., 0]),
            r_centre[..., 1:].square().sum(-1).expand_as(r_partner[..., 0]),
            centre_partner[..., 0],
        ]
        return torch.cat(parts, -1)

    def forward(
        self,
        relative: Tensor,
        partner_features: Tensor,
        centre_vectors: Tensor,
        partner_vectors: Tensor,
        pair_inputs: Tensor,
        mask: Tensor,
        weights: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """relative (B, N, P, D); partner_features (B, N, P, F); centre_vectors (B, N, C, D);
        partner_vectors (B, N, P, C, D); pair_inputs (B, N, P, E); mask (B, N, P); weights
        (B, N, P) or None. Returns dh (B, N, F) and dV (B, N, C, D)."""
        invariants = torch.cat([pair_inputs, self.invariants(relative, centre_vectors, partner_vectors)], -1)
        filtered = self.pair_net(invariants) * self.value(partner_features)  # (B, N, P, F)
        logits = self.score(filtered)  # (B, N, P, H)
        # masked pairs: a very negative logit and weight 0 (padding may hold anything)
        logits = torch.where(mask[..., None], logits, torch.full_like(logits, -1e4))
        pair_weights = mask.to(logits.dtype) if weights is None else torch.where(mask, weights, torch.zeros_like(weights))
        attention = self.aggregation(logits, pair_weights[..., None])  # (B, N, P, H)
        batch, points, partners = mask.shape
        heads = self.heads
        per_head = filtered.reshape(batch, points, partners, heads, self.width // heads)
        dh = (attention[..., None] * per_head).sum(2).reshape(batch, points, self.width)
        partner_gate, relative_gate = self.gates(filtered).chunk(2, -1)  # (B, N, P, C) each
        head_attention = attention.repeat_interleave(self.channels // heads, -1)  # (B, N, P, C)
        moved = partner_gate[..., None] * partner_vectors + relative_gate[..., None] * relative[..., None, :]
        dv = (head_attention[..., None] * moved).sum(2)
        return dh, dv
