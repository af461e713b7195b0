"""Learning curves of a run: loss and the monitored metric against the global step, as a figure.

The `LearningCurves` callback reads `trainer.callback_metrics` as training proceeds (so it needs
no CSV logger) and draws `figures/learning_curves.png` when fit ends.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import lightning as L
from matplotlib.figure import Figure

from gaan.tasks.figures import log_figure

BATCH_LOSS = "train/loss (batches)"


class LearningCurves(L.Callback):
    """Collects training and validation values during fit and draws them at its end.

    Recorded, each against the global step: the training loss of every `every_n_steps`-th batch,
    the epoch means of the training loss and of the training counterpart of `monitor`, and every
    validation's loss and `monitor` value (not the sanity check's). Lightning calls the module's
    `on_train_epoch_end`, which logs the epoch's training metrics, after this callback's hook, so
    an epoch's training values are read at the next epoch's start, at the end of training, or when
    a checkpoint is written at the epoch end, whichever comes first. The points travel in
    checkpoints, so a resumed run's curves hold the earlier run's points too.

    :param monitor: the task's monitored validation metric (`task.monitor`, e.g. `val/acc`)
    :param every_n_steps: record the batch training loss every this many optimizer steps
    """

    def __init__(self, monitor: str = "val/loss", every_n_steps: int = 10):
        if isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int) or every_n_steps < 1:
            raise ValueError(f"callbacks.learning_curves.every_n_steps must be an integer >= 1, got {every_n_steps!r}")
        self.monitor = monitor
        self.every_n_steps = every_n_steps
        self.points: dict[str, list[tuple[int, float]]] = {}
        self._pending_epoch_step: int | None = None  # a finished epoch whose train values are unread
        self._trainer: L.Trainer | None = None

    @property
    def train_keys(self) -> tuple[str, ...]:
        counterpart = "train/" + self.monitor.split("/", 1)[-1]
        return tuple(dict.fromkeys(("train/loss", counterpart)))

    @property
    def validation_keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(("val/loss", self.monitor)))

    def add(self, key: str, step: int, value: float) -> None:
        """Record `value` of `key` at `step`; a second value at the same step replaces the first."""
        series = self.points.setdefault(key, [])
        if series and series[-1][0] == step:
            series[-1] = (step, value)
        else:
            series.append((step, value))

    # ---- collecting ---------------------------------------------------------------------
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if loss is not None and trainer.global_step % self.every_n_steps == 0:
            self.add(BATCH_LOSS, trainer.global_step, float(loss))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._read(trainer.callback_metrics, self.validation_keys, trainer.global_step)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._pending_epoch_step = trainer.global_step

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._read_pending_epoch(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._read_pending_epoch(trainer)
        if trainer.is_global_zero and any(self.points.values()):
            log_figure(trainer, "learning_curves", learning_curves_figure(self.points, self.monitor))

    def _read_pending_epoch(self, trainer: L.Trainer) -> None:
        if self._pending_epoch_step is None:
            return
        self._read(trainer.callback_metrics, self.train_keys, self._pending_epoch_step)
        self._pending_epoch_step = None

    def _read(self, metrics: Mapping, keys: Sequence[str], step: int) -> None:
        for key in keys:
            # a value logged per step and per epoch is `<key>_epoch` at the epoch level
            value = metrics.get(f"{key}_epoch", metrics.get(key))
            if value is not None and getattr(value, "numel", lambda: 1)() == 1:
                self.add(key, step, float(value))

    # ---- checkpoints --------------------------------------------------------------------
    def state_dict(self) -> dict:
        # a checkpoint written at the epoch end (after the module logged the epoch's training
        # metrics) would otherwise miss that epoch's training point on resume
        if self._trainer is not None:
            self._read_pending_epoch(self._trainer)
        return {"monitor": self.monitor, "points": {key: [list(p) for p in series] for key, series in self.points.items()}}

    def load_state_dict(self, state_dict: dict) -> None:
        self.points = {key: [(int(step), float(value)) for step, value in series] for key, series in state_dict.get("points", {}).items()}


def learning_curves_figure(points: Mapping[str, Sequence[tuple[int, float]]], monitor: str) -> Figure:
    """Two panels against the global step: the losses, and `monitor` with its training counterpart.

    The loss axis is logarithmic when every loss is positive. Series with no points are left out.

    :param points: per metric name, its (global step, value) points in step order
    :param monitor: the monitored validation metric (drawn in the second panel; when it is
        `val/loss` the second panel repeats the validation loss on a linear axis)
    """
    fig = Figure(figsize=(8.5, 3.4))
    loss_ax, metric_ax = fig.subplots(1, 2)
    styles = {
        BATCH_LOSS: dict(color="tab:blue", lw=0.8, alpha=0.35),
        "train/loss": dict(color="tab:blue", marker="o", ms=3),
        "val/loss": dict(color="tab:orange", marker="o", ms=3),
    }
    losses = [v for key in styles for _, v in points.get(key, ())]
    for key, style in styles.items():
        if points.get(key):
            steps, values = zip(*points[key])
            loss_ax.plot(steps, values, label=key, **style)
    if losses and min(losses) > 0 and all(math.isfinite(v) for v in losses):
        loss_ax.set_yscale("log")
    loss_ax.set_title("loss")
    counterpart = "train/" + monitor.split("/", 1)[-1]
    for key, style in ((counterpart, dict(color="tab:blue", marker="o", ms=3)), (monitor, dict(color="tab:orange", marker="o", ms=3))):
        if points.get(key):
            steps, values = zip(*points[key])
            metric_ax.plot(steps, values, label=key, **style)
    metric_ax.set_title(f"{monitor} (monitored)")
    for ax in (loss_ax, metric_ax):
        ax.set_xlabel("global step")
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
