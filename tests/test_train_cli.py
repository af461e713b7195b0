"""The train.py / eval.py command lines (subprocesses). Slow ones are marked."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
SMALL = [
    "task.datamodule.num_samples=192",
    "task.datamodule.batch_size=32",
    "model.width=16",
    "callbacks.rich_progress_bar=null",
    "callbacks.model_summary=null",
    "trainer.enable_progress_bar=false",
]


def train(*overrides: str, script: str = "train.py", timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / script), *overrides], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def paths(tmp_path: Path) -> list[str]:
    return [f"paths.data_dir={tmp_path}/data", f"paths.log_dir={tmp_path}/logs"]


def test_unknown_task_prints_hydra_error_and_choices(tmp_path):
    result = train("task=nope", *paths(tmp_path))
    assert result.returncode == 1
    assert "Could not find 'task/nope'" in result.stderr
    assert "Hint: task=nope is not one of [" in result.stderr and "synthetic_cubic" in result.stderr


# Lines every run used to print that carry nothing a user acts on (issue 23)
NOISE = (
    "LeafSpec",
    "💡",
    "litlogger",
    "litmodels",
    "Total FLOPs",
    "already configured with model summary",
    "log_every_n_steps",
    "anonymous setting",
    "fftpack",
    "setup plugin",
    "dirpath has changed",
)


def test_default_console_shows_summary_epochs_metrics_and_outputs_and_no_noise(tmp_path):
    """Output redirected (as in every cluster job): a config summary, one line per epoch, the
    metrics table and where the outputs are; no line printed twice, none of the known noise."""
    result = train(
        "debug=limit",
        "model=deepsets",
        "task.datamodule.num_samples=192",
        "task.datamodule.batch_size=32",
        *paths(tmp_path),
        f"hydra.run.dir={tmp_path}/run",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    console = result.stdout + result.stderr
    assert not [marker for marker in NOISE if marker in console], console
    lines = [line.split("] - ", 1)[-1] for line in console.splitlines() if line.strip() and not line.startswith(("┃", "│", "┏", "┡", "└"))]
    assert len(lines) == len(set(lines)), console  # Lightning's INFO lines used to come twice
    assert lines[0].startswith("Run: task=synthetic_cubic model=deepsets") and "Test metric" in console
    epochs = [line for line in lines if line.startswith("Epoch ")]
    assert [e.split(" | ")[0] for e in epochs] == ["Epoch 1/3 step 5", "Epoch 2/3 step 10", "Epoch 3/3 step 15"]
    assert lines[-1] == f"Outputs in {tmp_path}/run"
    log = (tmp_path / "run" / "train.log").read_text()
    assert all(e in log for e in epochs) and "Final metrics: test/acc=" in log


def test_hint_only_after_config_errors_and_it_names_the_close_key(tmp_path):
    typo = train("trainer.max_epoch=3", *paths(tmp_path))
    assert typo.returncode == 1 and "Hint: trainer.max_epoch is not a config key; did you mean trainer.max_epochs" in typo.stderr
    missing = train(f"ckpt_path={tmp_path}/missing.ckpt", *paths(tmp_path))
    assert missing.returncode == 1 and "missing.ckpt: no such checkpoint file" in missing.stderr
    assert "Hint" not in missing.stderr  # nothing wrong with the config: no hint


def test_no_module_sets_another_modules_private_state():
    assignment = re.compile(r"\bgaan(\.\w+)+\._\w+\s*=[^=]")
    offenders = [
        f"{path}:{n}"
        for path in (REPO / "src" / "gaan").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if assignment.search(line)
    ]
    offenders += [
        f"{name}:{n}"
        for name in ("train.py", "eval.py")
        for n, line in enumerate((REPO / name).read_text().splitlines(), 1)
        if assignment.search(line)
    ]
    assert not offenders


def final_row(run_dir: Path) -> dict:
    rows = list(csv.DictReader(open(run_dir / "csv" / "metrics.csv")))
    return {k: v for k, v in rows[-1].items() if v}


def last_validation(run_dir: Path) -> dict:
    rows = [r for r in csv.DictReader(open(run_dir / "csv" / "metrics.csv")) if r.get("val/acc_best")]
    return {k: v for k, v in rows[-1].items() if k.startswith("val/") and v}


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_from_last_equals_uninterrupted_run(tmp_path):
    common = [*SMALL, *paths(tmp_path), "trainer.max_epochs=3", "checkpoint_every_n_steps=3", "seed=7"]
    killed_dir = tmp_path / "logs" / "synthetic_cubic" / "runs" / "killed"
    killed = train(
        *common,
        f"hydra.run.dir={killed_dir}",
        "+callbacks.kill._target_=gaan.tasks.callbacks.SigkillAtStep",
        "+callbacks.kill.step=8",
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert torch.load(killed_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 6  # mid epoch 2
    resumed = train(*common, f"hydra.run.dir={tmp_path}/resumed", "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert str(killed_dir / "checkpoints" / "last.ckpt") in resumed.stdout + resumed.stderr
    full = train(*common, f"hydra.run.dir={tmp_path}/full")
    assert full.returncode == 0, full.stderr[-3000:]

    a = torch.load(tmp_path / "full" / "checkpoints" / "last.ckpt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=False)
    assert a["global_step"] == b["global_step"] == 15
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    full_metrics, resumed_metrics = final_row(tmp_path / "full"), final_row(tmp_path / "resumed")
    assert "test/acc" in full_metrics and full_metrics == resumed_metrics
    # val/acc_best spans the interruption too
    assert last_validation(tmp_path / "full") == last_validation(tmp_path / "resumed")


@pytest.mark.slow
def test_two_trial_optuna_sweep_completes(tmp_path):
    result = train(
        "-m",
        "hparams_search=synthetic_cubic_optuna",
        *SMALL,
        *paths(tmp_path),
        "trainer.max_epochs=1",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=2",
        f"hydra.sweep.dir={tmp_path}/sweep",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    best = yaml.safe_load(open(tmp_path / "sweep" / "optimization_results.yaml"))
    assert 0.0 <= best["best_value"] <= 1.0 and "optimizer.lr" in best["best_params"]
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.name.isdigit()) == ["0", "1"]


@pytest.mark.slow
def test_two_point_grid_multirun_completes(tmp_path):
    result = train(
        "-m",
        "model=deepsets,ga_attn",
        *[o for o in SMALL if not o.startswith("model.")],
        *paths(tmp_path),
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={tmp_path}/grid",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for job in ("0", "1"):
        assert "test/acc" in final_row(tmp_path / "grid" / job)
    overrides = [yaml.safe_load(open(tmp_path / "grid" / j / ".hydra" / "overrides.yaml")) for j in ("0", "1")]
    assert ["model=deepsets" in o for o in overrides] == [True, False]


@pytest.mark.slow
def test_ddp_sim_two_cpu_processes_finish(tmp_path):
    # ddp_spawn pickles the model: this also checks that the GA layers pickle
    result = train("trainer=ddp_sim", "model=ga_attn", *SMALL, *paths(tmp_path), "trainer.max_epochs=2", f"hydra.run.dir={tmp_path}/ddp")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test/acc" in final_row(tmp_path / "ddp")
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in result.stdout + result.stderr


@pytest.mark.slow
def test_eval_cli_reports_test_metrics_of_a_checkpoint(tmp_path):
    trained = train(*SMALL, *paths(tmp_path), "trainer.max_epochs=1", f"hydra.run.dir={tmp_path}/run")
    assert trained.returncode == 0, trained.stderr[-3000:]
    ckpt = next((tmp_path / "run" / "checkpoints").glob("best-*.ckpt"))
    evaluated = train(f"ckpt_path={ckpt}", *SMALL[:2], *paths(tmp_path), f"hydra.run.dir={tmp_path}/eval", script="eval.py")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert final_row(tmp_path / "eval")["test/acc"] == final_row(tmp_path / "run")["test/acc"]


@pytest.mark.slow
def test_compiled_run_trains_and_tests(tmp_path):
    # torch.compile of backbone and head (inductor on the CPU): the run must train, test and
    # log like an eager one; compile itself is slow, hence one short epoch
    result = train(*SMALL, *paths(tmp_path), "compile=true", "trainer.max_epochs=1", f"hydra.run.dir={tmp_path}/compiled", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    row = final_row(tmp_path / "compiled")
    assert 0.0 <= float(row["test/acc"]) <= 1.0
