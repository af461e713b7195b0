"""Hydra entry point: `python eval.py task=<name> ckpt_path=<file>` tests a checkpoint;
`'ckpt_path=[a.ckpt,b.ckpt,...]'` tests the ensemble of several (mean prediction)."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig, ListConfig, OmegaConf

from gaan.checkpoints import load_checkpoint
from gaan.config_types import ConfigValueError, check_config_types
from gaan.console import interactive_console, quiet_known_noise, route_lightning_logs_to_root
from gaan.error_report import input_errors_in_one_line
from gaan.models.config_migration import migrate_model_config
from gaan.train import CONFIG_DIR, build_module, build_trainer, cli, finish_wandb_runs, instantiate_group, log_results, set_flush_denormal

__all__ = ["checkpoint_paths", "evaluate", "load_checkpoint", "main", "member_config"]

log = logging.getLogger("gaan.eval")


def checkpoint_paths(ckpt_path) -> list[Path]:
    """`ckpt_path=<file>` or `'ckpt_path=[a.ckpt,b.ckpt]'` (an ensemble); each file must exist."""
    if ckpt_path in (None, ""):
        raise ConfigValueError(
            "ckpt_path is not set: pass ckpt_path=<path/to/file.ckpt> (train.py writes logs/<task>/runs/<timestamp>/checkpoints/"
            "best-epochNNN.ckpt and last.ckpt), or 'ckpt_path=[a.ckpt,b.ckpt]' to test an ensemble"
        )
    paths = [Path(p) for p in (ckpt_path if isinstance(ckpt_path, (list, ListConfig)) else [ckpt_path])]
    if not paths:
        raise ConfigValueError("ckpt_path=[]: name at least one checkpoint file")
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"ckpt_path={path}: no such checkpoint file (train.py writes <output_dir>/checkpoints/*.ckpt)")
    return paths


def member_config(cfg: DictConfig, checkpoint: dict, ckpt_path: Path) -> DictConfig:
    """The command line's config with the architecture (model, task.head) the checkpoint stores."""
    cfg = copy.deepcopy(cfg)  # members must not share (and overwrite) nested nodes
    stored = checkpoint.get("gaan_config")
    OmegaConf.set_struct(cfg, False)
    if stored is not None:
        if stored["task"]["name"] != cfg.task.name:
            raise ValueError(f"{ckpt_path} was trained on task={stored['task']['name']}, not task={cfg.task.name}")
        # the weights fix the architecture: use the stored model config
        # replace, not merge: keys differ per model; configs stored before the composable GA
        # backbone are rewritten in today's form (same weights)
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


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test metrics of one checkpoint, or of the ensemble of several (mean prediction; members
    may differ in architecture, not in task)."""
    import lightning as L

    check_config_types(cfg)
    route_lightning_logs_to_root()
    quiet_known_noise()
    set_flush_denormal(cfg)
    paths = checkpoint_paths(cfg.ckpt_path)
    checkpoints = [load_checkpoint(path) for path in paths]
    member_cfgs = [member_config(cfg, checkpoint, path) for checkpoint, path in zip(checkpoints, paths)]
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = hydra.utils.instantiate(cfg.task.datamodule)
    members = []
    for member_cfg, checkpoint in zip(member_cfgs, checkpoints):
        module = build_module(member_cfg, datamodule)
        module.load_state_dict(checkpoint["state_dict"])
        members.append(module)
    lead, *others = members
    lead.ensemble_members.extend(others)
    if others:
        log.info("Ensemble of %d checkpoints: %s", len(paths), ", ".join(map(str, paths)))
    loggers = instantiate_group(cfg.get("logger"), "logger")
    trainer = build_trainer(member_cfgs[0], lead, callbacks=[], loggers=loggers, progress_bar=interactive_console())
    completed = False
    try:
        results = trainer.test(lead, datamodule=datamodule)
        completed = True
    finally:
        finish_wandb_runs(trainer, exit_code=0 if completed else 1)
    metrics = {k: float(v) for k, v in (results[0] if results else {}).items()}
    if trainer.is_global_zero:
        log_results(metrics, cfg.paths.output_dir, prefixes=("test/",))
    return metrics


def check_stored_keys(group: str, group_cfg: DictConfig, ckpt_path: Path) -> None:
    """A checkpoint trained with an option that this version no longer has (a reverted
    experiment) names the option instead of failing inside the constructor. A removed option
    stored as off (null or false) is dropped: the function without it is the same."""
    import inspect

    parameters = inspect.signature(hydra.utils.get_class(group_cfg._target_).__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    removed = [key for key in group_cfg if key != "_target_" and key not in parameters]
    unknown = [f"{group}.{key}={group_cfg[key]!r}" for key in removed if group_cfg[key] not in (None, False)]
    if unknown:
        raise ValueError(
            f"{ckpt_path} was trained with {group} options this version of gaan does not have: {', '.join(unknown)}; "
            "evaluate it with the gaan commit that trained it (removed options are listed in docs/results.md)"
        )
    for key in removed:
        log.info("%s: dropping %s.%s=%s (an option this version does not have, stored as off)", ckpt_path, group, key, group_cfg[key])
        del group_cfg[key]


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
def main(cfg: DictConfig) -> None:
    with input_errors_in_one_line():
        evaluate(cfg)


if __name__ == "__main__":
    cli(main, config_name="eval")
