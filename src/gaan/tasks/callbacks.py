"""Callbacks the harness configures (conf/callbacks/)."""
from __future__ import annotations

import os
import shutil
import signal

import lightning as L
from lightning.pytorch.callbacks import EMAWeightAveraging, ModelCheckpoint


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
