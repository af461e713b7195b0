"""Hydra entry point: `python train.py task=<name> model=<name> [overrides]`."""

from __future__ import annotations

import difflib
import logging
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from gaan.checkpoint_file import load_checkpoint
from gaan.checkpoints import architecture_differences, run_overrides
from gaan.config_types import CONFIG_DIR, check_config_types
from gaan.console import interactive_console, quiet_known_noise, route_lightning_logs_to_root
from gaan.error_report import input_errors_in_one_line
from gaan.task_builder import build_task_module

log = logging.getLogger("gaan.train")

# Groups a user picks with `group=option`; a wrong option gets a hint listing the valid ones.
CHOICE_GROUPS = ("task", "model", "trainer", "logger", "callbacks", "experiment", "hparams_search", "debug", "paths", "hydra/launcher")
SLURM_LAUNCHERS = ("slurm", "submitit_slurm")


def available_choices(group: str, config_dir: Path = CONFIG_DIR) -> list[str]:
    folder = config_dir / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def command_overrides(argv: Sequence[str]) -> list[tuple[str, str, str]]:
    """(prefix, key, value) of each `key=value` argument (prefix: '', '+', '++' or '~')."""
    overrides = []
    for arg in argv:
        if "=" not in arg or arg.startswith("-"):
            continue
        key, value = arg.split("=", 1)
        prefix = key[: len(key) - len(key.lstrip("+~"))]
        overrides.append((prefix, key[len(prefix) :], value))
    return overrides


def option_values(value: str) -> list[str]:
    """`a`, sweep `a,b`, or list `[a,b]` -> the option names."""
    return [v.strip() for v in value.strip("[]").split(",") if v.strip()]


def config_keys(node: Any, prefix: str = "") -> list[str]:
    """Every dotted key of a (nested) container."""
    keys = []
    if isinstance(node, dict):
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            keys.append(dotted)
            keys.extend(config_keys(value, dotted + "."))
    return keys


def config_hint(argv: Sequence[str], config_dir: Path = CONFIG_DIR, config_name: str = "train") -> str:
    """After a failed launch: one line naming each group option on the command line that does not
    exist (with the valid ones) and each key that is not in the composed config (with the close
    ones, `trainer.max_epoch` -> `trainer.max_epochs`). Empty when every option and key exists:
    the failure is not about the config, and Hydra's own message stands alone."""
    problems, group_overrides, keys = [], [], []
    for prefix, key, value in command_overrides(argv):
        if key in CHOICE_GROUPS:
            choices = available_choices(key, config_dir)
            wrong = [v for v in option_values(value) if v not in choices and v not in ("null", "none") and choices]
            if wrong:
                problems.append(f"{key}={','.join(wrong)} is not one of [{', '.join(choices)}] (files in {config_dir}/{key}/)")
            elif value and prefix != "~":
                group_overrides.append(f"{prefix}{key}={option_values(value)[0]}")
        elif prefix in ("", "~"):
            keys.append(key)
    if keys and not problems:
        try:
            composed = compose_config(group_overrides, config_name=config_name, return_hydra_config=True)
        except Exception:  # noqa: BLE001 - the hint is best-effort; Hydra already reported the error
            composed = None
        if composed is not None:
            known = config_keys(OmegaConf.to_container(composed, resolve=False))
            for key in keys:
                if key not in known:
                    close = difflib.get_close_matches(key, known, n=3, cutoff=0.8)
                    suggestion = f"did you mean {' or '.join(close)}?" if close else f"add a new key with +{key}=..."
                    problems.append(f"{key} is not a config key; {suggestion}")
    if not problems:
        return ""
    script = "eval.py" if config_name == "eval" else "train.py"
    stop = "" if problems[-1].endswith("?") else "."
    return "Hint: " + "; ".join(problems) + f"{stop} See every key with `python {script} --cfg job`."


def slurm_unavailable(argv: Sequence[str]) -> str:
    """The error for a SLURM sweep launched where SLURM is not installed (submitit otherwise
    fails with a traceback about `srun`); empty when SLURM is not asked for or is here."""
    multirun = any(arg in ("-m", "--multirun") for arg in argv)
    wants_slurm = any(key == "hydra/launcher" and value in SLURM_LAUNCHERS for _, key, value in command_overrides(argv))
    if not (multirun and wants_slurm) or (shutil.which("sbatch") and shutil.which("srun")):
        return ""
    return (
        "Error: no SLURM here: sbatch/srun not found on PATH, so hydra/launcher=slurm cannot submit jobs. "
        "Launch from a SLURM login node, or drop hydra/launcher=slurm to run the sweep on this machine."
    )


