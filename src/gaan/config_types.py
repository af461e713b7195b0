"""Typed checks of config values where they enter a run: a value of the wrong kind (a word where
a number belongs: `optimizer.lr=fast`) is named with its key and the expected type before
anything deep inside torch or Lightning trips over it with an error that names neither."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

# the config tree (conf/): what train.py and eval.py compose, and where gaan.results reads each
# task's `results:` entry; GAAN_CONFIG_DIR points elsewhere
CONFIG_DIR = Path(os.environ.get("GAAN_CONFIG_DIR", Path(__file__).resolve().parents[2] / "conf"))


class ConfigValueError(ValueError):
    """A config value of the wrong kind or range; the message names the key, the value and what
    is expected. The entry points print it as one line (gaan.error_report)."""


NUMBER = "a number"
INTEGER = "an integer"
BOOLEAN = "true or false"

# key -> (expected kind, null allowed). Keys absent from a config are not checked.
EXPECTED = {
    "seed": (INTEGER, True),
    # trainer before scheduler: scheduler.T_max interpolates trainer.max_epochs, and the error
    # should name the key that was set
    "trainer.max_epochs": (INTEGER, True),
    "trainer.max_steps": (INTEGER, True),
    "trainer.min_epochs": (INTEGER, True),
    "trainer.check_val_every_n_epoch": (INTEGER, True),
    "trainer.val_check_interval": (NUMBER, True),
    "trainer.limit_train_batches": (NUMBER, True),
    "trainer.limit_val_batches": (NUMBER, True),
    "trainer.limit_test_batches": (NUMBER, True),
    "trainer.log_every_n_steps": (INTEGER, True),
    "trainer.gradient_clip_val": (NUMBER, True),
    "trainer.accumulate_grad_batches": (INTEGER, False),
    "optimizer.lr": (NUMBER, False),
    "optimizer.weight_decay": (NUMBER, False),
    "optimizer.momentum": (NUMBER, False),
    "scheduler.T_max": (INTEGER, False),
    "scheduler.warmup_epochs": (INTEGER, False),
    "task.datamodule.batch_size": (INTEGER, False),
    "task.datamodule.num_workers": (INTEGER, False),
    "model.width": (INTEGER, False),
    "model.depth": (INTEGER, False),
    "model.dropout": (NUMBER, False),
    "checkpoint_every_n_steps": (INTEGER, False),
    "train": (BOOLEAN, False),
    "test": (BOOLEAN, False),
    "compile": (BOOLEAN, False),
    "flush_denormal": (BOOLEAN, False),
}


def is_kind(value, kind: str) -> bool:
    if kind == BOOLEAN:
        return isinstance(value, bool)
    if isinstance(value, bool):  # bool is an int subclass, but true is not a learning rate
        return False
    return isinstance(value, int) if kind == INTEGER else isinstance(value, (int, float))


def as_written(value) -> str:
    """The value as a command line writes it (`true`, not Python's `True`)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def describe(value) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, bool):
        return f"the boolean {as_written(value)}"
    if isinstance(value, (int, float)):
        return f"the {'integer' if isinstance(value, int) else 'number'} {value!r}"
    return f"a {type(value).__name__}"


ABSENT = object()


def check_config_types(cfg: DictConfig) -> None:
    """Raise ConfigValueError for the first key of EXPECTED whose value has the wrong kind."""
    for key, (kind, nullable) in EXPECTED.items():
        value = OmegaConf.select(cfg, key, default=ABSENT, throw_on_missing=False)
        if value is ABSENT:
            continue
        if value is None and nullable:
            continue
        if not is_kind(value, kind):
            null = " or null" if nullable else ""
            raise ConfigValueError(f"{key}={as_written(value)}: expected {kind}{null}, got {describe(value)}")
