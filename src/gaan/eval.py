"""Hydra entry point: `python eval.py task=<name> ckpt_path=<file>` tests a checkpoint;
`'ckpt_path=[a.ckpt,b.ckpt,...]'` tests the ensemble of several (mean prediction);
`python eval.py task=md17 ckpt_path=<file> data=<file>` tests every frame of a data file
(`gaan.tasks.md17.file_evaluation`)."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig, ListConfig

from gaan.checkpoint_file import load_checkpoint
from gaan.checkpoints import check_stored_keys, config_with_stored_architecture, load_trained_module
from gaan.config_types import ConfigValueError, check_config_types
from gaan.console import interactive_console, quiet_known_noise, route_lightning_logs_to_root
from gaan.error_report import input_errors_in_one_line
from gaan.train import CONFIG_DIR, build_trainer, cli, instantiate_group, log_results, set_flush_denormal, wandb_runs_finished

__all__ = ["check_stored_keys", "checkpoint_paths", "evaluate", "load_checkpoint", "main", "member_config"]

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
    return config_with_stored_architecture(cfg, checkpoint, ckpt_path)


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
    # in_features: the checkpoint's own; checkpoints that do not store it take the datamodule's
    datamodule = None
    members = []
    for member_cfg, checkpoint, path in zip(member_cfgs, checkpoints, paths, strict=True):
        in_features = checkpoint.get("gaan_in_features")
        if in_features is None:
            datamodule = datamodule or hydra.utils.instantiate(cfg.task.datamodule)
            in_features = datamodule.num_features
        members.append(load_trained_module(path, config=member_cfg, in_features=in_features, checkpoint=checkpoint))
    if cfg.get("data"):
        from gaan.tasks.md17.file_evaluation import evaluate_file

        return evaluate_file(cfg.data, members, cfg.paths.output_dir)
    overrides = members[0].datamodule_overrides()
    for member, path in zip(members[1:], paths[1:], strict=True):
        if member.datamodule_overrides() != overrides:
            raise ValueError(f"{path} needs data {member.datamodule_overrides()}, {paths[0]} {overrides}: ensemble members must agree")
    if overrides or datamodule is None:
        datamodule = hydra.utils.instantiate(cfg.task.datamodule, **overrides)
    lead, *others = members
    lead.ensemble_members.extend(others)
    if others:
        log.info("Ensemble of %d checkpoints: %s", len(paths), ", ".join(map(str, paths)))
    loggers = instantiate_group(cfg.get("logger"), "logger")
    trainer = build_trainer(member_cfgs[0], lead, callbacks=[], loggers=loggers, progress_bar=interactive_console())
    with wandb_runs_finished(trainer):
        results = trainer.test(lead, datamodule=datamodule)
    metrics = {k: float(v) for k, v in (results[0] if results else {}).items()}
    if trainer.is_global_zero:
        log_results(metrics, cfg.paths.output_dir, prefixes=("test/",))
    return metrics


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
def main(cfg: DictConfig) -> None:
    with input_errors_in_one_line():
        evaluate(cfg)


if __name__ == "__main__":
    cli(main, config_name="eval")
