"""The README's "Adding a task": every task config has its package, and a toy task built from
exactly the files the README lists (written into a temporary folder, found through Hydra's search
path and the `gaan.tasks` package path) trains and tests through `gaan.train`. A list that misses
a file the harness needs, or that names one this test cannot write, fails here."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml
from test_train_configs import QUIET, paths

import gaan.tasks
from gaan.train import available_choices, compose_config, run

REPO = Path(__file__).resolve().parents[1]
NAME = "toy_rings"

# what the toy task writes for each entry of the README's list
TOY_FILES = {
    "src/gaan/tasks/<name>/": {
        "__init__.py": '"""task=toy_rings: small rings against large ones (a test of README, Adding a task)."""\n',
        "datamodule.py": """
import numpy as np
import torch

from gaan.data import PointCloudDataModule


class ToyRingsDataModule(PointCloudDataModule):
    name = "toy_rings"

    def __init__(self, data_dir: str, num_samples: int = 96, **kwargs):
        super().__init__(data_dir, **kwargs)
        self.num_samples = num_samples

    @property
    def num_features(self) -> int:
        return 1

    def cache_key(self) -> dict:
        return {"num_samples": self.num_samples}

    def build_samples(self) -> list[dict]:
        rng = np.random.default_rng(0)
        samples = []
        for i in range(self.num_samples):
            angles = np.sort(rng.uniform(0, 2 * np.pi, 6))
            ring = (1.0 + i % 2) * np.stack([np.cos(angles), np.sin(angles), 0.1 * rng.normal(size=6)], -1)
            samples.append(
                {
                    "positions": torch.tensor(ring, dtype=torch.float32),
                    "features": torch.ones(6, 1),
                    "targets": {"label": torch.tensor(i % 2)},
                }
            )
        return samples
""",
    },
    "conf/task/<name>.yaml": """
name: toy_rings
monitor: val/acc
monitor_mode: max
datamodule:
  _target_: gaan.tasks.toy_rings.datamodule.ToyRingsDataModule
  data_dir: ${paths.data_dir}
  batch_size: 16
  num_workers: 0
  split_fractions: [0.5, 0.25, 0.25]
  split_seed: 0
  shuffle_seed: ${seed}
module:
  _target_: gaan.tasks.ClassificationTask
  num_classes: 2
head:
  _target_: gaan.models.ClassificationHead
  num_classes: 2
results:
  anchor: "none: a test task"
""",
    "conf/hparams_search/<name>_optuna.yaml": """# @package _global_
defaults:
  - override /task: toy_rings
  - override /hydra/sweeper: optuna
optimized_metric: val/acc_best
hydra:
  mode: MULTIRUN
  sweeper:
    _target_: hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper
    direction: maximize
    n_trials: 2
    params:
      optimizer.lr: interval(0.0003, 0.01)
""",
}


def readme_task_files() -> list[str]:
    """The paths (with `<name>`) the README's "Adding a task" lists."""
    text = (REPO / "README.md").read_text()
    section = text.split("### Adding a task or a model", 1)[1].split("\n## ", 1)[0]
    bullets = [line for line in section.splitlines() if line.startswith("  - ")]
    return [path for line in bullets for path in re.findall(r"`([^`]*<name>[^`]*)`", line) if "/" in path]


def test_every_task_config_has_its_package():
    for name in available_choices("task"):
        config = yaml.safe_load((REPO / "conf" / "task" / f"{name}.yaml").read_text())
        assert (REPO / "src" / "gaan" / "tasks" / name / "__init__.py").is_file(), f"conf/task/{name}.yaml has no package gaan.tasks.{name}"
        assert config["datamodule"]["_target_"].startswith(f"gaan.tasks.{name}."), f"{name}: its data module lives outside its package"
        assert (REPO / "conf" / "hparams_search" / f"{name}_optuna.yaml").is_file()


def test_a_toy_task_from_the_readme_list_trains(tmp_path, monkeypatch):
    listed = readme_task_files()
    assert listed, "README's 'Adding a task' lists no files"
    unknown = sorted(set(listed) - set(TOY_FILES))
    assert not unknown, f"README lists {unknown}, which this test does not know how to write for a toy task"
    root = tmp_path / "toy"
    for entry in listed:
        content = TOY_FILES[entry]
        target = root / entry.replace("<name>", NAME)
        for name, text in content.items() if isinstance(content, dict) else [("", content)]:
            path = target / name if name else target
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.lstrip("\n"))
    # the package joins gaan.tasks, the configs join Hydra's search path: nothing else is added
    monkeypatch.setattr(gaan.tasks, "__path__", [*gaan.tasks.__path__, str(root / "src" / "gaan" / "tasks")])
    for module in [m for m in sys.modules if m.startswith(f"gaan.tasks.{NAME}")]:
        monkeypatch.delitem(sys.modules, module)
    search = f"hydra.searchpath=[file://{root / 'conf'}]"
    try:
        sweep = compose_config([search, f"hparams_search={NAME}_optuna", *paths(tmp_path)])
        assert sweep.task.name == NAME and sweep.optimized_metric == "val/acc_best"
        cfg = compose_config([search, f"task={NAME}", "model=deepsets", "trainer.max_epochs=2", "logger=csv", *QUIET, *paths(tmp_path)])
        metrics = run(cfg)
    finally:
        for module in [m for m in sys.modules if m.startswith(f"gaan.tasks.{NAME}")]:
            sys.modules.pop(module)
    assert 0.0 <= metrics["test/acc"] <= 1.0
    assert list((tmp_path / "out" / "checkpoints").glob("*.ckpt"))
