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
    positions: Tensor  # (B, N, 3) positions relative to the cloud centroid, zero when padded
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

    def forward(self, positions: Tensor, features: Tensor, mask: Tensor | None = None, vectors: Tensor | None = None) -> BackboneOutput:
        if mask is None:
            mask = torch.ones(positions.shape[:2], dtype=torch.bool, device=positions.device)
        # padding may hold anything, NaN included: zero it before the centroid or any view mixes
        # it into real points (NaN * 0 is NaN, so masking by multiplication is not enough)
        positions = torch.where(mask[..., None], positions, torch.zeros_like(positions))
        features = torch.where(mask[..., None], features, torch.zeros_like(features))
        centred = center_positions(positions, mask)
        if vectors is not None:
            if vectors.dim() != 4 or vectors.shape[:2] != positions.shape[:2] or vectors.shape[-1] != positions.shape[-1]:
                raise ValueError(
                    f"vectors must have shape (B, N, V, {positions.shape[-1]}) matching positions "
                    f"{tuple(positions.shape)}, got {tuple(vectors.shape)}"
                )
            vectors = torch.where(mask[..., None, None], vectors, torch.zeros_like(vectors))
        if self.uses_vectors:
            out = self.encode(centred, features, mask, vectors=vectors)
        else:
            out = self.encode(centred, features, mask)
        out.input_vectors = vectors
        return out

    def encode(self, positions: Tensor, features: Tensor, mask: Tensor) -> BackboneOutput:
        raise NotImplementedError


def center_positions(positions: Tensor, mask: Tensor) -> Tensor:
    """Subtract each cloud's centroid over real points (translation invariance)."""
    weights = mask.unsqueeze(-1).to(positions.dtype)
    centroid = (positions * weights).sum(1, keepdim=True) / weights.sum(1, keepdim=True).clamp_min(1)
    return (positions - centroid) * weights


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean over dim 1 of (B, N, D) using only real points."""
    weights = mask.unsqueeze(-1).to(x.dtype)
    return (x * weights).sum(1) / weights.sum(1).clamp_min(1)
