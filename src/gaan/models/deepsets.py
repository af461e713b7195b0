"""DeepSets baseline: per-point MLP on (|r|, features) plus a pooled context. Invariant,
cheap, no geometry beyond distances to the centroid: a floor for GA attention to beat."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gaan.models.base import Backbone, BackboneOutput, masked_mean
from gaan.nn.mlp import mlp


class DeepSetsBackbone(Backbone):
    def __init__(self, in_features: int, width: int = 32, depth: int = 2):
        super().__init__()
        self.width = width
        self.embed = mlp(in_features + 1, width, hidden=width)
        self.blocks = nn.ModuleList(mlp(2 * width, width, hidden=width) for _ in range(depth))

    def encode(self, positions: Tensor, features: Tensor, mask: Tensor) -> BackboneOutput:
        weights = mask.unsqueeze(-1).to(features.dtype)
        # eps keeps the gradient finite for a point at the centroid (forces via autograd)
        norms = (positions.square().sum(-1, keepdim=True) + 1e-12).sqrt()
        h = self.embed(torch.cat((norms, features), dim=-1)) * weights
        for block in self.blocks:
            context = masked_mean(h, mask).unsqueeze(1).expand_as(h)
            h = (h + block(torch.cat((h, context), dim=-1))) * weights
        return BackboneOutput(invariants=h, positions=positions, mask=mask)
