"""Every `python train.py` / `python eval.py` command README.md documents, run as written plus tiny
size overrides (in-process: importing lightning per subprocess costs seconds), with the README's
claim about it checked. A README command that no test covers fails `test_every_documented_command_is_covered`."""

from __future__ import annotations

import csv
import glob
import logging
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest
import torch
import yaml
from hydra.core.global_hydra import GlobalHydra

import gaan.eval
import gaan.train

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
SIZE = ["task.datamodule.num_samples=192", "task.datamodule.batch_size=32", "model.width=16"]
TINY = [*SIZE, "trainer.max_epochs=1", "trainer.log_every_n_steps=1"]  # 5 batches an epoch: log each
NBODY_TINY = [
    "task.datamodule.num_train=64",
    "+task.datamodule.recipe={num_train:64,num_valid:32,num_test:32}",
    "task.datamodule.batch_size=32",
    "model.width=8",
    "model.depth=1",
    "trainer.max_epochs=1",
]
SECTIONS = ("Debugging", "Reproducibility and resuming", "Evaluating a checkpoint", "Hardware", "Sweeps", "SLURM", "Logging and wandb")


def documented_commands(heading: str) -> list[str]:
    """The python commands in the bash blocks under `### heading` (continuations joined, comments dropped)."""
    commands, in_section, in_block, pending = [], False, False, ""
    for line in README.splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        if not in_block and line.startswith("#"):
            in_section = line.lstrip("#").strip() == heading
            continue
        if not (in_section and in_block):
            continue
        pending += line.rstrip("\\").strip() + " " if line.rstrip().endswith("\\") else line.strip()
        if not line.rstrip().endswith("\\"):
            command = re.sub(r"\s+#\s.*$", "", pending).strip()
            pending = ""
            if command.startswith("python "):
                commands.append(command)
    return commands


def readme_command(heading: str, contains: str) -> str:
    matches = [c for c in documented_commands(heading) if contains in c + "  "]
    assert len(matches) == 1, f"README section {heading!r} has {len(matches)} commands containing {contains!r}"
    return matches[0]


# Each documented command maps to the test that runs it, or to why it cannot run here.
COVERED = {
    ("Debugging", "debug=fdr"): "test_debug_fdr",
    ("Debugging", "debug=overfit"): "test_debug_overfit",
    ("Debugging", "debug=limit"): "test_debug_limit",
    ("Debugging", "debug=profiler"): "test_debug_profiler",
    ("Reproducibility and resuming", "ckpt_path=last"): "test_resume_from_last_and_from_a_path",
    ("Reproducibility and resuming", "ckpt_path=logs/"): "test_resume_from_last_and_from_a_path",
    ("Evaluating a checkpoint", "task=synthetic_cubic"): "test_eval_of_a_checkpoint",
    ("Evaluating a checkpoint", "task=nbody"): "test_eval_of_an_nbody_ensemble",
    ("Hardware", "trainer=ddp_sim"): "test_ddp_sim",
    ("Hardware", "trainer=gpu  "): "test_gpu_commands",
    ("Hardware", "trainer=ddp "): "test_gpu_commands",
    ("Hardware", "trainer=mps"): "test_mps_command",
    ("Hardware", "bf16-mixed"): "test_gpu_commands",
    ("Sweeps", "model=ga_attn,ga_attn_mv,deepsets"): "test_grid_sweep",
    ("Sweeps", "hparams_search="): "test_optuna_sweep",
    ("SLURM", "hydra/launcher=slurm"): "test_slurm_without_slurm_says_so",
    ("Logging and wandb", "logger=wandb  "): "test_wandb_offline",
    ("Logging and wandb", "logger=many"): "test_logger_many",
    ("Logging and wandb", "offline=false"): "not run: wandb online needs an account and the network",
    ("Logging and wandb", "log_gradients=true"): "test_wandb_gradients",
}


def test_every_documented_command_is_covered():
    for section in SECTIONS:
        commands = documented_commands(section)
        assert commands, f"no commands found under README '### {section}'"
        for command in commands:
            keys = [key for key in COVERED if key[0] == section and key[1] in command + "  "]
            assert len(keys) == 1, f"README command {command!r} ({section}) is covered by {len(keys)} entries of COVERED"
    for (section, fragment), name in COVERED.items():
        assert name.startswith("not run:") or name in globals(), name
        readme_command(section, fragment)


