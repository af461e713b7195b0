"""The protein backmapping task: every heavy atom of residue i from its bead environment.

Builds on `LabeledVectorTask` (one covariant vector per labeled site). Differences:
- the environment is already expressed relative to bead i, so the backbone sees it in that
  frame (no re-centring on the centroid): the head's covariant vectors are then combinations of
  the neighbour vectors r_j - r_i, which is how the backbone geometry is set by the chain;
- positions are divided by `length_scale` (Angstrom) before the network and the predicted
  vectors multiplied by it, so the head's products of vectors stay of order one;
- chemically equivalent atom pairs (ASP OD1/OD2, GLU OE1/OE2, PHE/TYR CD1/CD2 + CE1/CE2, ARG
  NH1/NH2) are scored with the better of the two assignments, in the loss and the metrics;
- metrics: heavy-atom RMSD over all atoms, backbone (N, CA, C, O) and side chain, in Angstrom,
  overall (`<split>/rmsd`, `rmsd_backbone`, `rmsd_sidechain`) and per residue type
  (`rmsd_<RES>`, `rmsd_backbone_<RES>`, `rmsd_sidechain_<RES>`); the fraction of residues whose
  chi1 is within 40 degrees of the truth (`chi1_accuracy`, `chi1_accuracy_<RES>`; residues
  without a chi1, GLY and ALA, do not count). Clashes and bond-length outliers are left to
  `gaan-backmap` and the peer bench (`metrics`): they are between atoms of different
  residues, so they need a structure's residues assembled in one frame, and a sample here is one
  residue in its own bead's frame, batched without its structure or its place in it;
- figures at the end of a test run (`figures`): RMSD and chi1 accuracy per residue
  type, and one predicted vs true residue environment in 3-D (PNG, and a wandb `Object3D`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection

from gaan.data.batch import PointCloudBatch
from gaan.tasks.figures import log_figure
from gaan.tasks.kinds import LabeledVectorTask
from gaan.tasks.protein import STANDARD_RESIDUES
from gaan.tasks.protein.assignment import best_assignment_targets
from gaan.tasks.protein.chi1 import LABEL_CHI1_ROLE, chi1_within_tolerance
from gaan.tasks.protein.figures import chi1_per_residue_figure, environment_points, log_environment_view, rmsd_per_residue_figure
from gaan.tasks.protein.metrics import RMSD_METRICS
from gaan.tasks.protein.network import backmap_vectors, scaled_encoding
from gaan.tasks.protein.residues import LABEL_IS_BACKBONE, LABEL_PARTNER_POSITION, LABEL_RESIDUE

PER_RESIDUE = "_per_residue"  # metrics named <name>_per_residue are vectors over STANDARD_RESIDUES


class GroupedMean(Metric):
    """Mean of values, optionally per group (then a vector of `groups`); NaN where a group has
    no values."""

    full_state_update = False

    def __init__(self, groups: int = 1):
        super().__init__()
        self.groups = groups
        self.add_state("total", torch.zeros(groups, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros(groups, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, values: Tensor, group: Tensor | None = None) -> None:
        group = torch.zeros_like(values, dtype=torch.long) if group is None else group
        self.total.index_add_(0, group, values.to(torch.float64))
        self.count.index_add_(0, group, torch.ones_like(values, dtype=torch.float64))

    def compute(self) -> Tensor:
        value = self.total / self.count.clamp_min(1)
        value = torch.where(self.count > 0, value, torch.full_like(value, float("nan")))
        return value[0] if self.groups == 1 else value


class RootMeanSquare(GroupedMean):
    """sqrt of the mean of squared distances, optionally per group (a vector of `groups`)."""

    def compute(self) -> Tensor:
        return super().compute().sqrt()


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
        self.register_buffer("label_chi1_role", torch.as_tensor(LABEL_CHI1_ROLE), persistent=False)
        self._environment_example: np.ndarray | None = None

    def make_metrics(self) -> MetricCollection:
        types = len(STANDARD_RESIDUES)
        return MetricCollection(
            {
                "rmsd": RootMeanSquare(),
                "rmsd_backbone": RootMeanSquare(),
                "rmsd_sidechain": RootMeanSquare(),
                "chi1_accuracy": GroupedMean(),
                f"rmsd{PER_RESIDUE}": RootMeanSquare(types),
                f"rmsd_backbone{PER_RESIDUE}": RootMeanSquare(types),
                f"rmsd_sidechain{PER_RESIDUE}": RootMeanSquare(types),
                f"chi1_accuracy{PER_RESIDUE}": GroupedMean(types),
            },
            compute_groups=False,
        )

    def expand_metric_values(self, values):
        out = {}
        for key, value in values.items():
            if key.endswith(PER_RESIDUE):
                base = key[: -len(PER_RESIDUE)]
                for name, v in zip(STANDARD_RESIDUES, value):
                    if torch.isfinite(v):  # residue types not seen (or without a chi1) are not logged
                        out[f"{base}_{name}"] = v
            else:
                out[key] = value
        return out

    def encode(self, batch: PointCloudBatch):
        # the frame is bead i's by construction (translation-invariant): keep it, do not re-centre
        return scaled_encoding(self.backbone, batch, self.length_scale)

    def predict_batch(self, batch):
        # the one forward pass, shared with gaan-backmap's Lightning-free network
        return {"vectors": backmap_vectors(self.backbone, self.head, batch, self.length_scale)}

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
        residue = self.label_residue[labels]
        metrics["rmsd_per_residue"].update(squared, residue)
        metrics["rmsd_backbone_per_residue"].update(squared[backbone], residue[backbone])
        metrics["rmsd_sidechain_per_residue"].update(squared[~backbone], residue[~backbone])
        correct, has_chi1 = chi1_within_tolerance(
            predictions["vectors"].detach(), targets, batch.labels, batch.label_mask, self.label_chi1_role
        )
        sample_residue = self.label_residue[batch.labels[:, 0]]  # a sample's labels are all of one residue
        metrics["chi1_accuracy"].update(correct[has_chi1].to(torch.float64))
        metrics["chi1_accuracy_per_residue"].update(correct[has_chi1].to(torch.float64), sample_residue[has_chi1])

    # ---- figures of a test run ----------------------------------------------------------
    def figure_data(self, predictions, batch):
        """Keeps one residue environment of the first test batch for the 3-D view (the one with
        the most atoms); returns None, as the other protein figures are drawn from the metrics."""
        if self.log_figures and self._environment_example is None and len(batch):
            self._environment_example = self.environment_example(predictions, batch)
        return None

    def environment_example(self, predictions, batch, index: int | None = None) -> np.ndarray:
        """`environment_points` of sample `index` (default: the one with the most atoms): its
        beads, true atoms (equivalent atoms matched) and predicted atoms, in Angstrom relative to
        its bead."""
        if index is None:
            index = int(batch.label_mask.sum(-1).argmax())
        targets = self._aligned_targets(predictions, batch)
        # the last feature column flags the handedness point (environments.py), not a bead
        beads = batch.mask[index] & (batch.features[index, :, -1] < 0.5)
        atoms = batch.label_mask[index]
        return environment_points(
            batch.positions[index][beads].detach().cpu().numpy(),
            targets[index][atoms].detach().cpu().numpy(),
            predictions["vectors"][index][atoms].detach().cpu().numpy(),
        )

    def on_test_epoch_start(self) -> None:
        super().on_test_epoch_start()
        self._environment_example = None

    def on_test_epoch_end(self) -> None:
        # computed before the base class logs and resets the metrics (compute caches its value)
        values = self.test_metrics.compute() if self.log_figures else {}
        super().on_test_epoch_end()
        if self.log_figures and self.trainer.is_global_zero:
            self.log_test_figures({key: value.detach().cpu().numpy() for key, value in values.items()})
        self._environment_example = None

    def log_test_figures(self, values: dict[str, np.ndarray]) -> None:
        """RMSD and chi1 accuracy per residue type, and the kept residue environment in 3-D.

        :param values: the computed test metrics, keyed `test/<name>` (the per-residue vectors).
        """
        rmsd = {part: values[f"test/{name}{PER_RESIDUE}"] for part, name in RMSD_METRICS.items()}
        log_figure(self.trainer, "test/rmsd_per_residue_type", rmsd_per_residue_figure(STANDARD_RESIDUES, rmsd))
        chi1 = values[f"test/chi1_accuracy{PER_RESIDUE}"]
        log_figure(self.trainer, "test/chi1_per_residue_type", chi1_per_residue_figure(STANDARD_RESIDUES, chi1))
        if self._environment_example is not None:
            log_environment_view(self.trainer, "test/environment", self._environment_example)


__all__ = ["BackmappingTask", "GroupedMean", "RootMeanSquare"]