def compose_config(overrides: Sequence[str] = (), config_name: str = "train", return_hydra_config: bool = False) -> DictConfig:
    """Compose a config in-process (tests, notebooks). Without Hydra's runtime,
    `paths.output_dir` must be given as an override."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides), return_hydra_config=return_hydra_config)


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
    """Task module for a datamodule's features (`gaan.task_builder.build_task_module`)."""
    return build_task_module(cfg, datamodule.num_features)


def set_flush_denormal(cfg: DictConfig) -> None:
    """Config key `flush_denormal`: treat subnormal floats as zero on x86 CPUs, where they take a
    slow path (a trained N-body model stepped up to 2.3x faster, bench/flush_denormal.py). The
    flag is per thread and new threads copy it, so this runs before any parallel torch work:
    the intra-op thread pool, created then, inherits it."""
    import torch

    torch.set_flush_denormal(bool(cfg.get("flush_denormal", False)))


def build_trainer(cfg: DictConfig, module, callbacks: list, loggers: list, progress_bar: bool = True):
    """`progress_bar=False` drops progress-bar callbacks and Lightning's default bar."""
    import lightning as L
    from lightning.pytorch.callbacks import LearningRateMonitor, ProgressBar

    trainer_kwargs: dict[str, Any] = {"logger": loggers or False}
    if not progress_bar:
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
        trainer_kwargs["enable_progress_bar"] = False
    if not loggers and any(isinstance(c, LearningRateMonitor) for c in callbacks):
        log.info("No logger (logger=none): the learning-rate monitor is off")
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    trainer_kwargs["callbacks"] = callbacks
    if module.needs_grad_in_eval:
        trainer_kwargs["inference_mode"] = False  # forces = -dE/dx need autograd in val/test
    trainer = hydra.utils.instantiate(cfg.trainer, **trainer_kwargs)
    assert isinstance(trainer, L.Trainer)
    return trainer


def check_resume_checkpoint(cfg: DictConfig, ckpt_path: str) -> None:
    """The checkpoint to resume must be readable and hold this run's architecture; each failure
    names the file (and which file `last` picked) and what to do."""
    picked = (
        f"ckpt_path=last picked {ckpt_path} (the newest last.ckpt under {Path(cfg.paths.log_dir, cfg.task.name)})"
        if cfg.get("ckpt_path") == "last"
        else f"ckpt_path={ckpt_path}"
    )
    try:
        checkpoint = load_checkpoint(ckpt_path)
    except ValueError as error:
        raise ValueError(f"{error}{'' if cfg.get('ckpt_path') != 'last' else ' (' + picked + ')'}") from error
    stored = checkpoint.get("gaan_config")
    if stored is None:
        return
    current = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("task", "model")}
    differences = architecture_differences(stored, current)
    if differences:
        overrides = run_overrides(ckpt_path)
        how = (
            f"resume with the overrides it was trained with ({' '.join(overrides) or 'none'})"
            if overrides is not None
            else "resume with the model and head overrides it was trained with"
        )
        raise ValueError(
            f"{picked}: its architecture differs from this run's: {'; '.join(differences)}. "
            f"To continue that run, {how}; to train this model from scratch, leave out ckpt_path."
        )


def run_summary(cfg: DictConfig) -> str:
    """The one-line config summary a run starts with."""
    if HydraConfig.initialized():
        choices = HydraConfig.get().runtime.choices
        groups = [f"{g}={choices[g]}" for g in ("task", "model", "trainer", "logger", "callbacks", "experiment", "debug") if choices.get(g)]
    else:
        groups = [f"task={cfg.task.name}", f"model={cfg.model._target_.rsplit('.', 1)[-1]}"]
    epochs = cfg.trainer.get("max_epochs")
    return f"Run: {' '.join(groups)} | seed {cfg.get('seed')}, max_epochs {epochs} | outputs in {cfg.paths.output_dir}"


def log_results(metrics: dict[str, float], output_dir: str, prefixes: tuple[str, ...] = ("test/", "val/")) -> None:
    summary = ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()) if k.startswith(prefixes))
    log.info("Final metrics: %s", summary)
    log.info("Outputs in %s", output_dir)


