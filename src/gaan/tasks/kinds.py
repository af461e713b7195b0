"""The task kinds: classification, scalar regression, covariant vectors, labeled vectors
(backmapping); energy+forces live in gaan.tasks.md17.energy_forces. Each fixes its loss, metrics and the meaning of "best"."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MeanAbsoluteError, MeanMetric, MeanSquaredError, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from gaan.data.batch import PointCloudBatch
from gaan.tasks.base import PointCloudTask, masked_mean_error
from gaan.tasks.figures import confusion_figure, log_figure, parity_figure
from gaan.tasks.trajectory_figure import trajectory_figure


class ClassificationTask(PointCloudTask):
    """Per-cloud class logits; cross-entropy; accuracy and macro F1.

    Optional breakdowns (logged for every split): `class_names` adds per-class accuracy
    (recall) as `<split>/acc_<class name>`; `group_key` names a per-cloud target (e.g. the
    crystal noise level) and `group_values` its values, adding the accuracy restricted to each
    value as `<split>/acc_<group_name>_<value>`.
    """

    best_metric, best_mode = "acc", "max"

    def __init__(
        self,
        *args,
        num_classes: int,
        target_key: str = "label",
        class_names: Sequence[str] | None = None,
        group_key: str | None = None,
        group_values: Sequence[float] | None = None,
        group_name: str | None = None,
        group_tolerance: float = 1e-6,
        **kwargs,
    ):
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"task.module.class_names has {len(class_names)} names but task.module.num_classes={num_classes}")
        if (group_key is None) != (group_values is None):
            raise ValueError("task.module.group_key and task.module.group_values must be set together")
        if group_values is not None and len(group_values) == 0:
            raise ValueError("task.module.group_values must list at least one value")
        self.num_classes = num_classes
        self.target_key = target_key
        self.class_names = tuple(str(c) for c in class_names) if class_names is not None else None
        self.group_key = group_key
        self.group_values = tuple(float(v) for v in group_values) if group_values is not None else ()
        self.group_name = group_name or group_key
        self.group_tolerance = group_tolerance
        super().__init__(*args, **kwargs)

    def _group_metric_name(self, value: float) -> str:
        # module names cannot hold ".": 0.05 is stored as 0p05, logged as 0.05
        return f"acc_{self.group_name}_{value:g}".replace(".", "p")

    def _group_log_name(self, value: float) -> str:
        return f"acc_{self.group_name}_{value:g}"

    def make_metrics(self) -> MetricCollection:
        metrics = {
            "acc": MulticlassAccuracy(self.num_classes, average="micro"),
            "f1": MulticlassF1Score(self.num_classes, average="macro"),
        }
        if self.class_names is not None:
            # a (num_classes,) vector, split into one scalar per class when logged
            metrics["acc_per_class"] = MulticlassAccuracy(self.num_classes, average=None)
        for value in self.group_values:
            metrics[self._group_metric_name(value)] = MulticlassAccuracy(self.num_classes, average="micro")
        # compute_groups would share states between metrics fed different subsets
        return MetricCollection(metrics, compute_groups=False)

    def expand_metric_values(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        out = {}
        renamed = {self._group_metric_name(v): self._group_log_name(v) for v in self.group_values}
        for key, value in values.items():
            prefix, _, base = key.rpartition("/")
            if base in renamed:
                out[f"{prefix}/{renamed[base]}"] = value
                continue
            if key.endswith("/acc_per_class"):
                prefix = key[: -len("acc_per_class")]
                for name, v in zip(self.class_names, value):
                    out[f"{prefix}acc_{name}"] = v
            else:
                out[key] = value
        return out

    def predict_batch(self, batch: PointCloudBatch) -> dict[str, Tensor]:
        return {"logits": self.head(self.encode(batch))}

    def average_predictions(self, predictions):
        # average the class probabilities, not the logits; the log of the mean is again a logit
        log_probabilities = torch.stack([F.log_softmax(p["logits"], -1) for p in predictions])
        return {"logits": torch.logsumexp(log_probabilities, 0) - math.log(len(predictions))}

    def compute_loss(self, predictions, batch) -> Tensor:
        return F.cross_entropy(predictions["logits"], batch.targets[self.target_key])

    def update_metrics(self, metrics, predictions, batch) -> None:
        logits, target = predictions["logits"].detach(), batch.targets[self.target_key]
        group_metrics = {self._group_metric_name(v) for v in self.group_values}
        for key, metric in metrics.items(keep_base=True):
            if key not in group_metrics:
                metric.update(logits, target)
        if self.group_key is None:
            return
        if self.group_key not in batch.targets:
            raise KeyError(f"task.module.group_key={self.group_key!r} is not a target of this data (targets: {sorted(batch.targets)})")
        group = batch.targets[self.group_key].reshape(-1).to(torch.float64)
        for value in self.group_values:
            selected = (group - value).abs() <= self.group_tolerance * max(1.0, abs(value))
            if selected.any():
                metrics[self._group_metric_name(value)].update(logits[selected], target[selected])

    def figure_data(self, predictions, batch):
        return predictions["logits"].argmax(-1), batch.targets[self.target_key]

    def make_figure(self, predictions, targets):
        return confusion_figure(predictions.numpy(), targets.numpy(), self.num_classes, self.class_names)


class ScalarRegressionTask(PointCloudTask):
    """Per-cloud scalar (e.g. a QM9 property): loss and metrics in the target's units (a subclass
    that standardizes, such as qm9's `MolecularPropertyTask`, fits its own scale)."""

    best_metric, best_mode = "mae", "min"

    def __init__(self, *args, target_key: str = "y", loss: str = "mse", **kwargs):
        if loss not in ("mse", "l1"):
            raise ValueError(f"task.module.loss must be 'mse' or 'l1', got {loss!r}")
        self.target_key, self.loss_kind = target_key, loss
        super().__init__(*args, **kwargs)

    def make_metrics(self) -> MetricCollection:
        return MetricCollection({"mae": MeanAbsoluteError(), "rmse": MeanSquaredError(squared=False)})

    def predict_batch(self, batch):
        return {"y": self.head(self.encode(batch))}

    def compute_loss(self, predictions, batch):
        error = predictions["y"] - batch.targets[self.target_key]
        return error.square().mean() if self.loss_kind == "mse" else error.abs().mean()

    def update_metrics(self, metrics, predictions, batch):
        metrics.update(predictions["y"].detach(), batch.targets[self.target_key])

    def figure_data(self, predictions, batch):
        return predictions["y"], batch.targets[self.target_key]

    def make_figure(self, predictions, targets):
        return parity_figure(predictions.numpy(), targets.numpy())