@pytest.fixture
def launch(tmp_path, monkeypatch, capfd, tmp_path_factory):
    """Run a README command in this process through the real entry point (`cli` and the Hydra
    main). Returns (exit code, console output). Logs go to <tmp>/logs, data to a shared folder."""
    data_dir = tmp_path_factory.getbasetemp() / "readme-data"
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)

    def run(command: str, *extra: str, replace: dict[str, str] | None = None) -> tuple[int, str]:
        command = command.replace("<same overrides>", "")
        for old, new in (replace or {}).items():
            assert old in command, f"{old!r} is no longer in the README command {command!r}"
            command = command.replace(old, new)
        words = shlex.split(command)
        assert words[:1] == ["python"] and words[1] in ("train.py", "eval.py"), command
        args = [resolve_logs_path(w, tmp_path) for w in words[2:]]
        monkeypatch.setattr(sys, "argv", [words[1], *args, *extra, f"paths.data_dir={data_dir}", f"paths.log_dir={tmp_path}/logs"])
        entry, config_name = (gaan.train.main, "train") if words[1] == "train.py" else (gaan.eval.main, "eval")
        capfd.readouterr()
        try:
            gaan.train.cli(entry, config_name=config_name)
            code = 0
        except SystemExit as exit_:
            code = exit_.code or 0
        finally:
            GlobalHydra.instance().clear()
            root.handlers[:] = saved[0]  # Hydra's handlers hold this test's captured streams
            root.setLevel(saved[1])
        captured = capfd.readouterr()
        return code, captured.out + captured.err

    return run


def resolve_logs_path(word: str, tmp_path: Path) -> str:
    """`ckpt_path=logs/<task>/runs/<ts>/checkpoints/best-epoch007.ckpt` (or `[a,b]`, or `logs/...`)
    -> the newest matching file of this test's logs folder."""
    if "logs/" not in word:
        return word
    key, _, value = word.rpartition("=")

    def newest(pattern: str, taken: tuple[str, ...] = ()) -> str:
        pattern = re.sub(r"<[^>]+>", "*", pattern).replace("...", "**")
        pattern = re.sub(r"epoch\d+", "epoch*", pattern)
        found = sorted(glob.glob(str(tmp_path / pattern), recursive=True), key=lambda p: Path(p).stat().st_mtime)
        found = [p for p in found if p not in taken]
        assert found, f"nothing under {tmp_path} matches {pattern} (besides {taken})"
        return found[-1]

    if value.startswith("["):
        chosen: list[str] = []
        for part in value.strip("[]").split(","):  # `<a>`, `<b>`: different files
            chosen.append(newest(part, tuple(chosen)))
        value = "[" + ",".join(chosen) + "]"
    else:
        value = newest(value)
    return f"{key}={value}" if key else value


def runs(tmp_path: Path, task: str = "synthetic_cubic") -> list[Path]:
    return sorted((tmp_path / "logs" / task / "runs").iterdir())


def metrics_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "csv" / "metrics.csv") as file:
        return list(csv.DictReader(file))


def final_metric(log_text: str, name: str) -> float:
    return float(re.search(rf"Final metrics: .*{re.escape(name)}=([-\d.e]+)", log_text).group(1))


# ---- Debugging -----------------------------------------------------------------------------
def test_debug_fdr(launch, tmp_path):
    code, output = launch(readme_command("Debugging", "debug=fdr"), *TINY)
    assert code == 0, output[-3000:]
    log = (runs(tmp_path)[-1] / "train.log").read_text()
    assert "fast_dev_run" in log and 0 <= final_metric(log, "test/acc") <= 1


def test_debug_overfit(launch, tmp_path):
    """Two batches, 30 epochs: the training loss falls far (README: ~10x with the default model,
    measured 0.69 -> 0.07; this width-16 model measured 0.69 -> 0.19)."""
    code, output = launch(readme_command("Debugging", "debug=overfit"), *SIZE)
    assert code == 0, output[-3000:]
    losses = [float(r["train/loss_epoch"]) for r in metrics_rows(runs(tmp_path)[-1]) if r.get("train/loss_epoch")]
    assert len(losses) == 30 and losses[-1] < 0.35 * losses[0], losses


