"""The batch type shared by every task: padded point clouds plus named targets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor


@dataclass
class PointCloudBatch:
    """A padded batch of point clouds.

    positions: (B, N, 3) float; padded rows are zero.
    features:  (B, N, F) float per-point input features.
    mask:      (B, N) bool, True for real points.
    targets:   name -> tensor; per-cloud targets are (B, ...), per-point targets (B, N, ...)
               and per-label targets (B, L, ...).
    labels:    optional (B, L) long ids of labeled query sites (backmapping tasks).
    label_mask: optional (B, L) bool, True for real labels.
    vectors:   optional (B, N, V, 3) float per-point covariant input vectors (e.g. N-body
               velocities): they rotate with the positions but do not translate; padded rows
               are zero. Backbones that cannot use them ignore them.
    """

    positions: Tensor
    features: Tensor
    mask: Tensor
    targets: dict[str, Tensor] = field(default_factory=dict)
    labels: Tensor | None = None
    label_mask: Tensor | None = None
    vectors: Tensor | None = None

    def __len__(self) -> int:
        return self.positions.shape[0]

    def to(self, *args: Any, **kwargs: Any) -> PointCloudBatch:
        """Like Tensor.to, but a dtype applies to float tensors only (masks stay bool,
        labels stay long)."""
        device = kwargs.get("device")
        for arg in args:
            if isinstance(arg, (str, torch.device)):
                device = arg

        def move(t: Tensor | None) -> Tensor | None:
            if t is None:
                return None
            return t.to(*args, **kwargs) if t.is_floating_point() else t.to(device=device)

        return PointCloudBatch(
            positions=move(self.positions),
            features=move(self.features),
            mask=move(self.mask),
            targets={k: move(v) for k, v in self.targets.items()},
            labels=move(self.labels),
            label_mask=move(self.label_mask),
            vectors=move(self.vectors),
        )


def _pad(tensors: Sequence[Tensor], length: int) -> Tensor:
    first = tensors[0]
    out = first.new_zeros((len(tensors), length, *first.shape[1:]))
    for i, t in enumerate(tensors):
        out[i, : t.shape[0]] = t
    return out


def collate_point_clouds(
    samples: Sequence[Mapping[str, Any]],
    per_point_targets: Sequence[str] = (),
    per_label_targets: Sequence[str] = (),
) -> PointCloudBatch:
    """Pad a list of samples into a `PointCloudBatch`.

    Each sample maps "positions" (n, 3), "features" (n, F), "targets" {name: tensor} and
    optionally "labels" (l,) and "vectors" (n, V, 3) (padded like the positions). Targets named in
    `per_point_targets` are padded to N like the
    positions, those in `per_label_targets` to L like the labels; other targets are stacked.
    """
    if not samples:
        raise ValueError("collate_point_clouds got an empty list of samples")
    sizes = [s["positions"].shape[0] for s in samples]
    n_max = max(sizes)
    mask = torch.zeros(len(samples), n_max, dtype=torch.bool)
    for i, n in enumerate(sizes):
        mask[i, :n] = True
    has_labels = samples[0].get("labels") is not None
    labels = label_mask = None
    if has_labels:
        label_sizes = [s["labels"].shape[0] for s in samples]
        l_max = max(label_sizes)
        labels = _pad([s["labels"] for s in samples], l_max)
        label_mask = torch.zeros(len(samples), l_max, dtype=torch.bool)
        for i, n in enumerate(label_sizes):
            label_mask[i, :n] = True
    has_vectors = samples[0].get("vectors") is not None
    if any((s.get("vectors") is not None) != has_vectors for s in samples):
        raise ValueError("collate_point_clouds: either every sample has 'vectors' or none does")
    vectors = _pad([s["vectors"] for s in samples], n_max) if has_vectors else None
    targets: dict[str, Tensor] = {}
    for name in samples[0].get("targets", {}):
        values = [s["targets"][name] for s in samples]
        if name in per_point_targets:
            targets[name] = _pad(values, n_max)
        elif name in per_label_targets:
            targets[name] = _pad(values, labels.shape[1])
        else:
            targets[name] = torch.stack([torch.as_tensor(v) for v in values])
    return PointCloudBatch(
        positions=_pad([s["positions"] for s in samples], n_max),
        features=_pad([s["features"] for s in samples], n_max),
        mask=mask,
        targets=targets,
        labels=labels,
        label_mask=label_mask,
        vectors=vectors,
    )
