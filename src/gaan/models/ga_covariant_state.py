"""GA attention with covariant hidden state: every point carries hidden vectors from block to block.

The GA attention backbone (`gaan.models.ga_attention`) passes only invariant features between
its blocks, so each block sees the geometry afresh through its tuples. Here every point also
carries C covariant hidden vectors, zero at the start; each block (`gaan.nn.CovariantStateAttention`)
reads invariants off the geometric products of the pair vector and both points' hidden vectors,
and writes new hidden vectors as attention-weighted sums of the partners' vectors and the pair
vectors, so directions found in one block are seen by the next (issue 30: what equivariant
potentials such as TensorNet, PaiNN and TorchMD-ET carry between layers). Views and pair
inputs are the GA backbone's own (`gaan.models.views`, `gaan.models.pair_inputs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from gaan.models.base import Backbone, BackboneOutput
from gaan.models.pair_inputs import PairInput, checked_pair_inputs, pair_features, point_feature_columns
from gaan.models.views import LocalFrames, ViewBuilder, ViewPairs
from gaan.nn.covariant_state_attention import CovariantStateAttention
from gaan.nn.mlp import mlp
from gaan.nn.validation import check_positive_int

LAYER_OPTIONS = ("heads", "hidden", "aggregation")


class GACovariantStateBackbone(Backbone):
    """Residual blocks of pair attention with covariant hidden vectors: invariant features out.

    Each block: attention over the pairs of every point's view updates h and V; then a point-wise
    update mixes the hidden vectors' channels (U V, W V, both linear in V, so covariant) and
    couples them to the features through their channel-wise dot products (U V) . (W V):
    h += MLP(h, (U V).(W V)); V += gate(h, ...) U V; then, with a `vector_norm`, V = vector_norm(V).

    :param in_features: input feature columns per point
    :param width, depth: invariant feature width and number of blocks
    :param channels: covariant hidden vectors per point
    :param attention: layer options: heads, hidden (the pair MLP's hidden units), aggregation
    :param view: a per-point `gaan.models.views` builder (default `LocalFrames()`: every point)
    :param pair_inputs: `gaan.models.pair_inputs` modules (e.g. a radial basis)
    :param vector_norm: a module applied to every point's hidden vectors (..., C, D) after each
        block, e.g. `gaan.nn.SoftVectorNorm` (bounded hidden vectors); None: left as they are
    """

    def __init__(
        self,
        in_features: int,
        width: int = 64,
        depth: int = 3,
        channels: int = 16,
        attention: Mapping | None = None,
        view: ViewBuilder | None = None,
        pair_inputs: Sequence[PairInput] = (),
        vector_norm: nn.Module | None = None,
    ):
        super().__init__()
        check_positive_int("model.depth", depth)
        check_positive_int("model.channels", channels)
        self.view = LocalFrames() if view is None else view
        if not hasattr(self.view, "pairs") or not self.view.per_point:
            raise ValueError("model.view must be a per-point view (gaan.models.views: LocalFrames, ScaledLocalFrames, NearestSmooth, ...)")
        options = dict(attention or {})
        unknown = sorted(set(options) - set(LAYER_OPTIONS))
        if unknown:
            raise ValueError(f"model.attention.{unknown[0]} is not an option of this backbone (options: {', '.join(LAYER_OPTIONS)})")
        self.width, self.depth, self.channels = width, depth, channels
        self.pair_inputs = nn.ModuleList(checked_pair_inputs(pair_inputs, in_features, False))
        self.point_feature_columns = point_feature_columns(self.pair_inputs, in_features)
        self.embed = nn.Linear(len(self.point_feature_columns), width)
        pair_size = sum(p.size for p in self.pair_inputs)
        self.blocks = nn.ModuleList(CovariantStateAttention(width, channels, pair_size, **options) for _ in range(depth))
        self.mixes = nn.ModuleList(nn.Linear(channels, 2 * channels, bias=False) for _ in range(depth))
        self.updates = nn.ModuleList(mlp(width + channels, width + channels, hidden=2 * width) for _ in range(depth))
        if vector_norm is not None and not isinstance(vector_norm, nn.Module):
            raise ValueError(f"model.vector_norm must be a module (e.g. {{_target_: gaan.nn.SoftVectorNorm}}) or null, got {vector_norm!r}")
        self.vector_norm = vector_norm

    def encode(self, positions: Tensor, features: Tensor, mask: Tensor) -> BackboneOutput:
        weights = mask[..., None].to(features.dtype)
        features = features * weights
        pairs = self.view.pairs(positions, mask)
        partner_mask = pairs.mask.expand(*positions.shape[:2], -1)
        pair_weights = None if pairs.weight is None else pairs.weight.expand_as(partner_mask)
        relative = pairs.relative.expand(*partner_mask.shape, -1)
        pair_inputs = (
            pair_features(self.pair_inputs, pairs, features, positions.new_zeros(*positions.shape[:2], 0, positions.shape[-1]))
            if len(self.pair_inputs)
            else relative.new_zeros(*partner_mask.shape, 0)
        )
        batch, points, dim = positions.shape
        h = self.embed(features[..., self.point_feature_columns]) * weights
        v = positions.new_zeros(batch, points, self.channels, dim)
        for block, mix, update in zip(self.blocks, self.mixes, self.updates):
            dh, dv = block(
                relative, _partners(pairs, h, partner_mask), v, _partners(pairs, v, partner_mask), pair_inputs, partner_mask, pair_weights
            )
            h = (h + dh) * weights
            v = (v + dv) * weights[..., None]
            mixed, keyed = mix(v.transpose(-1, -2)).transpose(-1, -2).chunk(2, -2)  # (B, N, C, D) each
            out = update(torch.cat([h, (mixed * keyed).sum(-1)], -1))
            h = (h + out[..., : self.width]) * weights
            v = (v + out[..., self.width :, None] * mixed) * weights[..., None]
            if self.vector_norm is not None:
                v = self.vector_norm(v)
        return BackboneOutput(invariants=h, positions=positions, mask=mask)


def _partners(pairs: ViewPairs, x: Tensor, partner_mask: Tensor) -> Tensor:
    """Per-point x (B, N, ...) at every pair's partner: (B, N, P, ...)."""
    return pairs.partner(x).expand(*partner_mask.shape, *x.shape[2:])