def profiler_reports(trainer) -> list[Path]:
    """Files the configured profiler wrote (`debug=profiler`: fit-profile.txt, test-profile.txt)."""
    dirpath, filename = getattr(trainer.profiler, "dirpath", None), getattr(trainer.profiler, "filename", None)
    if not dirpath or not filename:
        return []
    return sorted(Path(dirpath).glob(f"*{filename}*.txt"))


def run(cfg: DictConfig) -> dict[str, float]:
    """Fit (optionally resuming), then test the best checkpoint. Returns the final metrics."""
    import lightning as L

    check_config_types(cfg)
    route_lightning_logs_to_root()
    quiet_known_noise()
    set_flush_denormal(cfg)
    log.info(run_summary(cfg))
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), cfg.paths.log_dir, cfg.task.name) if cfg.get("train", True) else None
    if ckpt_path:
        check_resume_checkpoint(cfg, ckpt_path)
    datamodule = hydra.utils.instantiate(cfg.task.datamodule)
    module = build_module(cfg, datamodule)
    callbacks = instantiate_group(cfg.get("callbacks"), "callbacks")
    loggers = instantiate_group(cfg.get("logger"), "logger")
    trainer = build_trainer(cfg, module, callbacks, loggers, progress_bar=interactive_console())

    with wandb_runs_finished(trainer):
        return fit_and_test(cfg, trainer, module, datamodule, ckpt_path)


def fit_and_test(cfg: DictConfig, trainer, module, datamodule, ckpt_path: str | None) -> dict[str, float]:
    from lightning.pytorch.loggers import WandbLogger

    hparams = OmegaConf.to_container(cfg, resolve=True)
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams)
        if isinstance(logger, WandbLogger) and cfg.get("log_gradients"):
            logger.watch(module, log="gradients", log_freq=100)

    metrics: dict[str, float] = {}
    if cfg.get("train", True):
        if ckpt_path:
            picked = " (ckpt_path=last: the newest last.ckpt of this task)" if cfg.get("ckpt_path") == "last" else ""
            log.info("Resuming from %s%s", ckpt_path, picked)
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    if cfg.get("test", True):
        best = getattr(trainer.checkpoint_callback, "best_model_path", "") if trainer.checkpoint_callback else ""
        if not best:
            log.info("No best checkpoint (fast_dev_run or no monitor): testing the current weights")
        results = trainer.test(module, datamodule=datamodule, ckpt_path=best or None)
        metrics.update({k: float(v) for k, v in (results[0] if results else {}).items()})
    if trainer.is_global_zero:
        reports = profiler_reports(trainer)
        if reports:
            log.info("Profiler reports: %s", ", ".join(str(p) for p in reports))
        log_results(metrics, cfg.paths.output_dir)
    return metrics


def finish_wandb_runs(trainer, exit_code: int = 0) -> None:
    """Close the wandb run a WandbLogger opened (no-op without one)."""
    from lightning.pytorch.loggers import WandbLogger

    if any(isinstance(logger, WandbLogger) for logger in trainer.loggers):
        import wandb

        wandb.finish(exit_code=exit_code)


@contextmanager
def wandb_runs_finished(trainer) -> Iterator[None]:
    """Around a trainer's work (train.py's fit and test, eval.py's test): its wandb run is closed
    when the work ends, marked failed if it raised. A crashed run left open stays "running" and
    the next wandb.init in this process (a sweep, a notebook, the tests) attaches to it."""
    completed = False
    try:
        yield
        completed = True
    finally:
        finish_wandb_runs(trainer, exit_code=0 if completed else 1)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    with input_errors_in_one_line():
        metrics = run(cfg)
    metric_name = cfg.get("optimized_metric")
    if metric_name:
        if metric_name not in metrics:
            raise KeyError(f"optimized_metric={metric_name} was not logged; logged: {sorted(metrics)}")
        return metrics[metric_name]
    return None


def cli(entry=None, config_name: str = "train") -> None:
    """Run a Hydra main (`entry`, composed from `config_name`); when it fails, add a hint about
    a wrong group option or config key on the command line, if there is one."""
    entry = entry or main
    quiet_known_noise()
    unavailable = slurm_unavailable(sys.argv[1:])
    if unavailable:
        print(unavailable, file=sys.stderr)
        raise SystemExit(1)
    try:
        entry()
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            hint = config_hint(sys.argv[1:], config_name=config_name)
            if hint:
                print(hint, file=sys.stderr)
        raise


if __name__ == "__main__":
    cli()