def test_debug_limit(launch, tmp_path):
    code, output = launch(readme_command("Debugging", "debug=limit"), *SIZE)
    assert code == 0, output[-3000:]
    run_dir = runs(tmp_path)[-1]
    log = (run_dir / "train.log").read_text()
    assert [int(n) for n in re.findall(r"Epoch (\d)/3 step", log)] == [1, 2, 3]
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and list((run_dir / "checkpoints").glob("best-epoch*.ckpt"))
    assert "log_every_n_steps" not in output


def test_debug_profiler(launch, tmp_path):
    command = readme_command("Debugging", "debug=profiler")
    code, output = launch(command, *SIZE)
    assert code == 0, output[-3000:]
    run_dir = runs(tmp_path)[-1]
    written = sorted(p.name for p in run_dir.glob("*.txt"))
    documented = sorted(re.findall(r"[\w-]+\.txt", README.split(command)[1].splitlines()[0]))
    assert written == documented == ["fit-profile.txt", "test-profile.txt"]
    assert "SimpleProfiler" in (run_dir / "fit-profile.txt").read_text() or "Action" in (run_dir / "fit-profile.txt").read_text()
    assert all(str(run_dir / name) in (run_dir / "train.log").read_text() for name in written)


# ---- Reproducibility and resuming ----------------------------------------------------------
def test_resume_from_last_and_from_a_path(launch, tmp_path):
    """A finished one-epoch run continued to two epochs, once via `last` and once via its path:
    both say which checkpoint they resumed and continue its step count."""
    code, output = launch("python train.py", *TINY)
    assert code == 0, output[-3000:]
    first = runs(tmp_path)[-1]
    steps = torch.load(first / "checkpoints" / "last.ckpt", weights_only=False)["global_step"]
    for epochs, fragment in ((2, "ckpt_path=last"), (3, "ckpt_path=logs/")):
        code, output = launch(
            readme_command("Reproducibility and resuming", fragment), *SIZE, "trainer.log_every_n_steps=1", f"trainer.max_epochs={epochs}"
        )
        assert code == 0, output[-3000:]
        resumed = runs(tmp_path)[-1]
        assert f"Resuming from {first}/checkpoints/last.ckpt" in (resumed / "train.log").read_text()
        assert torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == epochs * steps
        first = resumed  # `last` and `logs/...` now pick the newest run


# ---- Evaluating a checkpoint ---------------------------------------------------------------
def test_eval_of_a_checkpoint(launch, tmp_path):
    code, output = launch("python train.py", *TINY)
    assert code == 0, output[-3000:]
    trained = (runs(tmp_path)[-1] / "train.log").read_text()
    code, output = launch(readme_command("Evaluating a checkpoint", "task=synthetic_cubic"), *TINY[:2])
    assert code == 0, output[-3000:]
    evaluated = runs(tmp_path)[-1]
    log = (evaluated / "eval.log").read_text()
    assert final_metric(log, "test/acc") == final_metric(trained, "test/acc")
    assert f"Outputs in {evaluated}" in log and "test/acc" in metrics_rows(evaluated)[-1]


@pytest.mark.slow
def test_eval_of_an_nbody_ensemble(launch, tmp_path):
    for seed in (1, 2):
        code, output = launch("python train.py task=nbody", *NBODY_TINY, f"seed={seed}")
        assert code == 0, output[-3000:]
    trained = runs(tmp_path, "nbody")
    code, output = launch(readme_command("Evaluating a checkpoint", "task=nbody"), *NBODY_TINY[:3])
    assert code == 0, output[-3000:]
    log = (runs(tmp_path, "nbody")[-1] / "eval.log").read_text()
    assert "Ensemble of 2 checkpoints" in log and all(str(run) in log for run in trained)
    assert final_metric(log, "test/mse") > 0


