"""The public attention layers: each chooses what goes in (vectors or multivectors), what comes
out (invariant features, covariant vectors or multivectors, or both with shared attention) and
whether labels query the cloud; :class:`gaan.nn.attention.GeometricAttention` computes."""

from torch import Tensor

from .attention import GeometricAttention


class VectorAttention(GeometricAttention):
    """Rotation-invariant features from vectors: (B, D) if ``reduce`` else (B, N, D)."""


class Vector2VectorAttention(GeometricAttention):
    """A rotation-covariant vector from vectors: (B, C) if ``reduce`` else (B, N, C)."""

    output_kind = "vector"
    default_covariant_mode = "partial"


class TiedVectorAttention(GeometricAttention):
    """Shared attention weights for both a covariant vector and invariant features.

    Returns ``(vectors, invariants)``.
    """

    output_kind = "tied"
    default_covariant_mode = "partial"


class MultivectorAttention(GeometricAttention):
    """Rotation-invariant features from multivectors (B, N, 8) (or (B, N, 4) in 2-D)."""

    input_kind = "multivector"


class Multivector2MultivectorAttention(GeometricAttention):
    """A rotation-covariant multivector from multivectors."""

    input_kind = "multivector"
    output_kind = "multivector"
    default_covariant_mode = "partial"


class TiedMultivectorAttention(GeometricAttention):
    """Shared attention for a covariant multivector and invariant features: ``(multivectors, invariants)``."""

    input_kind = "multivector"
    output_kind = "tied"
    default_covariant_mode = "partial"


class _LabeledMixin:
    labeled = True

    def forward(
        self,
        r: Tensor,
        v: Tensor,
        labels: Tensor,
        mask: Tensor | None = None,
        label_mask: Tensor | None = None,
        weights: Tensor | None = None,
    ):
        """labels (B, L, D) query the cloud: output (B, L, C) if ``reduce`` else (B, L, N, C)."""
        return self._call(r, v, mask, weights, labels, label_mask)


class LabeledVectorAttention(_LabeledMixin, GeometricAttention):
    """One covariant vector per label: translates a point cloud into a labelled one."""

    output_kind = "vector"
    default_covariant_mode = "partial"


class LabeledMultivectorAttention(_LabeledMixin, GeometricAttention):
    """One covariant multivector per label."""

    input_kind = "multivector"
    output_kind = "multivector"
    default_covariant_mode = "partial"
