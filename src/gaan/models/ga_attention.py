"""Geometric algebra attention backbones (vector and multivector variants), as a composition.

A backbone is a stack of `depth` residual blocks; what each block attends over is set by a view
builder (`gaan.models.views`: the whole cloud, each point's local frame, or its k nearest
neighbours), what it knows about each pair of a per-point view by a list of pair-input modules
(`gaan.models.pair_inputs`), and how it attends by the layer options in `attention`. A new kind of
input is a new pair-input module and a config entry, not a new backbone option.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from gaan.models.base import Backbone, BackboneOutput
from gaan.models.geometry import soft_clip
from gaan.models.pair_inputs import PairInput, checked_pair_inputs, pair_features, point_feature_columns
from gaan.models.views import View, ViewBuilder, WholeCloud
from gaan.nn import (
    MomentumLayerNormalization,
    Multivector2Vector,
    MultivectorAttention,
    TiedMultivectorAttention,
    TiedVectorAttention,
    Vector2Multivector,
    VectorAttention,
    mlp,
)
from gaan.nn.validation import check_positive_int

# layer options the backbone sets itself, per block
BACKBONE_LAYER_OPTIONS = ("reduce", "covariant_channels", "return_attention", "dim")


class GAAttentionBackbone(Backbone):
    """Stack of residual GA attention blocks over centred positions: rotation-invariant features.

    Each block updates every point's invariant features from attention over tuples of its view,
    then a point-wise MLP follows.

    :param in_features: input feature columns per point
    :param width, depth: feature width and number of blocks
    :param attention: options of every block's layer (`gaan.nn.VectorAttention`): rank (default
        2; or a list, one rank per block, e.g. [2, 1, 1]: angles in the first block, pairs'
        cheaper tuples after it), invariant_mode, covariant_mode, merge, join, heads, parity, ...
    :param view: a `gaan.models.views.ViewBuilder` (default `WholeCloud()`)
    :param pair_inputs: `gaan.models.pair_inputs.PairInput` modules (per-point views only); each
        block embeds their features with its own linear map and adds them to the partners'
    :param vector_inputs: the batch's per-point covariant vectors (B, N, V, 3) (e.g. N-body
        velocities) join the attention set as V extra entries per point, each carrying its owner's
        features plus a learned flag, so tuples such as (position_j, velocity_i) give r_j . v_i
    :param geometry_updates: every block is a tied layer that also moves the points,
        r_i <- r_i + g_b * soft_clip(c_i) with a learned gate g_b that starts at 0 (EGNN-like
        coordinate updates); the total displacement, in input units, is returned as
        `BackboneOutput.vectors` (covariant heads add it)
    :param vector_channels: K hidden covariant vectors per point (needs geometry_updates), zero
        at the start, updated by the tied layers' extra covariant channels through their own gates
        and joining the attention set like input vectors
    :param dropout: drops invariant channels of each block's two residual updates while training
        (covariant moves never: the output stays exactly covariant for any drop mask)
    :param normalize: divide positions (and input vectors) by a running mean norm, so attention
        logits stay in range for any unit system
    """

    layer_class = VectorAttention
    tied_layer_class = TiedVectorAttention

    def __init__(
        self,
        in_features: int,
        width: int = 32,
        depth: int = 2,
        attention: Mapping | None = None,
        view: ViewBuilder | None = None,
        pair_inputs: Sequence[PairInput] = (),
        vector_inputs: bool = False,
        geometry_updates: bool = False,
        vector_channels: int = 0,
        dropout: float = 0.0,
        normalize: bool = True,
    ):
        super().__init__()
        check_positive_int("model.vector_channels", vector_channels, minimum=0)
        if vector_channels and not geometry_updates:
            raise ValueError("model.vector_channels > 0 needs model.geometry_updates=true (tied layers update the hidden vectors)")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {dropout!r}")
        self.width, self.depth = width, depth
        self.view = WholeCloud() if view is None else view
        self.pair_inputs = nn.ModuleList(self._check_pair_inputs(pair_inputs, in_features, vector_inputs))
        self.uses_vectors = bool(vector_inputs)
        self.geometry_updates = bool(geometry_updates)
        self.vector_channels = vector_channels
        self.dropout = nn.Dropout(dropout)

        self.point_feature_columns = point_feature_columns(self.pair_inputs, in_features)
        self.embed = nn.Linear(len(self.point_feature_columns), width)
        pair_size = sum(p.size for p in self.pair_inputs)
        if pair_size:
            self.pair_embeds = nn.ModuleList(nn.Linear(pair_size, width, bias=False) for _ in range(depth))
        self.attention = nn.ModuleList(self._layer(width, attention, block) for block in range(depth))
        self.mlps = nn.ModuleList(mlp(width, width, hidden=2 * width) for _ in range(depth))
        self.norm = MomentumLayerNormalization() if normalize else None
        if self.uses_vectors:
            # input vectors have their own units (velocities vs positions): own scale
            self.vector_norm = MomentumLayerNormalization() if normalize else None
            self.vector_flag = nn.Parameter(torch.randn(width) / width**0.5)
        if self.geometry_updates:
            self.update_gates = nn.Parameter(torch.zeros(depth))
        if self.vector_channels:
            self.hidden_flags = nn.Parameter(torch.randn(self.vector_channels, width) / width**0.5)
            self.hidden_gates = nn.Parameter(torch.zeros(depth - 1, self.vector_channels))

    def _layer(self, width: int, options: Mapping | None, block: int) -> nn.Module:
        options = dict(options or {})
        fixed = sorted(set(options) & set(BACKBONE_LAYER_OPTIONS))
        if fixed:
            raise ValueError(
                f"model.attention.{fixed[0]} is set by the backbone (by model.view / model.geometry_updates), not in model.attention"
            )
        options["rank"] = self._block_rank(options.get("rank", 2), block)
        if not self.geometry_updates:
            return self.layer_class(width, reduce=self.view.per_point, **options)
        # the last block's hidden updates would reach nothing (and be unused parameters under DDP)
        channels = 1 + self.vector_channels * (block < self.depth - 1)
        return self.tied_layer_class(width, reduce=self.view.per_point, covariant_channels=channels, **options)

    def _block_rank(self, rank, block: int) -> int:
        """The tuple rank of one block: `rank` itself, or its entry for the block in a per-block list."""
        if isinstance(rank, Sequence) and not isinstance(rank, str):
            ranks = list(rank)
            if len(ranks) != self.depth:
                raise ValueError(f"model.attention.rank lists one rank per block: {len(ranks)} entries for model.depth={self.depth}")
            rank = ranks[block]
        return rank

    def _check_pair_inputs(self, pair_inputs, in_features: int, vector_inputs: bool) -> list[PairInput]:
        if pair_inputs and not self.view.per_point:
            raise ValueError("model.pair_inputs need per-point views: set model.view to LocalFrames or Neighbourhoods (gaan.models.views)")
        return checked_pair_inputs(pair_inputs, in_features, vector_inputs)

    def lift(self, r: Tensor) -> Tensor:
        """The geometry in the form the attention layers take (vectors here)."""
        return r

    def unlift(self, r: Tensor) -> Tensor:
        """Vectors (B, N, 3) back from the form the attention layers take."""
        return r

    def encode(self, positions: Tensor, features: Tensor, mask: Tensor, vectors: Tensor | None = None) -> BackboneOutput:
        weights = mask.unsqueeze(-1).to(features.dtype)
        raw_features = features * weights
        r = self.norm(positions, mask=mask) * weights if self.norm is not None else positions
        h = self.embed(features[..., self.point_feature_columns]) * weights
        v = self.lift(self._input_vectors(positions, mask, vectors))
        r = self.lift(r)
        batch, points = positions.shape[:2]
        # hidden covariant vectors, updated by the blocks like the positions
        u = r.new_zeros(batch, points, self.vector_channels, r.shape[-1])
        # per-point extra entries of the attention set (input, then hidden vectors), point-major
        extras = v.shape[2] + self.vector_channels
        extra_mask = mask[:, :, None].expand(batch, points, extras).reshape(batch, points * extras)
        full_mask = torch.cat([mask, extra_mask], 1)
        extra_weights = extra_mask[..., None].to(h.dtype)
        flags = self._extra_flags(v.shape[2])
        start = r
        for block, (attention, point_mlp) in enumerate(zip(self.attention, self.mlps)):
            r_all, h_all = r, h
            if extras:
                # extra entries carry their owner's current state, flagged by kind
                owner = h[:, :, None, :] + flags
                h_all = torch.cat([h, owner.reshape(batch, points * extras, self.width) * extra_weights], 1)
                r_all = torch.cat([r, torch.cat([v, u], 2).reshape(batch, points * extras, -1)], 1)
            view = self._with_pair_inputs(self.view(r_all, h_all, full_mask, points), block, raw_features, v)
            out = attention(view.vectors, view.features, view.mask, view.weights)
            if self.geometry_updates:
                moves, out = out
                moves = moves[:, :points]
                if moves.dim() == 4:  # (B, N, 1 + K, C): the position's move, then the hidden vectors'
                    moves, hidden_moves = moves[:, :, 0], moves[:, :, 1:]
                    u = u + self.hidden_gates[block][:, None] * soft_clip(hidden_moves) * weights[..., None]
                # only the points move (input vectors stay as given), by at most one running mean
                # point norm: far outside the training range a block's covariant output grows
                # like |r|**2 and would throw points away
                r = r + self.update_gates[block] * soft_clip(moves) * weights
            h = (h + self.dropout(out[:, :points])) * weights
            h = (h + self.dropout(point_mlp(h))) * weights
        displacement = None
        if self.geometry_updates:
            displacement = self.unlift(r - start)
            if self.norm is not None:
                displacement = displacement * self.norm.norm.to(displacement.dtype)  # back to input units
        return BackboneOutput(invariants=h, positions=positions, mask=mask, vectors=displacement)

    def _input_vectors(self, positions: Tensor, mask: Tensor, vectors: Tensor | None) -> Tensor:
        """The batch's input vectors (B, N, V, C), scale-normalized; none (V = 0) if unused."""
        batch, points = positions.shape[:2]
        if not self.uses_vectors:
            return positions.new_zeros(batch, points, 0, positions.shape[-1])
        if vectors is None:
            raise ValueError(
                "model.vector_inputs=true but the batch has no vectors (the task's datamodule "
                "must provide per-point 'vectors', e.g. task=nbody)"
            )
        if self.vector_norm is None or vectors.shape[2] == 0:
            return vectors
        return self.vector_norm(vectors, mask=mask[:, :, None].expand(batch, points, vectors.shape[2]))

    def _extra_flags(self, input_vectors: int) -> Tensor | None:
        """Learned flags (extras, width) telling input vectors and hidden vectors apart."""
        flags = []
        if input_vectors:
            flags.append(self.vector_flag.expand(input_vectors, self.width))
        if self.vector_channels:
            flags.append(self.hidden_flags)
        return torch.cat(flags, 0) if flags else None

    def _with_pair_inputs(self, view: View, block: int, features: Tensor, vectors: Tensor) -> View:
        """Add each block's embedding of the pair inputs to the partners' features in every view."""
        if not len(self.pair_inputs):
            return view
        pair_terms = self.pair_embeds[block](pair_features(self.pair_inputs, view.pairs, features, vectors))
        partners = pair_terms.shape[2]
        view.features = torch.cat([view.features[:, :, :partners] + pair_terms, view.features[:, :, partners:]], 2)
        return view


class GAMultivectorAttentionBackbone(GAAttentionBackbone):
    """Like `GAAttentionBackbone`, with positions (and input vectors) lifted to multivectors and
    `MultivectorAttention` blocks."""

    layer_class = MultivectorAttention
    tied_layer_class = TiedMultivectorAttention

    def lift(self, r: Tensor) -> Tensor:
        return Vector2Multivector()(r)

    def unlift(self, r: Tensor) -> Tensor:
        return Multivector2Vector()(r)