class VectorRegressionTask(PointCloudTask):
    """Per-point covariant vectors (e.g. N-body positions after a time step); masked MSE.

    `sign_symmetric_features`: indices of input features whose sign can be flipped on every
    point at once without changing the target (N-body: the charges, since the forces depend on
    q_i q_j only). In evaluation (validation, test, predict) the prediction is the mean of the
    network on the batch and on its flipped copy, which is then exactly invariant to the flip;
    training runs the network once per batch (no extra cost).

    Test figures: the parity of every real vector component (`test/summary`), and the first test
    cloud's points moved by the true and by the predicted vectors (`test/trajectories`; N-body:
    the bodies' positions at the target frame).
    """

    best_metric, best_mode = "mse", "min"

    def __init__(self, *args, target_key: str = "vectors", sign_symmetric_features: Sequence[int] = (), **kwargs):
        self.target_key = target_key
        super().__init__(*args, **kwargs)
        indices = list(sign_symmetric_features or ())
        bad = [i for i in indices if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.in_features]
        if bad or len(set(indices)) != len(indices):
            raise ValueError(
                f"task.module.sign_symmetric_features={indices}: each must be a distinct feature index "
                f"in [0, {self.in_features}) (the datamodule's per-point features)"
            )
        self.sign_symmetric_features = indices
        self._trajectory_example: tuple[Tensor, Tensor, Tensor] | None = None  # (start, true, predicted)

    def make_metrics(self) -> MetricCollection:
        return MetricCollection({"mse": MeanMetric()})

    def predict_batch(self, batch):
        vectors = self.head(self.encode(batch))
        if self.sign_symmetric_features and not self.training:
            signs = torch.ones(batch.features.shape[-1], dtype=batch.features.dtype, device=batch.features.device)
            signs[self.sign_symmetric_features] = -1
            flipped = dataclasses.replace(batch, features=batch.features * signs)
            vectors = 0.5 * (vectors + self.head(self.encode(flipped)))
        return {"vectors": vectors}

    def compute_loss(self, predictions, batch):
        return masked_mean_error((predictions["vectors"] - batch.targets[self.target_key]).square(), batch.mask)

    def update_metrics(self, metrics, predictions, batch):
        error = (predictions["vectors"].detach() - batch.targets[self.target_key]).square()
        metrics["mse"].update(error[batch.mask])

    def figure_data(self, predictions, batch):
        real = batch.mask
        predicted, target = predictions["vectors"].detach(), batch.targets[self.target_key]
        if self._trajectory_example is None and len(batch):  # the first test cloud, for the trajectories
            first = real[0]
            start = batch.positions[0][first]
            self._trajectory_example = tuple(x.cpu() for x in (start, start + target[0][first], start + predicted[0][first]))
        return predicted[real], target[real]

    def make_figure(self, predictions, targets):
        return parity_figure(predictions.numpy(), targets.numpy(), title="test vector components")

    def on_test_epoch_start(self) -> None:
        super().on_test_epoch_start()
        self._trajectory_example = None

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        if self.log_figures and self._trajectory_example is not None and self.trainer.is_global_zero:
            start, true_end, predicted_end = (x.numpy() for x in self._trajectory_example)
            log_figure(self.trainer, "test/trajectories", trajectory_figure(start, true_end, predicted_end, title="test cloud 0"))
        self._trajectory_example = None


class LabeledVectorTask(PointCloudTask):
    """One covariant vector per labeled site (backmapping: coarse beads -> atoms). Loss and
    metric are over real labels; `rmsd` is the root mean squared site error."""

    best_metric, best_mode = "rmsd", "min"

    def __init__(self, *args, target_key: str = "vectors", **kwargs):
        self.target_key = target_key
        super().__init__(*args, **kwargs)

    def make_metrics(self) -> MetricCollection:
        return MetricCollection({"rmsd": MeanSquaredError(squared=False)})

    def predict_batch(self, batch):
        return {"vectors": self.head(self.encode(batch), batch.labels, batch.label_mask)}

    def compute_loss(self, predictions, batch):
        error = (predictions["vectors"] - batch.targets[self.target_key]).square().sum(-1)
        return masked_mean_error(error, batch.label_mask)

    def update_metrics(self, metrics, predictions, batch):
        # squared distance per site; sqrt(mean) of it is the RMSD
        distance = (predictions["vectors"].detach() - batch.targets[self.target_key]).norm(dim=-1)
        metrics["rmsd"].update(distance[batch.label_mask], torch.zeros_like(distance[batch.label_mask]))
