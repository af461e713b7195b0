"""Energy + conservative forces (task=md17): E = sum of per-atom scalars, F = -dE/dx by autograd.

Units: the data's (eV, eV/A for the md17 data); metrics are reported in milli-units (meV,
meV/A) through `metric_unit_scale`. The network predicts energies in units of
`energy_scale` (the datamodule's RMS training force component, set at fit time when the
datamodule offers `energy_statistics()`), so its outputs are O(1) for any molecule; both
statistics are buffers, saved with the checkpoint.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor
from torchmetrics import MeanAbsoluteError, MeanMetric, MetricCollection

from gaan.data.batch import PointCloudBatch
from gaan.tasks.base import PointCloudTask, masked_mean_error
from gaan.tasks.nve_check import NVEBlowUp, nve_energy_drift

log = logging.getLogger(__name__)


class EnergyForceTask(PointCloudTask):
    """Energy = energy_mean + energy_scale * (sum of per-point scalars); forces = -dE/dpositions
    by autograd (conservative and rotation-covariant; `create_graph` while training so the
    force loss trains the weights). Loss: energy_weight * energy MSE (per molecule) +
    force_weight * force-component MSE over real atoms.

    Metrics (x `metric_unit_scale`, 1000: eV -> meV): `energy_mae`, `force_mae`, and
    `force_cosine`, the mean over real atoms of the cosine between predicted and true force.
    With `nve_steps > 0` the test ends with a constant-energy run of the trained model from the
    datamodule's `nve_start()` frame and logs the total-energy drift (`test/nve_drift`, meV
    per atom per ps) and the largest deviation from the start energy (`test/nve_max_deviation`);
    if the run blows up, `test/nve_blowup_step` (the step whose total energy was non-finite) instead.
    """

    best_metric, best_mode = "force_mae", "min"
    needs_grad_in_eval = True

    def __init__(
        self,
        *args,
        energy_weight: float = 1.0,
        force_weight: float = 100.0,
        energy_mean: float = 0.0,
        energy_scale: float = 1.0,
        metric_unit_scale: float = 1000.0,
        nve_steps: int = 0,
        nve_timestep_fs: float = 0.5,
        nve_temperature_K: float = 500.0,
        **kwargs,
    ):
        for name, value in (("energy_weight", energy_weight), ("force_weight", force_weight)):
            if value < 0:
                raise ValueError(f"task.module.{name} must be >= 0, got {value}")
        if energy_weight == 0 and force_weight == 0:
            raise ValueError("task.module.energy_weight and force_weight are both 0: nothing to train")
        if energy_scale <= 0:
            raise ValueError(f"task.module.energy_scale must be > 0, got {energy_scale}")
        if nve_steps < 0 or nve_timestep_fs <= 0:
            raise ValueError(f"task.module.nve_steps must be >= 0 and nve_timestep_fs > 0, got {nve_steps}, {nve_timestep_fs}")
        self.energy_weight, self.force_weight = float(energy_weight), float(force_weight)
        self.metric_unit_scale = float(metric_unit_scale)
        self.nve_steps, self.nve_timestep_fs, self.nve_temperature_K = int(nve_steps), float(nve_timestep_fs), float(nve_temperature_K)
        super().__init__(*args, **kwargs)
        self.register_buffer("energy_mean", torch.tensor(float(energy_mean)))
        self.register_buffer("energy_scale", torch.tensor(float(energy_scale)))
        self._test_force_pairs: list[tuple[Tensor, Tensor]] = []

    def setup(self, stage: str) -> None:
        super().setup(stage)
        # statistics of the training set (a resumed or evaluated checkpoint overwrites them
        # with its own buffers after this hook)
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if stage == "fit" and hasattr(datamodule, "energy_statistics"):
            stats = datamodule.energy_statistics()
            self.energy_mean.fill_(float(stats["energy_mean"]))
            self.energy_scale.fill_(float(stats["energy_scale"]))
            log.info("energy statistics from the training set: mean %.6g, scale %.6g", stats["energy_mean"], stats["energy_scale"])

    def make_metrics(self) -> MetricCollection:
        return energy_force_metrics()

    def predict_batch(self, batch: PointCloudBatch) -> dict[str, Tensor]:
        positions = batch.positions.detach().requires_grad_(True)
        out = self.backbone(positions, batch.features, batch.mask, vectors=batch.vectors)
        energy = self.head(out) * self.energy_scale + self.energy_mean
        (grad,) = torch.autograd.grad(energy.sum(), positions, create_graph=self.training)
        forces = -grad * batch.mask.unsqueeze(-1).to(grad.dtype)
        return {"energy": energy, "forces": forces}

    def compute_loss(self, predictions, batch):
        return energy_force_loss(predictions, batch, self.energy_weight, self.force_weight)

    def update_metrics(self, metrics, predictions, batch):
        update_energy_force_metrics(metrics, predictions, batch, self.metric_unit_scale)

    def figure_data(self, predictions, batch):
        # force components go to a side list: the base class collects one (prediction, target) pair
        mask = batch.mask
        self._test_force_pairs.append(
            (predictions["forces"].detach()[mask].reshape(-1).cpu(), batch.targets["forces"][mask].reshape(-1).cpu())
        )
        return predictions["energy"], batch.targets["energy"]

    def make_figure(self, predictions, targets):
        forces = [torch.cat(parts) for parts in zip(*self._test_force_pairs, strict=True)] if self._test_force_pairs else None
        self._test_force_pairs = []
        return energy_force_parity_figure(
            predictions.numpy(),
            targets.numpy(),
            None if forces is None else (forces[0].numpy(), forces[1].numpy()),
            scale=self.metric_unit_scale,
        )

    def on_test_epoch_start(self) -> None:
        super().on_test_epoch_start()
        self._test_force_pairs = []

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        datamodule = getattr(self.trainer, "datamodule", None)
        if self.nve_steps and hasattr(datamodule, "nve_start"):
            start = datamodule.nve_start()
            try:
                result = nve_energy_drift(
                    self,
                    start["numbers"],
                    start["positions"],
                    start["features"],
                    steps=self.nve_steps,
                    timestep_fs=self.nve_timestep_fs,
                    temperature_K=self.nve_temperature_K,
                )
            except NVEBlowUp as blowup:
                # a result about the model, not an error of the run: the test metrics stand
                log.warning("%s (test/nve_blowup_step); no drift is reported", blowup)
                self.log("test/nve_blowup_step", float(blowup.step))
                return
            log.info(
                "NVE with the trained model (%d steps of %.2f fs from a test frame): drift %.4g meV/atom/ps, "
                "largest deviation %.4g meV/atom, final temperature %.0f K",
                self.nve_steps,
                self.nve_timestep_fs,
                result["drift_mev_per_atom_per_ps"],
                result["max_deviation_mev_per_atom"],
                result["final_temperature_K"],
            )
            self.log_dict(
                {
                    "test/nve_drift": result["drift_mev_per_atom_per_ps"],
                    "test/nve_max_deviation": result["max_deviation_mev_per_atom"],
                }
            )


def energy_force_metrics() -> MetricCollection:
    """energy_mae, force_mae (over force components) and force_cosine (per atom); shared with
    the peer benchmark (bench/md17_peers.py) so both are measured by the same code."""
    return MetricCollection({"energy_mae": MeanAbsoluteError(), "force_mae": MeanMetric(), "force_cosine": MeanMetric()})


def update_energy_force_metrics(
    metrics: MetricCollection, predictions: dict[str, Tensor], batch: PointCloudBatch, scale: float = 1000.0
) -> None:
    """Accumulate a batch: predictions "energy" (B,) and "forces" (B, N, 3) against
    batch.targets; errors multiplied by `scale` (1000: eV -> meV); padded atoms ignored."""
    metrics["energy_mae"].update(predictions["energy"].detach() * scale, batch.targets["energy"] * scale)
    predicted, target = predictions["forces"].detach()[batch.mask], batch.targets["forces"][batch.mask]  # (atoms, 3)
    metrics["force_mae"].update((predicted - target).abs().reshape(-1) * scale)
    metrics["force_cosine"].update(torch.nn.functional.cosine_similarity(predicted, target, dim=-1, eps=1e-12))


def energy_force_loss(predictions: dict[str, Tensor], batch: PointCloudBatch, energy_weight: float, force_weight: float) -> Tensor:
    """energy_weight x per-molecule energy MSE + force_weight x force-component MSE over real atoms."""
    energy_loss = (predictions["energy"] - batch.targets["energy"]).square().mean()
    force_loss = masked_mean_error((predictions["forces"] - batch.targets["forces"]).square(), batch.mask)
    return energy_weight * energy_loss + force_weight * force_loss


def energy_force_parity_figure(energy_predicted, energy_target, forces=None, scale: float = 1000.0, units=("meV", "meV/A")):
    """Two parity panels: energies (shifted by the target mean) and force components, in milli-units."""
    panels = 1 if forces is None else 2
    fig = Figure(figsize=(3.6 * panels, 3.6))
    axes = fig.subplots(1, panels, squeeze=False)
    offset = float(np.mean(energy_target))
    pairs = [((energy_target - offset) * scale, (energy_predicted - offset) * scale, f"energy - mean ({units[0]})")]
    if forces is not None:
        pairs.append((forces[1] * scale, forces[0] * scale, f"force components ({units[1]})"))
    for ax, (target, predicted, label) in zip(axes[0], pairs, strict=True):
        ax.scatter(target, predicted, s=3, alpha=0.4)
        lo, hi = float(min(target.min(), predicted.min())), float(max(target.max(), predicted.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        mae = float(np.abs(predicted - target).mean())
        ax.set_title(f"test {label.split(' (')[0]}: MAE {mae:.3g}", fontsize=9)
        ax.set_xlabel(f"target {label}")
        ax.set_ylabel("prediction")
    fig.tight_layout()
    return fig
