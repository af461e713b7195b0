"""The learning-curves callback: a short run leaves figures/learning_curves.png, its points match
the logged metrics, and a resumed run's curves equal an uninterrupted run's."""

import csv
from pathlib import Path

import torch

from gaan.train import compose_config, run

QUIET = ["callbacks.rich_progress_bar=null", "callbacks.model_summary=null", "trainer.enable_progress_bar=false"]
# no learning-rate schedule: the first two epochs of a 2- and a 3-epoch run are then the same
SMALL = ["task.datamodule.num_samples=192", "task.datamodule.batch_size=32", "model.width=8", "model.depth=1", "scheduler=null", *QUIET]


def paths(root: Path) -> list[str]:
    return [f"paths.output_dir={root}/out", f"paths.data_dir={root.parent}/data", f"paths.log_dir={root}/logs"]


def curve_points(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["callbacks"]["LearningCurves"]["points"]


def test_curves_follow_the_logged_metrics_and_survive_a_resume(tmp_path):
    run(compose_config([*SMALL, "trainer.max_epochs=3", *paths(tmp_path / "full")]))
    full_dir = tmp_path / "full" / "out"
    assert (full_dir / "figures" / "learning_curves.png").is_file()
    full = curve_points(full_dir)

    rows = list(csv.DictReader(open(full_dir / "csv" / "metrics.csv")))
    for key, logged in (("val/acc", "val/acc"), ("val/loss", "val/loss"), ("train/loss", "train/loss_epoch"), ("train/acc", "train/acc")):
        expected = [(int(r["step"]), float(r[logged])) for r in rows if r.get(logged)]
        assert len(full[key]) == 3, key
        assert [v for _, v in full[key]] == [v for _, v in expected], key
    epoch_steps = [s for s, _ in full["train/loss"]]
    assert epoch_steps == sorted(set(epoch_steps)) and [s for s, _ in full["val/acc"]] == epoch_steps
    batch_steps = [s for s, _ in full["train/loss (batches)"]]
    assert batch_steps == list(range(10, epoch_steps[-1] + 1, 10))

    run(compose_config([*SMALL, "trainer.max_epochs=2", *paths(tmp_path / "first")]))
    first = curve_points(tmp_path / "first" / "out")
    resume = f"ckpt_path={tmp_path}/first/out/checkpoints/last.ckpt"
    run(compose_config([*SMALL, "trainer.max_epochs=3", resume, *paths(tmp_path / "resumed")]))
    resumed = curve_points(tmp_path / "resumed" / "out")
    assert all(resumed[key][: len(series)] == series for key, series in first.items())  # the earlier points are kept
    assert len(first["train/loss"]) == 2 and resumed == full  # and the rest continues as if never stopped
    assert (tmp_path / "resumed" / "out" / "figures" / "learning_curves.png").is_file()
