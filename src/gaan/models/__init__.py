"""Backbones (any model on any task) and the task heads that sit on them."""

from gaan.models.base import Backbone, BackboneOutput, center_positions, masked_mean
from gaan.models.deepsets import DeepSetsBackbone
from gaan.models.egnn import EGNNBackbone
from gaan.models.ga_attention import GAAttentionBackbone, GAMultivectorAttentionBackbone
from gaan.models.ga_covariant_state import GACovariantStateBackbone
from gaan.models.heads import ClassificationHead, CovariantVectorHead, LabeledVectorHead, ScalarHead
from gaan.models.transformer import TransformerBackbone

__all__ = [
    "Backbone",
    "BackboneOutput",
    "ClassificationHead",
    "CovariantVectorHead",
    "DeepSetsBackbone",
    "EGNNBackbone",
    "GAAttentionBackbone",
    "GACovariantStateBackbone",
    "GAMultivectorAttentionBackbone",
    "LabeledVectorHead",
    "ScalarHead",
    "TransformerBackbone",
    "center_positions",
    "masked_mean",
]
