"""Every documented path runs: each preset (conf/experiment/) under each debug config
(conf/debug/), on tiny data, and a `+trainer.max_steps` that stops a run before its first
validation. The cross product is slow (`make test-all`); the default suite keeps the cases that
once crashed: presets whose schedules (a validation every 600 steps, 10 warm-up epochs) did not
fit a debug run's few batches and epochs."""

from __future__ import annotations

import math

import pytest
import torch
from test_train_configs import QUIET, paths, small

from gaan.train import available_choices, compose_config, run

PRESETS = available_choices("experiment")
DEBUG_CONFIGS = available_choices("debug")
# (preset, debug config) pairs that crashed before the debug configs shortened the presets'
# schedules: val_check_interval 600 > the batches of an epoch; warmup_epochs 10 >= T_max
ONCE_CRASHED = {
    ("protein_ca", "limit"),
    ("protein_centroid", "limit"),
    ("protein_egnn", "limit"),
    ("protein_egnn", "overfit"),
    ("protein_egnn", "profiler"),
    ("nbody_ga_attn", "limit"),
    ("nbody_transformer", "profiler"),
}


def tiny_data(preset: str) -> list[str]:
    """Small data sets and test splits; a GPU preset runs on the CPU where there is no GPU."""
    cfg = compose_config([f"experiment={preset}", "paths.output_dir=unused"])
    qm9 = ["task.datamodule.num_train=64", "task.datamodule.num_val=32", "task.datamodule.num_workers=0"]
    on_cpu = ["trainer.accelerator=cpu"] if cfg.trainer.get("accelerator") == "gpu" and not torch.cuda.is_available() else []
    return [*small(cfg.task.name), *(qm9 if cfg.task.name == "qm9" else []), "++trainer.limit_test_batches=2", *on_cpu]


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory):
    """One data folder for the module: each task's tiny data set is built once."""
    return tmp_path_factory.mktemp("data")


def run_preset(preset: str, debug: str, folder, data_dir, extra: tuple[str, ...] = ()) -> dict[str, float]:
    overrides = [f"experiment={preset}", f"debug={debug}", *QUIET, *tiny_data(preset), *paths(folder), f"paths.data_dir={data_dir}"]
    return run(compose_config([*overrides, *extra]))


def assert_ran_cleanly(metrics: dict[str, float], debug: str, folder) -> None:
    assert any(k.startswith("test/") for k in metrics), sorted(metrics)
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    if debug != "fdr":  # fast_dev_run writes no checkpoint by design
        assert (folder / "out" / "checkpoints" / "last.ckpt").is_file()


CASES = [
    pytest.param(preset, debug, marks=() if (preset, debug) in ONCE_CRASHED else pytest.mark.slow)
    for preset in PRESETS
    for debug in DEBUG_CONFIGS
]


@pytest.mark.parametrize("preset, debug", CASES)
def test_every_preset_runs_under_every_debug_config(preset, debug, tmp_path, shared_data):
    assert_ran_cleanly(run_preset(preset, debug, tmp_path, shared_data), debug, tmp_path)


def test_the_cases_that_once_crashed_are_real_pairs():
    assert {p for p, _ in ONCE_CRASHED} <= set(PRESETS) and {d for _, d in ONCE_CRASHED} <= set(DEBUG_CONFIGS)


@pytest.mark.parametrize("max_steps", [3, 7])
def test_max_steps_inside_an_epoch_ends_with_its_checkpoint_and_test(max_steps, tmp_path):
    """5 batches per epoch, validation (and the early-stopping check) at each epoch end: step 3
    stops before any validation, step 7 inside the second epoch. Either way the run tests its
    weights and leaves last.ckpt at the step it stopped."""
    overrides = ["model=deepsets", f"+trainer.max_steps={max_steps}", "trainer.max_epochs=3", *QUIET, *small("synthetic_cubic")]
    metrics = run(compose_config([*overrides, *paths(tmp_path)]))
    assert "test/acc" in metrics
    last = torch.load(tmp_path / "out" / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == max_steps


def test_a_misspelt_early_stopping_monitor_still_fails(tmp_path):
    overrides = ["model=deepsets", "trainer.max_epochs=1", "callbacks.early_stopping.monitor=val/accc", *QUIET, *small("synthetic_cubic")]
    with pytest.raises(RuntimeError, match="val/accc"):
        run(compose_config([*overrides, *paths(tmp_path)]))
