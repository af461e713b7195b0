"""The backbone/head contract that lets any model run on any task.

A backbone maps a padded point cloud to per-point rotation-invariant features (and
optionally per-point covariant vectors); a head, chosen by the task, turns that into the
prediction. Backbones never see targets, heads never see raw features.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class BackboneOutput:
    invariants: Tensor  # (B, N, width), zero at padded points
    positions: Tensor  # (B, N, 3) positions relative to the cloud's origin (its centroid by default), zero when padded
    mask: Tensor  # (B, N) bool
    vectors: Tensor | None = None  # (B, N, 3) covariant vectors, if the backbone makes them
    # (B, N, V, 3) the batch's covariant input vectors (masked), passed through for heads that
    # use them (e.g. velocities in CovariantVectorHead) whether or not the backbone did
    input_vectors: Tensor | None = None


class Backbone(nn.Module):
    """Base class: subclasses set `self.width` and implement `encode`.

    `vectors` (B, N, V, 3) are optional per-point covariant inputs (rotate with the positions,
    unchanged by translations, e.g. velocities). Backbones with `uses_vectors = True` receive
    them as `encode(..., vectors=...)`; all others ignore them. Either way they are returned,
    masked, as `BackboneOutput.input_vectors` for the head.
    """

    width: int
    uses_vectors: bool = False
    # feature column whose values weight the origin (e.g. a crystal's is-centre flag): the
    # cloud is then seen from that point rather than from its centroid; None: the centroid
    origin_feature: int | None = None

    def forward(
        self, positions: Tensor, features: Tensor, mask: Tensor | None = None, vectors: Tensor | None = None
    ) -> BackboneOutput:
        if mask is None:
            mask = torch.ones(positions.shape[:2], dtype=torch.bool, device=positions.device)
        origin_weights = None
        if self.origin_feature is not None:
            origin_weights = features[..., self.origin_feature] * mask.to(features.dtype)
            if not bool((origin_weights.sum(1) > 0).all()):
                raise ValueError(
                    f"model.origin_feature={self.origin_feature}: every cloud needs a real point with a positive "
                    "value in that feature column (e.g. the crystal task's is-centre flag, with include_center=true)"
                )
        centred = center_positions(positions, mask, origin_weights)
        if vectors is not None:
            if vectors.dim() != 4 or vectors.shape[:2] != positions.shape[:2] or vectors.shape[-1] != positions.shape[-1]:
                raise ValueError(
                    f"vectors must have shape (B, N, V, {positions.shape[-1]}) matching positions "
                    f"{tuple(positions.shape)}, got {tuple(vectors.shape)}"
                )
            vectors = vectors * mask[..., None, None].to(vectors.dtype)
        if self.uses_vectors:
            out = self.encode(centred, features, mask, vectors=vectors)
        else:
            out = self.encode(centred, features, mask)
        out.input_vectors = vectors
        return out

    def encode(self, positions: Tensor, features: Tensor, mask: Tensor) -> BackboneOutput:
        raise NotImplementedError


def center_positions(positions: Tensor, mask: Tensor, origin_weights: Tensor | None = None) -> Tensor:
    """Subtract each cloud's origin (translation invariance): the centroid over real points, or
    the mean weighted by `origin_weights` (B, N) (zero at padded points) when given."""
    weights = mask.unsqueeze(-1).to(positions.dtype)
    origin_w = weights if origin_weights is None else origin_weights.unsqueeze(-1).to(positions.dtype)
    origin = (positions * origin_w).sum(1, keepdim=True) / origin_w.sum(1, keepdim=True).clamp_min(1e-12)
    return (positions - origin) * weights


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean over dim 1 of (B, N, D) using only real points."""
    weights = mask.unsqueeze(-1).to(x.dtype)
    return (x * weights).sum(1) / weights.sum(1).clamp_min(1)
