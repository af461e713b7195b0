"""Reading checkpoints written by train.py, with errors that name the file and what to do.

`load_trained_module` is the one way from a checkpoint to a model that predicts: eval.py,
gaan-backmap and the ASE calculator (`gaan.ase`) all use it; no Trainer or data module is needed.
"""

from __future__ import annotations

import copy
import inspect
import logging
from pathlib import Path
from typing import Any

import hydra
import yaml
from omegaconf import DictConfig, OmegaConf

from gaan.checkpoint_file import load_checkpoint
from gaan.models.config_migration import migrate_model_config
from gaan.task_builder import build_task_module

log = logging.getLogger(__name__)

ARCHITECTURE_KEYS = ("model", "task.head")  # the stored config entries that fix the weights' shapes


def stored_entry(stored: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        stored = (stored or {}).get(part)
    return stored


def architecture_differences(stored: dict, current: dict) -> list[str]:
    """`model.width: 16 in the checkpoint, 32 now` for every architecture key that differs
    between a checkpoint's stored config (`gaan_config`) and the current run's resolved one."""
    differences = []
    for entry in ARCHITECTURE_KEYS:
        old, new = stored_entry(stored, entry) or {}, stored_entry(current, entry) or {}
        for key in sorted(set(old) | set(new)):
            if (key in old) != (key in new) and (old.get(key) in (None, False) and new.get(key) in (None, False)):
                continue  # an option added or removed since, off on the side that has it: same function
            if old.get(key) != new.get(key):
                differences.append(f"{entry}.{key}: {old.get(key)!r} in the checkpoint, {new.get(key)!r} now")
    return differences


def run_overrides(ckpt_path: str | Path) -> list[str] | None:
    """The command-line overrides of the run that wrote `<run>/checkpoints/<file>.ckpt`."""
    overrides = Path(ckpt_path).resolve().parents[1] / ".hydra" / "overrides.yaml"
    if not overrides.is_file():
        return None
    return yaml.safe_load(overrides.read_text()) or []


class CheckpointError(ValueError):
    """A checkpoint that cannot give a model; the message names the file and what it lacks."""


def config_with_stored_architecture(cfg: DictConfig | None, checkpoint: dict, ckpt_path: str | Path) -> DictConfig:
    """The checkpoint's architecture (model, task.head, optimizer) in `cfg` (a command line's
    config: its task settings are kept), or the stored config alone when `cfg` is None."""
    stored = checkpoint.get("gaan_config")  # class paths already today's (checkpoint_file)
    if cfg is None:
        if stored is None:
            raise CheckpointError(f"{ckpt_path}: no gaan_config (not written by train.py): its model and task are unknown")
        cfg = OmegaConf.create({"task": stored["task"], "scheduler": None, "compile": False})
    cfg = copy.deepcopy(cfg)  # ensemble members must not share (and overwrite) nested nodes
    OmegaConf.set_struct(cfg, False)
    if stored is not None:
        if stored["task"]["name"] != cfg.task.name:
            raise CheckpointError(f"{ckpt_path} was trained on task={stored['task']['name']}, not task={cfg.task.name}")
        # the weights fix the architecture: replace, not merge (keys differ per model); configs
        # stored before the composable GA backbone are rewritten in today's form (same weights)
        cfg.model = OmegaConf.create(migrate_model_config(stored["model"]))
        check_stored_keys("model", cfg.model, ckpt_path)
        # the head is architecture too (e.g. task.head.parity changes the function, not the weights)
        cfg.task.head = OmegaConf.create(stored["task"]["head"])
        check_stored_keys("task.head", cfg.task.head, ckpt_path)
        cfg.optimizer = OmegaConf.create(stored.get("optimizer") or {"_target_": "torch.optim.Adam"})
    else:
        cfg.optimizer = {"_target_": "torch.optim.Adam"}  # unused by testing, required to build
        log.info("%s has no gaan_config (not written by train.py): model and head come from the command line", ckpt_path)
    OmegaConf.set_struct(cfg, True)
    return cfg


def check_stored_keys(group: str, group_cfg: DictConfig, ckpt_path: str | Path) -> None:
    """A checkpoint trained with an option that this version no longer has (a reverted
    experiment) names the option instead of failing inside the constructor. A removed option
    stored as off (null or false) is dropped: the function without it is the same."""
    parameters = inspect.signature(hydra.utils.get_class(group_cfg._target_).__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    removed = [key for key in group_cfg if key != "_target_" and key not in parameters]
    unknown = [f"{group}.{key}={group_cfg[key]!r}" for key in removed if group_cfg[key] not in (None, False)]
    if unknown:
        raise CheckpointError(
            f"{ckpt_path} was trained with {group} options this version of gaan does not have: {', '.join(unknown)}; "
            "evaluate it with the gaan commit that trained it (removed options are listed in docs/results.md)"
        )
    for key in removed:
        log.info("%s: dropping %s.%s=%s (an option this version does not have, stored as off)", ckpt_path, group, key, group_cfg[key])
        del group_cfg[key]


def load_trained_module(
    ckpt_path: str | Path,
    *,
    config: DictConfig | None = None,
    in_features: int | None = None,
    checkpoint: dict | None = None,
) -> Any:
    """The trained task module of a checkpoint written by train.py, in eval mode on the CPU.

    :param config: a command line's config whose task settings to use (eval.py); None: the
        checkpoint's own. The architecture always comes from the checkpoint.
    :param in_features: input features per point; None: the number the checkpoint stores
        (written since the checkpoint stored it; protein checkpoints: pass it).
    :param checkpoint: the already read checkpoint dict of `ckpt_path`.
    """
    checkpoint = load_checkpoint(ckpt_path) if checkpoint is None else checkpoint
    cfg = config_with_stored_architecture(config, checkpoint, ckpt_path)
    in_features = in_features if in_features is not None else checkpoint.get("gaan_in_features")
    if in_features is None:
        raise CheckpointError(f"{ckpt_path}: it does not store its number of input features (written before gaan did); pass in_features")
    module = build_task_module(cfg, in_features)
    try:
        missing, unexpected = module.load_state_dict(checkpoint["state_dict"], strict=False)
    except RuntimeError as error:  # shapes differ
        raise CheckpointError(f"{ckpt_path}: its weights do not fit the architecture it stores ({error})") from error
    lacking = module.describe_missing_state(missing) if missing else None
    if lacking:
        raise CheckpointError(f"{ckpt_path}: {lacking}")
    if missing or unexpected:
        raise CheckpointError(
            f"{ckpt_path}: its weights do not fit the architecture it stores "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
    return module.eval()