# ---- Hardware ------------------------------------------------------------------------------
@pytest.mark.slow
def test_ddp_sim(launch, tmp_path):
    """Two CPU processes. With a frozen model (lr 0) the training loss logged under DDP is the
    mean over both ranks' batches: the single-process value over the same samples."""
    frozen = [
        "model=deepsets",
        "optimizer.lr=0",
        "optimizer.weight_decay=0",
        "task.datamodule.num_samples=200",
        "task.datamodule.batch_size=20",
        "trainer.max_epochs=1",
    ]
    code, output = launch("python train.py", *frozen)
    assert code == 0, output[-3000:]
    single = runs(tmp_path)[-1]
    code, output = launch(readme_command("Hardware", "trainer=ddp_sim"), *frozen)
    assert code == 0, output[-3000:]
    ddp = runs(tmp_path)[-1]

    def train_loss(run_dir):
        return [float(r["train/loss_epoch"]) for r in metrics_rows(run_dir) if r.get("train/loss_epoch")][-1]

    assert train_loss(ddp) == pytest.approx(train_loss(single), rel=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("fragment", ["trainer=gpu  ", "trainer=ddp ", "bf16-mixed"])
def test_gpu_commands(launch, fragment):
    command = readme_command("Hardware", fragment)
    if "trainer=ddp " in command:
        command = re.sub(r"trainer\.devices=\d+", f"trainer.devices={torch.cuda.device_count()}", command)
    code, output = launch(command, *TINY)
    assert code == 0, output[-3000:]


@pytest.mark.skipif(not torch.backends.mps.is_available(), reason="needs Apple silicon")
def test_mps_command(launch):
    code, output = launch(readme_command("Hardware", "trainer=mps"), *TINY)
    assert code == 0, output[-3000:]


# ---- Sweeps and SLURM ----------------------------------------------------------------------
def test_grid_sweep(launch, tmp_path):
    """One job per combination in logs/<task>/multiruns/<ts>/<n>/ (seeds cut to one here)."""
    command = readme_command("Sweeps", "model=ga_attn,ga_attn_mv,deepsets")
    code, output = launch(command, *TINY, "+trainer.limit_train_batches=2", replace={"seed=1,2,3": "seed=1"})
    assert code == 0, output[-3000:]
    (sweep,) = (tmp_path / "logs" / "synthetic_cubic" / "multiruns").iterdir()
    jobs = sorted(p for p in sweep.iterdir() if p.name.isdigit())
    assert [j.name for j in jobs] == ["0", "1", "2"]
    models = [yaml.safe_load((j / ".hydra" / "overrides.yaml").read_text()) for j in jobs]
    assert [next(o for o in m if o.startswith("model=")) for m in models] == ["model=ga_attn", "model=ga_attn_mv", "model=deepsets"]
    assert all("test/acc" in metrics_rows(j)[-1] for j in jobs)


@pytest.mark.slow
def test_optuna_sweep(launch, tmp_path):
    command = readme_command("Sweeps", "hparams_search=")
    code, output = launch(command, *TINY, "hydra.sweeper.sampler.n_startup_trials=2", replace={"n_trials=30": "n_trials=2"})
    assert code == 0, output[-3000:]
    (sweep,) = (tmp_path / "logs" / "synthetic_cubic" / "multiruns").iterdir()
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert 0 <= best["best_value"] <= 1
    assert "setup plugin" not in output  # Optuna's storage set-up lines are filtered


@pytest.mark.skipif(shutil.which("sbatch") is not None, reason="SLURM is installed here")
def test_slurm_without_slurm_says_so(launch):
    code, output = launch(readme_command("SLURM", "hydra/launcher=slurm"))
    assert code == 1
    assert "no SLURM here: sbatch/srun not found" in output
    assert "Traceback" not in output and "Hint" not in output


# ---- Logging and wandb ---------------------------------------------------------------------
def test_wandb_offline(launch, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    code, output = launch(readme_command("Logging and wandb", "logger=wandb  "), *TINY, "model=deepsets")
    assert code == 0, output[-3000:]
    run_dir = runs(tmp_path)[-1]
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1
    assert "test/acc" in metrics_rows(run_dir)[-1]  # the CSV logger stays on
    assert "anonymous setting" not in output


def test_logger_many(launch, tmp_path):
    code, output = launch(readme_command("Logging and wandb", "logger=many"), *TINY, "model=deepsets")
    assert code == 0, output[-3000:]
    run_dir = runs(tmp_path)[-1]
    assert list((run_dir / "wandb").glob("offline-run-*")) and list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert "test/acc" in metrics_rows(run_dir)[-1]


@pytest.mark.slow
def test_wandb_gradients(launch, tmp_path):
    code, output = launch(readme_command("Logging and wandb", "log_gradients=true"), *TINY, "model=deepsets")
    assert code == 0, output[-3000:]
    (run,) = (runs(tmp_path)[-1] / "wandb").glob("offline-run-*")
    assert list(run.glob("*.wandb"))
