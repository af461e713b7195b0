"""Callbacks the harness configures (conf/callbacks/)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from datetime import timedelta

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, EMAWeightAveraging, ModelCheckpoint, ModelSummary
from lightning.pytorch.utilities.model_summary import get_human_readable_count

log = logging.getLogger("gaan.train")


class BestCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that keeps its best-so-far across a resume into a new run folder.

    Stock ModelCheckpoint forgets the best score when the folder changed, so a resumed run
    would call its first validation "best". Here the earlier best files are copied into
    this run's folder and tracking continues, so a resumed run picks the same best
    checkpoint as an uninterrupted one.
    """

    def load_state_dict(self, state_dict: dict) -> None:
        old_dir = state_dict.get("dirpath")
        if old_dir and self.dirpath and os.path.realpath(old_dir) != os.path.realpath(self.dirpath):
            os.makedirs(self.dirpath, exist_ok=True)

            def moved(path: str) -> str:
                if not path or not os.path.isfile(path):
                    return path
                target = os.path.join(self.dirpath, os.path.basename(path))
                if not os.path.exists(target):
                    shutil.copy2(path, target)
                return target

            state_dict = dict(state_dict)
            state_dict["best_k_models"] = {moved(p): v for p, v in state_dict.get("best_k_models", {}).items()}
            for key in ("best_model_path", "kth_best_model_path"):
                state_dict[key] = moved(state_dict.get(key, ""))
            state_dict["last_model_path"] = ""
            state_dict["dirpath"] = self.dirpath
        super().load_state_dict(state_dict)


class EarlyStoppingAfterValidation(EarlyStopping):
    """Lightning's EarlyStopping, except at the end of a run that `trainer.max_steps` stops before
    any validation logged the monitored metric: there is nothing to judge and the run stops
    anyway, so the check is skipped (stock EarlyStopping raised "`val/...` not available" and
    the run ended with an error instead of its checkpoint and test). A metric missing at any
    other time (a misspelt monitor) still raises."""

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        stopped_by_max_steps = trainer.max_steps not in (None, -1) and trainer.global_step >= trainer.max_steps
        if stopped_by_max_steps and self.monitor not in trainer.callback_metrics:
            log.info("max_steps=%d reached before any %s was logged: no early-stopping check", trainer.max_steps, self.monitor)
            return
        super().on_train_epoch_end(trainer, pl_module)


class LastCheckpoint(ModelCheckpoint):
    """Writes only last.ckpt: every `every_n_train_steps` steps and at each epoch end.

    (One stock ModelCheckpoint cannot do both, and two stock ones both writing
    last.ckpt into one folder produce last-v1.ckpt.)
    """

    def __init__(self, dirpath: str, every_n_train_steps: int = 50):
        super().__init__(dirpath=dirpath, save_top_k=0, save_last=True, every_n_train_steps=every_n_train_steps)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def load_state_dict(self, state_dict: dict) -> None:
        # A resume writes to a new run folder: the earlier run's last.ckpt path is not this
        # run's, and stock ModelCheckpoint warns about the changed folder on every resume.
        if self.dirpath and state_dict.get("dirpath") != self.dirpath:
            state_dict = {
                **state_dict,
                "dirpath": self.dirpath,
                "last_model_path": "",
                "best_model_path": "",
                "kth_best_model_path": "",
                "best_k_models": {},
            }
        super().load_state_dict(state_dict)


class SigkillAtStep(L.Callback):
    """Fault injection for resume tests: the process kills itself with SIGKILL (like
    `kill -9`) right after training step `step` has run, before any checkpoint of it."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class EMAWeights(EMAWeightAveraging):
    """Lightning's EMA callback, with checkpoints read the same way in every stage.

    A checkpoint written during fit holds the averaged weights under `state_dict` (what
    validation saw and eval.py loads) and the raw ones under `current_model_state`. Stock
    EMAWeightAveraging restores the raw weights whenever its average exists, so
    `trainer.test(ckpt_path="best")` after fit would test the raw weights of the best epoch,
    not the averaged ones it was selected by. Here only resuming a fit restores them.
    """

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        if trainer.state.fn == "fit":
            super().on_load_checkpoint(trainer, pl_module, checkpoint)


class EpochLog(L.Callback):
    """One log line per epoch (console and train.log): epoch, step, train and validation
    metrics, epoch time and ETA. Progress bars leave only their last frame in a redirected
    output (cluster jobs), so this line is the run's progress record there.

    Lightning calls the module's `on_train_epoch_end` (which logs the epoch's train metrics)
    after the callbacks' hook, so the line of an epoch is written when the next epoch starts
    or training ends, with nothing computed in between.
    """

    def __init__(self) -> None:
        self._epoch_started = 0.0
        self._durations: list[float] = []
        self._pending: tuple[int, int, float] | None = None  # (epoch, step, duration)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write_pending(trainer)
        self._epoch_started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        duration = time.perf_counter() - self._epoch_started
        self._durations.append(duration)
        self._pending = (trainer.current_epoch, trainer.global_step, duration)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write_pending(trainer)

    def _write_pending(self, trainer: L.Trainer) -> None:
        if self._pending is None:
            return
        epoch, step, duration = self._pending
        self._pending = None
        if trainer.is_global_zero:
            log.info(epoch_line(epoch, step, trainer.max_epochs, trainer.callback_metrics, duration, self._durations))


def epoch_line(epoch: int, step: int, max_epochs: int | None, metrics: dict, duration: float, durations: list[float]) -> str:
    """`Epoch 3/6 step 78 | train/loss 0.123 train/acc 0.95 | val/loss 0.08 ... | 7.9 s, ETA 0:00:24`."""

    def values(prefix: str) -> str:
        shown = {}
        for key, value in sorted(metrics.items()):
            if key.startswith(prefix) and not key.endswith("_step") and getattr(value, "numel", lambda: 1)() == 1:
                shown[key.removesuffix("_epoch")] = float(value)
        return " ".join(f"{key} {value:.4g}" for key, value in shown.items())

    total = f"/{max_epochs}" if max_epochs and max_epochs > 0 else ""
    parts = [f"Epoch {epoch + 1}{total} step {step}", values("train/"), values("val/")]
    timing = f"{duration:.1f} s"
    if total:
        remaining = max_epochs - epoch - 1
        timing += f", ETA {timedelta(seconds=round(remaining * sum(durations) / len(durations)))}"
    return " | ".join(part for part in (*parts, timing) if part)


class ParameterSummary(ModelSummary):
    """The model's parameter counts in a few log lines (console and train.log), in place of
    Lightning's table, whose FLOPs column is 0 unless an example input is set and whose rows
    list every metric object."""

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._max_depth or not trainer.is_global_zero:
            return
        trainable = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
        total = sum(p.numel() for p in pl_module.parameters())
        frozen = f", {get_human_readable_count(total - trainable)} frozen" if total > trainable else ""
        lines = [f"Model: {get_human_readable_count(trainable)} trainable parameters{frozen}"]
        for name, module in pl_module.named_modules():
            depth = name.count(".") + 1 if name else 0
            count = sum(p.numel() for p in module.parameters())
            if 1 <= depth <= self._max_depth and count:
                lines.append(f"  {name:<24} {type(module).__name__:<28} {get_human_readable_count(count):>8}")
        log.info("\n".join(lines))
