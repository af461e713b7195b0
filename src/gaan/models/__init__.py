"""Backbones (any model on any task) and the task heads that sit on them."""
from gaan.models.base import Backbone, BackboneOutput, center_positions, masked_mean
from gaan.models.deepsets import DeepSetsBackbone
from gaan.models.ga_attention import GAAttentionBackbone, GAMultivectorAttentionBackbone
from gaan.models.heads import ClassificationHead, CovariantVectorHead, LabeledVectorHead, ScalarHead

__all__ = [
    "Backbone",
    "BackboneOutput",
    "ClassificationHead",
    "CovariantVectorHead",
    "DeepSetsBackbone",
    "GAAttentionBackbone",
    "GAMultivectorAttentionBackbone",
    "LabeledVectorHead",
    "ScalarHead",
    "center_positions",
    "masked_mean",
]
