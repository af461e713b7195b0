"""A small JSON record of a finished run (`<output dir>/record.json`), which `python -m gaan.results`
collects into results/records/ and the generated results tables.

The record holds what a table row needs without the run folder: task, model, experiment preset,
seed, the command-line overrides, the resolved task/model/optimizer/scheduler config, every final
metric (fit end and test), the best validation score, steps, epochs, wall times, hardware and
the git commit. It is written when the test ends, on rank zero, via a temporary file and
os.replace, so a reader never sees half a record.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping
from omegaconf import OmegaConf

from gaan.files import write_json_atomically
from gaan.results_records import RECORD_SCHEMA  # the schema gaan.results reads

log = logging.getLogger("gaan.train")

RECORD_FILENAME = "record.json"
REPO_DIR = Path(__file__).resolve().parents[3]
BEST_EPOCH_PATTERN = re.compile(r"epoch[=_-]?(\d+)")


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo; elsewhere what platform reports)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: torch.device | None = None) -> dict[str, Any]:
    device = device or torch.device("cpu")
    info = {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "torch": torch.__version__,
    }
    if device.type == "cuda":
        info["accelerator"] = torch.cuda.get_device_name(device)
    return info


def git_state(repo_dir: Path = REPO_DIR) -> dict[str, Any]:
    """Commit of the source tree and whether tracked files differ from it (untracked files do not
    count: they cannot change what ran unless imported, and scratch files are common)."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(repo_dir), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def finite_metrics(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Tensor metrics as floats; non-finite values become None (JSON has no NaN)."""
    out = {}
    for key, value in sorted(metrics.items()):
        number = float(value.detach().cpu().item() if isinstance(value, torch.Tensor) else value)
        out[key] = number if math.isfinite(number) else None
    return out


def read_hydra_files(output_dir: Path) -> tuple[list[str] | None, dict[str, Any] | None]:
    """The overrides and group choices Hydra stored in <output_dir>/.hydra/ (None when the run was
    composed in-process, without Hydra's runtime)."""
    hydra_dir = output_dir / ".hydra"
    overrides = choices = None
    if (hydra_dir / "overrides.yaml").is_file():
        overrides = [str(o) for o in OmegaConf.to_container(OmegaConf.load(hydra_dir / "overrides.yaml"))]
    if (hydra_dir / "hydra.yaml").is_file():
        stored = OmegaConf.load(hydra_dir / "hydra.yaml")
        choices = OmegaConf.to_container(stored.hydra.runtime.choices) if "runtime" in stored.hydra else None
    return overrides, choices


def training_budget(trainer) -> dict:
    """What a finished fit had to do and whether it did: max_epochs / max_steps reached, or
    stopped by early stopping (that ends a full run too); `gaan.results_budget` reads it back."""
    max_epochs, max_steps = trainer.max_epochs, trainer.max_steps
    stopped_early = any(isinstance(c, EarlyStopping) and c.stopped_epoch > 0 for c in trainer.callbacks)
    reached_epochs = max_epochs is not None and max_epochs >= 0 and trainer.current_epoch >= max_epochs
    reached_steps = max_steps is not None and max_steps > 0 and trainer.global_step >= max_steps
    return {
        "max_epochs": max_epochs,
        "max_steps": max_steps,
        "stopped_early": stopped_early,
        "completed": bool(stopped_early or reached_epochs or reached_steps),
    }


