"""Callbacks the harness configures (conf/callbacks/)."""
from __future__ import annotations

import os
import signal

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint


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
