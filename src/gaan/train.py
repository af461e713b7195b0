"""Hydra entry point: `python train.py task=<name> model=<name> [overrides]`."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import hydra
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("gaan.train")

CONFIG_DIR = Path(os.environ.get("GAAN_CONFIG_DIR", Path(__file__).resolve().parents[2] / "conf"))
# Groups a user picks with `group=option`; listed in the hint when a choice is wrong.
CHOICE_GROUPS = ("task", "model", "trainer", "logger", "callbacks", "experiment", "hparams_search", "debug", "paths", "hydra/launcher")


_CONFIG_COMPOSED = False  # set once Hydra hands a composed config to the task function


def available_choices(group: str, config_dir: Path = CONFIG_DIR) -> list[str]:
    folder = config_dir / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def config_hint(argv: Sequence[str], config_dir: Path = CONFIG_DIR) -> str:
    """One line naming the valid options for every group the command line mentions (or the
    main groups when none was mentioned), to print after Hydra's own error."""
    wrong, mentioned = [], []
    for arg in argv:
        if "=" not in arg or arg.startswith("-"):
            continue
        key, value = arg.split("=", 1)
        key = key.lstrip("+~")
        if key in CHOICE_GROUPS:
            mentioned.append(key)
            choices = available_choices(key, config_dir)
            if value not in choices and value != "null":
                wrong.append(f"{key}={value} is not one of [{', '.join(choices)}]")
    if wrong:
        return "Hint: " + "; ".join(wrong) + f" (files in {config_dir}/<group>/)."
    groups = mentioned or ["task", "model", "trainer", "logger"]
    listing = "; ".join(f"{g}: {', '.join(available_choices(g, config_dir))}" for g in groups)
    return f"Hint: available choices -> {listing}. See every key with `python train.py --cfg job`."


