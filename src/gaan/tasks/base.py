"""Base LightningModule shared by all task kinds."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.seed import _collect_rng_states, _set_rng_states
from torch import Tensor, nn
from torchmetrics import MaxMetric, MetricCollection, MinMetric

from gaan.console import quiet_known_noise
from gaan.data.batch import PointCloudBatch
from gaan.tasks.figures import log_figure


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN/inf; the run stops before the bad step is applied."""


class PointCloudTask(L.LightningModule):
    """Backbone + head + loss + metrics.

    Subclasses define `predict_batch`, `compute_loss`, `make_metrics` and `update_metrics`,
    and the metric that defines "best" (`best_metric`, `best_mode`). Metrics are logged as
    `train/<m>`, `val/<m>`, `test/<m>`, plus `val/<best_metric>_best`.
    """

    best_metric: str = "loss"
    best_mode: str = "min"
    needs_grad_in_eval: bool = False  # energy/force tasks differentiate in val/test too

    def __init__(
        self,
        backbone: Callable[..., nn.Module],
        head: Callable[..., nn.Module],
        in_features: int,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "epoch",
        compile: bool = False,
        log_figures: bool = True,
    ):
        super().__init__()
        self.in_features = in_features
        self.backbone = backbone(in_features=in_features)
        self.head = head(width=self.backbone.width)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.compile_model = compile
        self.log_figures = log_figures
        metrics = self.make_metrics()
        # attribute names, not a ModuleDict keyed "train": that would shadow nn.Module.train
        self.train_metrics = metrics.clone(prefix="train/")
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.val_best = MaxMetric() if self.best_mode == "max" else MinMetric()
        self.val_best.persistent(True)  # in checkpoints, so val/<m>_best survives a resume
        self._test_outputs: list[tuple[Tensor, Tensor]] = []
        self.run_config: dict | None = None  # set by gaan.train; saved in checkpoints
        # further trained modules of the same task whose predictions are averaged with this
        # one's (`eval.py 'ckpt_path=[a.ckpt,b.ckpt]'`); empty for training
        self.ensemble_members = nn.ModuleList()

    # ---- to implement -------------------------------------------------------------------
    def make_metrics(self) -> MetricCollection:
        raise NotImplementedError

    def predict_batch(self, batch: PointCloudBatch) -> dict[str, Tensor]:
        raise NotImplementedError

    def compute_loss(self, predictions: dict[str, Tensor], batch: PointCloudBatch) -> Tensor:
        raise NotImplementedError

    def update_metrics(self, metrics: MetricCollection, predictions: dict[str, Tensor], batch: PointCloudBatch) -> None:
        raise NotImplementedError

    def figure_data(self, predictions: dict[str, Tensor], batch: PointCloudBatch) -> tuple[Tensor, Tensor] | None:
        """(prediction, target) pairs collected on the test set for the summary plot."""
        return None

    def make_figure(self, predictions: Tensor, targets: Tensor):
        return None

    def average_predictions(self, predictions: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Ensemble prediction from the members' predictions: the mean of each entry. Equivariant
        and invariant entries stay so, as the mean of rotated predictions is the rotated mean."""
        return {key: torch.stack([p[key] for p in predictions]).mean(0) for key in predictions[0]}

    def datamodule_overrides(self) -> dict[str, Any]:
        """Datamodule arguments a trained model fixes when it is evaluated (e.g. its elements)."""
        return {}

    def describe_missing_state(self, missing_keys: list[str]) -> str | None:
        """What a checkpoint lacks, in words, when its state dict misses `missing_keys` because it
        was written before this task stored them; None: a plain architecture mismatch."""
        return None

    def expand_metric_values(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        """Turn computed metric values into scalars for logging (e.g. split a per-class
        vector into one entry per class)."""
        return values

    # ---- shared machinery ---------------------------------------------------------------
    def encode(self, batch: PointCloudBatch):
        return self.backbone(batch.positions, batch.features, batch.mask, vectors=batch.vectors)

    def setup(self, stage: str) -> None:
        quiet_known_noise()  # in every process: ddp_spawn ranks start without the entry point's filters
        if self.compile_model and stage == "fit":
            # in-place compile keeps parameter names, so checkpoints load without compile
            self.backbone.compile()
            self.head.compile()

    def training_reference(self, what: str, keys: tuple[str, ...]) -> dict[str, Any]:
        """The data module's `training_reference()`, for a task that fits `what` (e.g. "its
        reference energies") on the training split when fitting starts; an error naming the
        `keys` it needs when the data module gives none."""
        datamodule = self.trainer.datamodule if self._trainer is not None else None
        reference = datamodule.training_reference() if datamodule is not None else None
        if reference is None or any(key not in reference for key in keys):
            raise RuntimeError(
                f"{type(self).__name__} fits {what} on the training split: the datamodule's training_reference() "
                f"must give {', '.join(keys)}"
            )
        return reference

    def predict(self, batch: PointCloudBatch) -> dict[str, Tensor]:
        """This module's predictions, averaged with its ensemble members' when it has any."""
        predictions = self.predict_batch(batch)
        if not len(self.ensemble_members):
            return predictions
        return self.average_predictions([predictions, *(m.predict_batch(batch) for m in self.ensemble_members)])

    def split_metrics(self, split: str) -> MetricCollection:
        return getattr(self, f"{split}_metrics")

    def _shared_step(self, batch: PointCloudBatch, split: str) -> tuple[Tensor, dict[str, Tensor]]:
        predictions = self.predict(batch)
        loss = self.compute_loss(predictions, batch)
        # sync_dist: under DDP the logged loss is the mean over every rank's batches, not rank 0's.
        # batch_size as a float: Lightning averages the summed batch sizes over ranks in the
        # counter's dtype, and an integer counter truncates uneven evaluation shards (19 / 2 -> 9)
        self.log(
            f"{split}/loss", loss, on_step=split == "train", on_epoch=True, prog_bar=True, batch_size=float(len(batch)), sync_dist=True
        )
        self.update_metrics(self.split_metrics(split), predictions, batch)
        return loss, predictions

    def training_step(self, batch: PointCloudBatch, batch_idx: int) -> Tensor:
        loss, _ = self._shared_step(batch, "train")
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"Training loss is {loss.item()} at global step {self.global_step} "
                f"(epoch {self.current_epoch}, batch {batch_idx}); stopping before applying it. "
                f"{self.last_good_state()} {self.stability_advice()}"
            )
        return loss

    def stability_advice(self) -> str:
        """What to change after a non-finite loss, from the run's own rate and clipping."""
        rates = sorted({group["lr"] for group in self.trainer.optimizers[0].param_groups}) if self.trainer.optimizers else []
        rate = f" (optimizer.lr; the rate at this step is {', '.join(f'{r:.3g}' for r in rates)})" if rates else " (optimizer.lr)"
        clip = self.trainer.gradient_clip_val
        if clip:
            return f"Lower the learning rate{rate}, or the clipping norm (trainer.gradient_clip_val={clip:g})."
        return f"Lower the learning rate{rate} or enable gradient clipping (trainer.gradient_clip_val)."

    def last_good_state(self) -> str:
        """Where the last good weights are, for the non-finite loss error: the newest checkpoint
        this run wrote, else the checkpoint it resumed from, else nowhere yet."""
        written = [
            path for path in (getattr(c, "last_model_path", "") for c in self.trainer.checkpoint_callbacks) if path and os.path.isfile(path)
        ]
        if written:
            return f"The last good checkpoint is {max(written, key=os.path.getmtime)}."
        if self.trainer.ckpt_path:
            return f"This run has written no checkpoint yet; it resumed from {self.trainer.ckpt_path}."
        return "No checkpoint has been written yet (last.ckpt comes every checkpoint_every_n_steps steps and at each epoch end)."

    def validation_step(self, batch: PointCloudBatch, batch_idx: int) -> None:
        with torch.enable_grad() if self.needs_grad_in_eval else torch.no_grad():
            self._shared_step(batch, "val")

    def test_step(self, batch: PointCloudBatch, batch_idx: int) -> None:
        with torch.enable_grad() if self.needs_grad_in_eval else torch.no_grad():
            _, predictions = self._shared_step(batch, "test")
        pair = self.figure_data(predictions, batch)
        if pair is not None:
            self._test_outputs.append(tuple(t.detach().cpu() for t in pair))

    def _log_metrics(self, split: str) -> dict[str, Tensor]:
        values = self.expand_metric_values(self.split_metrics(split).compute())
        self.log_dict(values)
        self.split_metrics(split).reset()
        return values

    def on_train_start(self) -> None:
        # the sanity check must not count towards the best validation value (a resumed run
        # keeps the best value restored from its checkpoint)
        if self.global_step == 0:
            self.val_best.reset()
        self.val_metrics.reset()

    def on_train_epoch_end(self) -> None:
        self._log_metrics("train")

    def on_validation_epoch_end(self) -> None:
        values = self._log_metrics("val")
        self.val_best.update(values[f"val/{self.best_metric}"])
        self.log(f"val/{self.best_metric}_best", self.val_best.compute(), sync_dist=True)

    def on_test_epoch_start(self) -> None:
        self._test_outputs = []

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")
        if self.log_figures and self._test_outputs and self.trainer.is_global_zero:
            predictions = torch.cat([p for p, _ in self._test_outputs])
            targets = torch.cat([t for _, t in self._test_outputs])
            figure = self.make_figure(predictions, targets)
            if figure is not None:
                log_figure(self.trainer, "test/summary", figure)
        self._test_outputs = []

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        config = {"scheduler": scheduler, "interval": self.scheduler_interval}
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            config["monitor"] = f"val/{self.best_metric}"
        return {"optimizer": optimizer, "lr_scheduler": config}

    # RNG state travels with the checkpoint so a resumed run draws the same numbers
    # (dropout, augmentation) as an uninterrupted one.
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        states = _collect_rng_states(include_cuda=torch.cuda.is_available())
        # numpy's state holds an ndarray; a list keeps checkpoints loadable with weights_only
        name, keys, pos, has_gauss, cached = states["numpy"]
        states["numpy"] = (name, keys.tolist(), pos, has_gauss, cached)
        checkpoint["rng_states"] = states
        if self.run_config is not None:
            checkpoint["gaan_config"] = self.run_config
        checkpoint["gaan_in_features"] = self.in_features  # what a loader builds the model with

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "rng_states" in checkpoint:
            states = dict(checkpoint["rng_states"])
            if not torch.cuda.is_available():
                states.pop("torch.cuda", None)
            name, keys, pos, has_gauss, cached = states["numpy"]
            states["numpy"] = (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached)
            _set_rng_states(states)


def masked_mean_error(error: Tensor, mask: Tensor) -> Tensor:
    """Mean of a (B, N, ...) per-entry error over real entries."""
    weights = mask.reshape(*mask.shape, *([1] * (error.dim() - mask.dim()))).to(error.dtype).expand_as(error)
    return (error * weights).sum() / weights.sum().clamp_min(1)
