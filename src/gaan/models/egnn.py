"""EGNN baseline: E(n)-equivariant message passing (Satorras, Hoogeboom and Welling, 2021).

Written here so that it trains in the same harness, on the same data and budget as GA attention.
Every point exchanges messages with every other real point of its cloud (the cloud sizes of these
tasks are small); edge attributes come from the same pair-input modules as the GA backbone's
(`gaan.models.pair_inputs`, e.g. the N-body charge product q_i q_j).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gaan.models.base import Backbone, BackboneOutput
from gaan.models.pair_inputs import PairInput, checked_pair_inputs, pair_features, point_feature_columns
from gaan.models.views import LocalFrames
from gaan.nn import mlp


class EGNNLayer(nn.Module):
    """One E_GCL layer with velocity: messages m_ij = phi_e(h_i, h_j, |x_i - x_j|^2, a_ij);
    x_i += mean_j (x_i - x_j) phi_x(m_ij) [+ phi_v(h_i) v_i]; h_i += phi_h(h_i, sum_j m_ij)."""

    def __init__(self, width: int, edge_features: int, uses_vectors: bool):
        super().__init__()
        act = nn.SiLU
        self.edge = nn.Sequential(nn.Linear(2 * width + 1 + edge_features, width), act(), nn.Linear(width, width), act())
        self.node = mlp(2 * width, width, hidden=width)
        last = nn.Linear(width, 1, bias=False)
        nn.init.xavier_uniform_(last.weight, gain=0.001)  # as EGNN: coordinates move little at first
        self.coordinate = nn.Sequential(nn.Linear(width, width), act(), last)
        self.velocity = mlp(width, 1, hidden=width) if uses_vectors else None

    def forward(self, h: Tensor, x: Tensor, edges: Tensor | None, pair_mask: Tensor, vectors: Tensor | None):
        difference = x[:, :, None] - x[:, None]  # (B, N, N, 3): x_i - x_j
        radial = difference.square().sum(-1, keepdim=True)
        points = h.shape[1]
        parts = [h[:, :, None].expand(-1, -1, points, -1), h[:, None].expand(-1, points, -1, -1), radial]
        if edges is not None:
            parts.append(edges)
        weights = pair_mask[..., None].to(h.dtype)
        messages = self.edge(torch.cat(parts, -1)) * weights
        count = weights.sum(2).clamp_min(1)
        x = x + (difference * self.coordinate(messages) * weights).sum(2) / count
        if self.velocity is not None:
            x = x + self.velocity(h) * vectors
        h = h + self.node(torch.cat([h, messages.sum(2)], -1))
        return h, x


class EGNNBackbone(Backbone):
    """Stack of EGNN layers: invariant features and, with `coordinate_updates`, the total
    displacement of every point as `BackboneOutput.vectors` (covariant heads add it).

    :param in_features: input feature columns per point (those read by `pair_inputs` only are
        not embedded per point)
    :param width, depth: hidden width and number of layers (EGNN's N-body model: 64, 4)
    :param pair_inputs: edge attributes from `gaan.models.pair_inputs` modules
    :param vector_inputs: the first input vector channel (N-body velocity) moves the points, scaled
        by an invariant function of each point's features (EGNN's E_GCL_vel)
    :param coordinate_updates: return the displacement (EGNN's predicted positions minus inputs)
    """

    def __init__(
        self,
        in_features: int,
        width: int = 64,
        depth: int = 4,
        pair_inputs: Sequence[PairInput] = (),
        vector_inputs: bool = False,
        coordinate_updates: bool = True,
    ):
        super().__init__()
        self.width = width
        self.uses_vectors = bool(vector_inputs)
        self.coordinate_updates = bool(coordinate_updates)
        self.pairs = LocalFrames()
        self.pair_inputs = nn.ModuleList(checked_pair_inputs(pair_inputs, in_features, vector_inputs))
        self.point_feature_columns = point_feature_columns(self.pair_inputs, in_features)
        self.embed = nn.Linear(len(self.point_feature_columns), width)
        edge_features = sum(p.size for p in self.pair_inputs)
        self.layers = nn.ModuleList(EGNNLayer(width, edge_features, self.uses_vectors) for _ in range(depth))

    def encode(self, positions: Tensor, features: Tensor, mask: Tensor, vectors: Tensor | None = None) -> BackboneOutput:
        weights = mask[..., None].to(features.dtype)
        features = features * weights
        if self.uses_vectors and (vectors is None or vectors.shape[2] == 0):
            raise ValueError("model.vector_inputs=true but the batch has no vectors (e.g. task=nbody provides velocities)")
        pairs = self.pairs.pairs(positions, mask)
        pair_mask = pairs.mask & ~pairs.is_self
        edges = None
        if len(self.pair_inputs):
            edges = pair_features(self.pair_inputs, pairs, features, vectors)
        velocity = vectors[:, :, 0] if self.uses_vectors else None
        h = self.embed(features[..., self.point_feature_columns]) * weights
        x = positions
        for layer in self.layers:
            h, x = layer(h, x, edges, pair_mask, velocity)
            h, x = h * weights, x * weights
        displacement = (x - positions) if self.coordinate_updates else None
        return BackboneOutput(invariants=h, positions=positions, mask=mask, vectors=displacement)