def compose_config(overrides: Sequence[str] = (), config_name: str = "train") -> DictConfig:
    """Compose a config in-process (tests, notebooks). Without Hydra's runtime,
    `paths.output_dir` must be given as an override."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides))


def resolve_ckpt_path(ckpt_path: str | None, log_dir: str | Path, task_name: str) -> str | None:
    """`last` -> the newest last.ckpt of this task's runs and multiruns; a path must exist."""
    if ckpt_path in (None, "", "null"):
        return None
    if ckpt_path == "last":
        candidates = sorted(Path(log_dir, task_name).glob("**/checkpoints/last*.ckpt"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise FileNotFoundError(
                f"ckpt_path=last: no last.ckpt under {Path(log_dir, task_name)}/**/checkpoints/; "
                "train first, or pass ckpt_path=<path/to/file.ckpt>"
            )
        return str(candidates[-1])
    if not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    return str(ckpt_path)


def instantiate_group(group_cfg: DictConfig | None, kind: str) -> list[Any]:
    """Instantiate each `_target_` entry of a callbacks/logger group; `null` entries are off."""
    objects = []
    for name, entry in (group_cfg or {}).items():
        if entry is None:
            continue
        if not isinstance(entry, DictConfig) or "_target_" not in entry:
            raise ValueError(f"{kind}.{name} must be a mapping with a _target_ (got {entry!r})")
        objects.append(hydra.utils.instantiate(entry))
    return objects


def build_module(cfg: DictConfig, datamodule) -> Any:
    """Task module = the task's LightningModule with the model config's backbone and the task
    config's head; optimizer and scheduler come from the top-level config."""
    backbone = hydra.utils.instantiate(cfg.model, _partial_=True)
    head = hydra.utils.instantiate(cfg.task.head, _partial_=True)
    optimizer = hydra.utils.instantiate(cfg.optimizer, _partial_=True)
    scheduler = hydra.utils.instantiate(cfg.scheduler, _partial_=True) if cfg.get("scheduler") else None
    module = hydra.utils.instantiate(cfg.task.module, _partial_=True)(
        backbone=backbone,
        head=head,
        in_features=datamodule.num_features,
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval=cfg.get("scheduler_interval", "epoch"),
        compile=cfg.get("compile", False),
    )
    # stored in every checkpoint, so eval.py rebuilds the same architecture
    module.run_config = {
        key: OmegaConf.to_container(cfg[key], resolve=True) if cfg.get(key) is not None else None
        for key in ("task", "model", "optimizer", "scheduler")
    }
    return module


def set_flush_denormal(cfg: DictConfig) -> None:
    """Config key `flush_denormal`: treat subnormal floats as zero on x86 CPUs, where they take a
    slow path (a trained N-body model stepped up to 2.3x faster, bench/flush_denormal.py). The
    flag is per thread and new threads copy it, so this runs before any parallel torch work:
    the intra-op thread pool, created then, inherits it."""
    import torch

    torch.set_flush_denormal(bool(cfg.get("flush_denormal", False)))


def build_trainer(cfg: DictConfig, module, callbacks: list, loggers: list):
    import lightning as L

    trainer_kwargs: dict[str, Any] = {"callbacks": callbacks, "logger": loggers or False}
    if module.needs_grad_in_eval:
        trainer_kwargs["inference_mode"] = False  # forces = -dE/dx need autograd in val/test
    trainer = hydra.utils.instantiate(cfg.trainer, **trainer_kwargs)
    assert isinstance(trainer, L.Trainer)
    return trainer


def run(cfg: DictConfig) -> dict[str, float]:
    """Fit (optionally resuming), then test the best checkpoint. Returns the final metrics."""
    import lightning as L
    from lightning.pytorch.loggers import WandbLogger

    set_flush_denormal(cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.task.datamodule)
    module = build_module(cfg, datamodule)
    callbacks = instantiate_group(cfg.get("callbacks"), "callbacks")
    loggers = instantiate_group(cfg.get("logger"), "logger")
    trainer = build_trainer(cfg, module, callbacks, loggers)

    hparams = OmegaConf.to_container(cfg, resolve=True)
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams)
        if isinstance(logger, WandbLogger) and cfg.get("log_gradients"):
            logger.watch(module, log="gradients", log_freq=100)

    metrics: dict[str, float] = {}
    if cfg.get("train", True):
        ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), cfg.paths.log_dir, cfg.task.name)
        if ckpt_path:
            log.info("Resuming from %s", ckpt_path)
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    if cfg.get("test", True):
        best = getattr(trainer.checkpoint_callback, "best_model_path", "") if trainer.checkpoint_callback else ""
        if not best:
            log.info("No best checkpoint (fast_dev_run or no monitor): testing the current weights")
        results = trainer.test(module, datamodule=datamodule, ckpt_path=best or None)
        metrics.update({k: float(v) for k, v in (results[0] if results else {}).items()})
    if trainer.is_global_zero:
        summary = ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()) if k.startswith(("test/", "val/")))
        log.info("Final metrics: %s", summary)
        log.info("Outputs in %s", cfg.paths.output_dir)
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            import wandb

            wandb.finish()
    return metrics


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    global _CONFIG_COMPOSED
    _CONFIG_COMPOSED = True
    metrics = run(cfg)
    metric_name = cfg.get("optimized_metric")
    if metric_name:
        if metric_name not in metrics:
            raise KeyError(f"optimized_metric={metric_name} was not logged; logged: {sorted(metrics)}")
        return metrics[metric_name]
    return None


def cli(entry=None) -> None:
    """Run a Hydra main, adding a one-line hint about valid choices when the config fails."""
    entry = entry or main
    try:
        entry()
    except SystemExit as exit_:
        # only composition errors get the hint; failures inside a run have their own message
        if exit_.code not in (0, None) and not _CONFIG_COMPOSED:
            print(config_hint(sys.argv[1:]), file=sys.stderr)
        raise


if __name__ == "__main__":
    cli()
