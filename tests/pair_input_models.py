"""A small N-body-like GA model with per-point views and pair inputs, for the pair-input tests."""

import torch

from gaan.models import CovariantVectorHead, GAAttentionBackbone
from gaan.models.views import LocalFrames


def build(pair_inputs, seed=0, backbone_class=GAAttentionBackbone, view=None, in_features=2):
    """Backbone (geometry updates, a hidden vector, velocities as inputs) and covariant head, in float64."""
    torch.manual_seed(seed)
    backbone = backbone_class(
        in_features=in_features,
        width=8,
        depth=2,
        attention={"rank": 2, "invariant_mode": "full", "merge": "concat"},
        view=LocalFrames() if view is None else view,
        pair_inputs=pair_inputs,
        vector_inputs=True,
        geometry_updates=True,
        vector_channels=1,
    )
    with torch.no_grad():
        backbone.update_gates.fill_(0.7)  # trained gates are non-zero; 0 would hide the moves
        backbone.hidden_gates.fill_(0.7)
    return backbone.double().eval(), CovariantVectorHead(width=8, num_vectors=1).double().eval()


def predict(model, positions, features, velocities, mask):
    backbone, head = model
    return head(backbone(positions, features, mask, vectors=velocities))


def dense_pairs(positions, mask):
    """The local-frame pairs of a cloud, as the backbone's views build them (no radius)."""
    return LocalFrames().pairs(positions, mask)
