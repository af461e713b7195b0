"""The protein backmapping task: every heavy atom of residue i from its bead environment.

Builds on `LabeledVectorTask` (one covariant vector per labeled site). Differences:
- the environment is already expressed relative to bead i, so the backbone sees it in that
  frame (no re-centring on the centroid): the head's covariant vectors are then combinations of
  the neighbour vectors r_j - r_i, which is how the backbone geometry is set by the chain;
- positions are divided by `length_scale` (Angstrom) before the network and the predicted
  vectors multiplied by it, so the head's products of vectors stay of order one;
- chemically equivalent atom pairs (ASP OD1/OD2, GLU OE1/OE2, PHE/TYR CD1/CD2 + CE1/CE2, ARG
  NH1/NH2) are scored with the better of the two assignments, in the loss and the metrics;
- metrics: heavy-atom RMSD over all atoms, backbone (N, CA, C, O), side chain, and per residue
  type (`<split>/rmsd_<RES>`), in Angstrom.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection

from gaan.data.batch import PointCloudBatch
from gaan.data.protein import STANDARD_RESIDUES
from gaan.data.protein.residues import LABEL_IS_BACKBONE, LABEL_PARTNER_POSITION, LABEL_RESIDUE
from gaan.tasks.kinds import LabeledVectorTask
from gaan.tasks.protein_metrics import best_assignment_targets


class RootMeanSquare(Metric):
    """sqrt of the mean of squared distances, optionally per group (a vector of `groups`)."""

    full_state_update = False

    def __init__(self, groups: int = 1):
        super().__init__()
        self.groups = groups
        self.add_state("total", torch.zeros(groups, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros(groups, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, squared: Tensor, group: Tensor | None = None) -> None:
        group = torch.zeros_like(squared, dtype=torch.long) if group is None else group
        self.total.index_add_(0, group, squared.to(torch.float64))
        self.count.index_add_(0, group, torch.ones_like(squared, dtype=torch.float64))

    def compute(self) -> Tensor:
        value = (self.total / self.count.clamp_min(1)).sqrt()
        value = torch.where(self.count > 0, value, torch.full_like(value, float("nan")))
        return value[0] if self.groups == 1 else value


class BackmappingTask(LabeledVectorTask):
    best_metric, best_mode = "rmsd", "min"

    def __init__(self, *args, target_key: str = "atoms", length_scale: float = 5.0, **kwargs):
        if not length_scale > 0:
            raise ValueError(f"task.module.length_scale must be > 0 (Angstrom), got {length_scale!r}")
        self.length_scale = float(length_scale)
        super().__init__(*args, target_key=target_key, **kwargs)
        self.register_buffer("label_residue", torch.as_tensor(LABEL_RESIDUE), persistent=False)
        self.register_buffer("label_is_backbone", torch.as_tensor(LABEL_IS_BACKBONE), persistent=False)
        self.register_buffer("label_partner", torch.as_tensor(LABEL_PARTNER_POSITION), persistent=False)

    def make_metrics(self) -> MetricCollection:
        return MetricCollection(
            {
                "rmsd": RootMeanSquare(),
                "rmsd_backbone": RootMeanSquare(),
                "rmsd_sidechain": RootMeanSquare(),
                "rmsd_per_residue": RootMeanSquare(len(STANDARD_RESIDUES)),
            },
            compute_groups=False,
        )

    def expand_metric_values(self, values):
        out = {}
        for key, value in values.items():
            if key.endswith("/rmsd_per_residue"):
                prefix = key[: -len("rmsd_per_residue")]
                for name, v in zip(STANDARD_RESIDUES, value):
                    if torch.isfinite(v):
                        out[f"{prefix}rmsd_{name}"] = v
            else:
                out[key] = value
        return out

    def encode(self, batch: PointCloudBatch):
        # the frame is bead i's by construction (translation-invariant): keep it, do not re-centre
        mask = batch.mask
        positions = batch.positions / self.length_scale * mask.unsqueeze(-1).to(batch.positions.dtype)
        return self.backbone.encode(positions, batch.features, mask)

    def predict_batch(self, batch):
        vectors = self.head(self.encode(batch), batch.labels, batch.label_mask) * self.length_scale
        return {"vectors": vectors * batch.label_mask.unsqueeze(-1).to(vectors.dtype)}

    def _aligned_targets(self, predictions, batch) -> Tensor:
        partner = self.label_partner[batch.labels]  # (B, L) position of each label's swap partner
        return best_assignment_targets(predictions["vectors"].detach(), batch.targets[self.target_key], partner, batch.label_mask)

    def compute_loss(self, predictions, batch):
        targets = self._aligned_targets(predictions, batch)
        error = (predictions["vectors"] - targets).square().sum(-1)
        weight = batch.label_mask.to(error.dtype)
        return (error * weight).sum() / weight.sum().clamp_min(1)

    def update_metrics(self, metrics, predictions, batch):
        targets = self._aligned_targets(predictions, batch)
        squared = (predictions["vectors"].detach() - targets).square().sum(-1)
        mask = batch.label_mask
        squared, labels = squared[mask], batch.labels[mask]
        backbone = self.label_is_backbone[labels]
        metrics["rmsd"].update(squared)
        metrics["rmsd_backbone"].update(squared[backbone])
        metrics["rmsd_sidechain"].update(squared[~backbone])
        metrics["rmsd_per_residue"].update(squared, self.label_residue[labels])


__all__ = ["BackmappingTask", "RootMeanSquare"]
