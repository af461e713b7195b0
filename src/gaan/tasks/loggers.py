"""Logger fixes the harness needs."""

from __future__ import annotations

import csv

import lightning.pytorch.loggers
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class AppendingExperimentWriter(ExperimentWriter):
    """Appends to an existing metrics.csv, starting from its header.

    Lightning's writer deletes an existing metrics.csv and starts with no known columns, so
    a second writer in the same run (ddp_spawn runs fit and test in separate processes)
    loses the fit metrics or fails rewriting the header.
    """

    def _check_log_dir_exists(self) -> None:
        pass  # keep the file: each run has its own folder, so anything here is this run's

    def save(self) -> None:
        # the file may have been written by another process since this writer was made
        if self.metrics and self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                header = [key for key in next(csv.reader(file), []) if key]
            self.metrics_keys = sorted(set(self.metrics_keys) | set(header))
        super().save()


class AppendingCSVLogger(CSVLogger):
    """CSVLogger that appends to an existing metrics.csv instead of corrupting it."""

    @property
    def experiment(self) -> AppendingExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = AppendingExperimentWriter(log_dir=self.log_dir)
        return self._experiment


class WandbLogger(lightning.pytorch.loggers.WandbLogger):
    """Lightning's WandbLogger without its `anonymous=None` init argument: wandb warns about any
    value of that retired setting ("The anonymous setting has no effect") on every run."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
