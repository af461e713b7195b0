"""Geometric algebra attention backbones (vector and multivector variants)."""
from __future__ import annotations

from torch import Tensor, nn

from gaan.models.base import Backbone, BackboneOutput, mlp


class GAAttentionBackbone(Backbone):
    """Stack of residual `VectorAttention(reduce=False)` blocks over centred positions.

    Each block updates every point's invariant features from attention over tuples of
    points; a point-wise MLP follows. Output features are rotation-invariant.
    """

    def __init__(
        self,
        in_features: int,
        width: int = 32,
        depth: int = 2,
        rank: int = 2,
        invariant_mode: str = "single",
        covariant_mode: str = "partial",
        merge: str = "mean",
        join: str = "mean",
        heads: int = 1,
        normalize: bool = True,
    ):
        super().__init__()
        from gaan.nn import MomentumLayerNormalization, VectorAttention

        self.width = width
        self.embed = nn.Linear(in_features, width)
        self.attention = nn.ModuleList(
            VectorAttention(
                width,
                rank=rank,
                reduce=False,
                invariant_mode=invariant_mode,
                covariant_mode=covariant_mode,
                merge=merge,
                join=join,
                heads=heads,
            )
            for _ in range(depth)
        )
        self.mlps = nn.ModuleList(mlp(width, 2 * width, width) for _ in range(depth))
        # Scale-normalizing the geometry keeps attention logits in range for any unit system.
        self.norm = MomentumLayerNormalization() if normalize else None

    def encode(self, positions: Tensor, features: Tensor, mask: Tensor) -> BackboneOutput:
        weights = mask.unsqueeze(-1).to(features.dtype)
        r = self.norm(positions, mask=mask) * weights if self.norm is not None else positions
        h = self.embed(features) * weights
        for attention, point_mlp in zip(self.attention, self.mlps):
            h = (h + attention(r, h, mask=mask)) * weights
            h = (h + point_mlp(h)) * weights
        return BackboneOutput(invariants=h, positions=positions, mask=mask)


class GAMultivectorAttentionBackbone(Backbone):
    """Like `GAAttentionBackbone`, with positions lifted to 3D multivectors and
    `MultivectorAttention` blocks."""

    def __init__(
        self,
        in_features: int,
        width: int = 32,
        depth: int = 2,
        rank: int = 2,
        invariant_mode: str = "single",
        covariant_mode: str = "partial",
        merge: str = "mean",
        join: str = "mean",
        heads: int = 1,
        normalize: bool = True,
    ):
        super().__init__()
        from gaan.nn import MomentumLayerNormalization, MultivectorAttention, Vector2Multivector

        self.width = width
        self.embed = nn.Linear(in_features, width)
        self.lift = Vector2Multivector()
        self.attention = nn.ModuleList(
            MultivectorAttention(
                width,
                rank=rank,
                reduce=False,
                invariant_mode=invariant_mode,
                covariant_mode=covariant_mode,
                merge=merge,
                join=join,
                heads=heads,
            )
            for _ in range(depth)
        )
        self.mlps = nn.ModuleList(mlp(width, 2 * width, width) for _ in range(depth))
        self.norm = MomentumLayerNormalization() if normalize else None

    def encode(self, positions: Tensor, features: Tensor, mask: Tensor) -> BackboneOutput:
        weights = mask.unsqueeze(-1).to(features.dtype)
        r = self.norm(positions, mask=mask) * weights if self.norm is not None else positions
        r_mv = self.lift(r)
        h = self.embed(features) * weights
        for attention, point_mlp in zip(self.attention, self.mlps):
            h = (h + attention(r_mv, h, mask=mask)) * weights
            h = (h + point_mlp(h)) * weights
        return BackboneOutput(invariants=h, positions=positions, mask=mask)
