"""Energy + conservative forces (task=md17): E = sum of per-atom scalars, F = -dE/dx by autograd.

Units: the data's (eV, eV/A for the md17 data); metrics are reported in milli-units (meV,
meV/A) through `metric_unit_scale`. Predicted energies are absolute: the per-element reference
energies (keyed by atomic number), the mean and the scale (RMS training force component) are
fitted once on the training frames when fitting starts (`gaan.tasks.md17.energy_reference`) and kept
as buffers with the trained atomic numbers, so a checkpoint carries them; the network's own
output stays O(1) for any molecule.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanMetric, MetricCollection

from gaan.data.batch import PointCloudBatch
from gaan.elements import MAX_ATOMIC_NUMBER, element_names, element_one_hot
from gaan.models.molecular_energy import MolecularEnergy, absolute_energy
from gaan.tasks.base import PointCloudTask, masked_mean_error
from gaan.tasks.md17.energy_reference import fit_energy_reference
from gaan.tasks.md17.force_errors import SquaredError
from gaan.tasks.md17.nve_check import NVEBlowUp, float64_calculator, nve_energy_drift

# the force term's default error (stateless: one instance serves every call)
SQUARED_ERROR = SquaredError()

# buffers written since energies and elements are stored with the model
ENERGY_REFERENCE_BUFFERS = ("atomic_numbers", "element_energies", "energy_reference_fitted")

log = logging.getLogger(__name__)


class EnergyForceTask(PointCloudTask):
    """Energy = energy_mean + energy_scale * (sum of per-point scalars); forces = -dE/dpositions
    by autograd (conservative and rotation-covariant; `create_graph` while training so the
    force loss trains the weights). Loss: energy_weight * energy MSE (per molecule) +
    force_weight * the mean of `force_error` over real atoms' force components
    (`gaan.tasks.md17.force_errors`; default `SquaredError`: the force-component MSE).

    Metrics (x `metric_unit_scale`, 1000: eV -> meV): `energy_mae`, `force_mae`, and
    `force_cosine`, the mean over real atoms of the cosine between predicted and true force.
    With `nve_steps > 0` the test ends with a constant-energy run of the trained model from the
    datamodule's `nve_start()` frame and logs the total-energy drift (`test/nve_drift`, meV
    per atom per ps) and the largest deviation from the start energy (`test/nve_max_deviation`);
    if the run blows up, `test/nve_blowup_step` (the step whose total energy was non-finite) instead.
    With `nve_val_starts = n` it also runs one from each of n validation frames spread evenly from
    the first (frames 0 and 500 of 1,000 for n = 2) and logs the largest |drift| (`val/nve_drift_max`,
    inf if one blows up): dynamics measured without test data, so a choice between configurations
    may require it (conf/task/md17.yaml, `results.requirement`).
    """

    best_metric, best_mode = "force_mae", "min"
    needs_grad_in_eval = True

    def __init__(
        self,
        *args,
        energy_weight: float = 1.0,
        force_weight: float = 10.0,
        energy_mean: float = 0.0,
        energy_scale: float = 1.0,
        metric_unit_scale: float = 1000.0,
        nve_steps: int = 0,
        nve_timestep_fs: float = 0.25,
        nve_temperature_K: float = 500.0,
        nve_val_starts: int = 0,
        force_error: nn.Module | None = None,
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
        if isinstance(nve_val_starts, bool) or not isinstance(nve_val_starts, int) or nve_val_starts < 0:
            raise ValueError(f"task.module.nve_val_starts must be an integer >= 0, got {nve_val_starts!r}")
        self.nve_val_starts = nve_val_starts
        if force_error is not None and not callable(force_error):
            example = "{_target_: gaan.tasks.md17.force_errors.HuberError, delta: 0.01}"
            raise ValueError(f"task.module.force_error must be a module (e.g. {example}) or null, got {force_error!r}")
        super().__init__(*args, **kwargs)
        self.force_error = force_error  # None: energy_force_loss's default, the square
        self.register_buffer("energy_mean", torch.tensor(float(energy_mean)))
        self.register_buffer("energy_scale", torch.tensor(float(energy_scale)))
        # the elements of the one-hot input columns and the reference energies keyed by atomic
        # number; zeros until fitted on the training frames (or loaded from a checkpoint)
        self.register_buffer("atomic_numbers", torch.zeros(self.in_features, dtype=torch.long))
        self.register_buffer("element_energies", torch.zeros(MAX_ATOMIC_NUMBER + 1, dtype=torch.float64))
        self.register_buffer("energy_reference_fitted", torch.zeros((), dtype=torch.bool))
        self._test_force_pairs: list[tuple[Tensor, Tensor]] = []

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if stage != "fit" or bool(self.energy_reference_fitted):
            return  # fitted earlier in this process, or restored from a checkpoint
        frames = self.training_reference("its reference energies", ("elements", "numbers", "energies", "forces"))
        self.fit_energy_reference(frames["elements"], frames["numbers"], frames["energies"], frames["forces"])

    def fit_energy_reference(self, atomic_numbers: tuple[int, ...], numbers, energies, forces) -> None:
        """Fit and store the trained elements, per-element reference energies, mean and scale
        from training frames (eV, eV/A)."""
        if len(atomic_numbers) != self.in_features:
            raise ValueError(
                f"{len(atomic_numbers)} elements ({element_names(atomic_numbers)}) for a model of {self.in_features} input features"
            )
        fitted = fit_energy_reference(numbers, atomic_numbers, energies, forces)
        self.atomic_numbers.copy_(torch.as_tensor(atomic_numbers, dtype=torch.long))
        self.element_energies.copy_(torch.as_tensor(fitted["element_energies"], dtype=torch.float64))
        self.energy_mean.fill_(fitted["energy_mean"])
        self.energy_scale.fill_(fitted["energy_scale"])
        self.energy_reference_fitted.fill_(True)
        log.info(
            "energy reference from %d training frames: per element (eV) %s, mean %.6g, scale %.6g",
            len(energies),
            {element_names([z]): round(float(fitted["element_energies"][z]), 6) for z in atomic_numbers},
            fitted["energy_mean"],
            fitted["energy_scale"],
        )

    @property
    def trained_elements(self) -> tuple[int, ...]:
        """The atomic numbers of the one-hot input columns, in order."""
        if not bool(self.energy_reference_fitted):
            raise RuntimeError("this model's elements are not known yet: it has not been fitted (or loaded from a checkpoint)")
        return tuple(int(z) for z in self.atomic_numbers.tolist())

    def element_features(self, numbers, where: str = "") -> Tensor:
        """(n, in_features) one-hot input features of atoms with atomic numbers `numbers`; an
        element the model was not trained on is a `gaan.elements.UnknownElementError`."""
        return torch.from_numpy(element_one_hot(numbers, self.trained_elements, where))

    def molecular_energy(self) -> MolecularEnergy:
        """This model as a plain module: absolute energy from (positions, features, mask),
        sharing the backbone and head (`gaan.ase`, `gaan.export`)."""
        return MolecularEnergy(self.backbone, self.head, self.atomic_numbers, self.element_energies, self.energy_mean, self.energy_scale)

    def datamodule_overrides(self) -> dict:
        # features are built over the elements this model was trained on, whatever the file lists
        return {"elements": list(self.trained_elements)} if bool(self.energy_reference_fitted) else {}

    def describe_missing_state(self, missing_keys: list[str]) -> str | None:
        lacking = [key for key in missing_keys if key in ENERGY_REFERENCE_BUFFERS]
        if not lacking or len(lacking) != len(missing_keys):
            return None
        return (
            "written before gaan stored energies and elements with the model: it lacks the atomic numbers it was "
            "trained on and the per-element reference energies (its energies were relative to a reference that the "
            "data module refitted on whatever file it read). Retrain it with this version of gaan (python train.py "
            "task=md17 ... with the overrides it was trained with) to get absolute energies"
        )

    def make_metrics(self) -> MetricCollection:
        return energy_force_metrics()

    def predict_batch(self, batch: PointCloudBatch) -> dict[str, Tensor]:
        positions = batch.positions.detach().requires_grad_(True)
        out = self.backbone(positions, batch.features, batch.mask, vectors=batch.vectors)
        energy = absolute_energy(
            self.head(out), batch.features, batch.mask, self.atomic_numbers, self.element_energies, self.energy_mean, self.energy_scale
        )
        (grad,) = torch.autograd.grad(energy.sum(), positions, create_graph=self.training)
        forces = -grad * batch.mask.unsqueeze(-1).to(grad.dtype)
        return {"energy": energy, "forces": forces}

    def compute_loss(self, predictions, batch):
        return energy_force_loss(predictions, batch, self.energy_weight, self.force_weight, self.force_error)

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
        if self.nve_steps and self.nve_val_starts and hasattr(datamodule, "nve_start"):
            self._validation_drift(datamodule)
        if self.nve_steps and hasattr(datamodule, "nve_start"):
            try:
                result = self._nve_run(datamodule.nve_start())
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

    def _nve_run(self, start: dict) -> dict:
        """The NVE check (`nve_energy_drift`) of the trained model from a start frame."""
        return nve_energy_drift(
            float64_calculator(self.molecular_energy()),
            start["numbers"],
            start["positions"],
            steps=self.nve_steps,
            timestep_fs=self.nve_timestep_fs,
            temperature_K=self.nve_temperature_K,
        )

    def _validation_drift(self, datamodule) -> None:
        drifts, frames = [], datamodule.nve_frames("val", self.nve_val_starts)
        for frame in frames:
            try:
                drifts.append(abs(self._nve_run(datamodule.nve_start(frame, split="val"))["drift_mev_per_atom_per_ps"]))
            except NVEBlowUp:
                drifts.append(float("inf"))
        log.info("NVE from validation frames %s: |drift| %s meV/atom/ps", frames, ", ".join(f"{d:.4g}" for d in drifts))
        self.log("val/nve_drift_max", max(drifts))


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


def energy_force_loss(
    predictions: dict[str, Tensor], batch: PointCloudBatch, energy_weight: float, force_weight: float, force_error=None
) -> Tensor:
    """energy_weight x per-molecule energy MSE + force_weight x the mean force_error (default: the
    square) over real atoms' force components."""
    energy_loss = (predictions["energy"] - batch.targets["energy"]).square().mean()
    force_error = SQUARED_ERROR if force_error is None else force_error
    force_loss = masked_mean_error(force_error(predictions["forces"] - batch.targets["forces"]), batch.mask)
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
