"""One molecular property per model (QM9): scalar regression around a baseline fitted on the
training molecules, with MAE in the property's own units."""

from __future__ import annotations

import torch
from torch import Tensor

from gaan.data.batch import PointCloudBatch
from gaan.tasks.kinds import ScalarRegressionTask


def fit_target_baseline(targets: Tensor, element_counts: Tensor, per_element: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(reference (E,), bias (), scale ()) with prediction = scale * network + bias + counts @ reference.

    per_element (extensive targets, sum pooling): least-squares reference value per element on
    the training set, no bias, so the baseline grows with the molecule like the target;
    otherwise the training mean. ``scale`` is the standard deviation of what is left (1 if
    that is 0, e.g. a single training molecule).
    """
    targets = targets.double()
    counts = element_counts.double()
    if per_element:
        reference = torch.linalg.lstsq(counts, targets.unsqueeze(-1), driver="gelsd").solution.squeeze(-1)
        bias = targets.new_zeros(())
    else:
        reference = counts.new_zeros(counts.shape[1])
        bias = targets.mean()
    residual = targets - bias - counts @ reference
    scale = residual.std() if len(targets) > 1 else targets.new_zeros(())
    if not torch.isfinite(scale) or scale <= 0:
        scale = targets.new_ones(())
    return reference, bias, scale


class MolecularPropertyTask(ScalarRegressionTask):
    """Scalar property of a molecule from per-atom features whose first columns count
    elements (one-hot per atom, as `gaan.tasks.qm9.datamodule` makes them).

    The network predicts the standardized residual of a baseline fitted on the training set
    when training starts (`fit_target_baseline`; per element for `pool="sum"`, the mean for
    `pool="mean"`, matching the head's pooling). Baseline and scale are buffers, so checkpoints
    carry them and evaluation never refits. Loss on the standardized residual; metrics (MAE,
    RMSE) in the target's units.
    """

    def __init__(self, *args, pool: str = "sum", **kwargs):
        if pool not in ("sum", "mean"):
            raise ValueError(f"task.module.pool must be 'sum' or 'mean' (the head's pooling), got {pool!r}")
        super().__init__(*args, **kwargs)
        self.pool = pool
        self.register_buffer("element_reference", torch.zeros(self.in_features, dtype=torch.float64))
        self.register_buffer("target_bias", torch.zeros((), dtype=torch.float64))
        self.register_buffer("target_scale", torch.ones((), dtype=torch.float64))
        self.register_buffer("baseline_fitted", torch.zeros((), dtype=torch.bool))

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if bool(self.baseline_fitted):
            return  # restored from a checkpoint (eval.py) or fitted earlier in this process
        training = self.training_reference("its target baseline", ("targets", "element_counts"))
        self.fit_baseline(training["targets"], training["element_counts"])

    def fit_baseline(self, targets: Tensor, element_counts: Tensor) -> None:
        reference, bias, scale = fit_target_baseline(targets, element_counts, per_element=self.pool == "sum")
        padded = torch.zeros_like(self.element_reference)
        padded[: reference.numel()] = reference
        self.element_reference.copy_(padded)
        self.target_bias.copy_(bias)
        self.target_scale.copy_(scale)
        self.baseline_fitted.fill_(True)

    def baseline(self, batch: PointCloudBatch) -> Tensor:
        counts = (batch.features * batch.mask.unsqueeze(-1).to(batch.features.dtype)).sum(1)
        return (counts.double() @ self.element_reference + self.target_bias).to(batch.features.dtype)

    def predict_batch(self, batch: PointCloudBatch) -> dict[str, Tensor]:
        network = self.head(self.encode(batch))
        return {"y": network * self.target_scale.to(network.dtype) + self.baseline(batch)}

    def compute_loss(self, predictions: dict[str, Tensor], batch: PointCloudBatch) -> Tensor:
        scaled_error = (predictions["y"] - batch.targets[self.target_key]) / self.target_scale.to(predictions["y"].dtype)
        return scaled_error.square().mean() if self.loss_kind == "mse" else scaled_error.abs().mean()
