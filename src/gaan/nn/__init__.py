"""Geometric algebra attention layers (PyTorch modules over :mod:`gaan.algebra`)."""

from .attention import GeometricAttention
from .conversion import Multivector2Vector, Vector2Multivector
from .covariant_state_attention import CovariantStateAttention
from .layers import (
    LabeledMultivectorAttention,
    LabeledVectorAttention,
    Multivector2MultivectorAttention,
    MultivectorAttention,
    TiedMultivectorAttention,
    TiedVectorAttention,
    Vector2VectorAttention,
    VectorAttention,
)
from .mlp import mlp
from .normalization import MomentumLayerNormalization, MomentumNormalization
from .vector_norm import SoftVectorNorm

__all__ = [
    "CovariantStateAttention",
    "GeometricAttention",
    "LabeledMultivectorAttention",
    "LabeledVectorAttention",
    "Multivector2MultivectorAttention",
    "MultivectorAttention",
    "TiedMultivectorAttention",
    "TiedVectorAttention",
    "Vector2VectorAttention",
    "VectorAttention",
    "Multivector2Vector",
    "Vector2Multivector",
    "MomentumLayerNormalization",
    "MomentumNormalization",
    "SoftVectorNorm",
    "mlp",
]