class RunRecord(Callback):
    """Writes `<output_dir>/record.json` when a run's test ends (rank zero only).

    :param output_dir: the run folder (`${paths.output_dir}`)
    :param task, seed, monitor, monitor_mode, tags: from the composed config
    :param overrides, choices: the command-line overrides and config-group choices; None reads
        them from `<output_dir>/.hydra/` (written by `python train.py`)
    """

    def __init__(
        self,
        output_dir: str,
        task: str,
        seed: int | None = None,
        monitor: str | None = None,
        monitor_mode: str | None = None,
        tags: list[str] | None = None,
        overrides: list[str] | None = None,
        choices: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.output_dir = Path(output_dir)
        self.task, self.seed, self.monitor, self.monitor_mode = task, seed, monitor, monitor_mode
        self.tags = list(tags or [])
        self.overrides = None if overrides is None else [str(o) for o in overrides]
        self.choices = None if choices is None else dict(choices)
        self.fit_metrics: dict[str, float | None] = {}
        self.fit_seconds: float | None = None
        self.fit_steps = self.fit_epochs = 0
        self.budget: dict[str, Any] | None = None  # None: no fit in this process (test only)
        self.best: dict[str, Any] = {}
        self._started: dict[str, float] = {}
        self.resumed_from: str | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started["fit"] = time.perf_counter()
        # a resumed run's fit wall time covers this session only
        self.resumed_from = str(trainer.ckpt_path) if trainer.ckpt_path else None

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.fit_seconds = time.perf_counter() - self._started.pop("fit", time.perf_counter())
        self.fit_metrics = finite_metrics(trainer.callback_metrics)
        self.fit_steps, self.fit_epochs = int(trainer.global_step), int(trainer.current_epoch)
        self.budget = training_budget(trainer)
        checkpoint = trainer.checkpoint_callback
        score = getattr(checkpoint, "best_model_score", None)
        path = getattr(checkpoint, "best_model_path", "") or ""
        match = BEST_EPOCH_PATTERN.search(Path(path).name) if path else None
        self.best = {
            "val": None if score is None else finite_metrics({"v": score})["v"],
            "checkpoint": path or None,
            "epoch": int(match.group(1)) if match else None,
        }

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started["test"] = time.perf_counter()

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        test_seconds = time.perf_counter() - self._started.pop("test", time.perf_counter())
        if not trainer.is_global_zero:
            return
        record = self.record(trainer, pl_module, test_seconds)
        path = self.output_dir / RECORD_FILENAME
        write_json_atomically(path, record)
        log.info("Run record: %s", path)

    def record(self, trainer: L.Trainer, pl_module: L.LightningModule, test_seconds: float) -> dict[str, Any]:
        overrides, choices = self.overrides, self.choices
        if overrides is None or choices is None:
            stored_overrides, stored_choices = read_hydra_files(self.output_dir)
            overrides = stored_overrides if overrides is None else overrides
            choices = stored_choices if choices is None else choices
        choices = choices or {}
        run_config = getattr(pl_module, "run_config", None) or {}
        model_target = (run_config.get("model") or {}).get("_target_")
        # the test stage's metrics, and what it measures on other data (md17's val/nve_drift_max:
        # dynamics from validation frames, run after testing); fit's own val/ keys stay fit's
        test_metrics = finite_metrics(
            {k: v for k, v in trainer.callback_metrics.items() if k.startswith("test/") or k not in self.fit_metrics}
        )
        config_file = self.output_dir / ".hydra" / "config.yaml"
        return {
            "schema": RECORD_SCHEMA,
            "source": "run",
            "run_id": self.output_dir.name,
            "output_dir": str(self.output_dir),
            "task": self.task,
            "model": choices.get("model") or model_target,
            "preset": choices.get("experiment"),
            "debug": choices.get("debug") or (True if trainer.fast_dev_run else None),
            "command": overrides,
            "seed": self.seed,
            "tags": self.tags,
            "monitor": self.monitor,
            "monitor_mode": self.monitor_mode,
            "val": self.best.get("val"),
            "best_epoch": self.best.get("epoch"),
            "best_checkpoint": self.best.get("checkpoint"),
            "metrics": {**self.fit_metrics, **test_metrics},
            "global_steps": self.fit_steps,
            "epochs": self.fit_epochs,
            "budget": self.budget,
            "wall_time_s": {"fit": self.fit_seconds, "test": test_seconds},
            "resumed_from": self.resumed_from,
            "hardware": hardware(pl_module.device),
            "git": git_state(),
            "config_file": str(config_file) if config_file.is_file() else None,
            "config": run_config,
        }
