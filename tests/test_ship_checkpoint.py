"""scripts/ship_checkpoint.py refuses a --name for another task than the run's, naming both,
before anything is copied."""

import json
from pathlib import Path

import pytest
from repo_scripts import load_script


@pytest.fixture(scope="module")
def shipping():
    return load_script("scripts/ship_checkpoint.py")


def protein_run(folder: Path) -> Path:
    """A finished protein run as far as shipping reads it: record.json, csv/metrics.csv and its
    best checkpoint."""
    best = folder / "checkpoints" / "best.ckpt"
    best.parent.mkdir(parents=True)
    best.write_bytes(b"weights")
    (folder / "csv").mkdir()
    (folder / "csv" / "metrics.csv").write_text("step,val/rmsd,val/rmsd_backbone,val/rmsd_sidechain\n99,1.5,0.5,2.0\n")
    record = {
        "task": "protein",
        "config": {"task": {"datamodule": {"beads": "ca"}}},
        "best_checkpoint": str(best),
        "command": ["experiment=protein_ca"],
        "git": {"commit": "abc"},
        "global_steps": 100,
        "wall_time_s": 1.0,
        "hardware": "cpu",
        "monitor": "val/rmsd",
        "val": 1.5,
        "metrics": {"test/rmsd": 1.2},
    }
    (folder / "record.json").write_text(json.dumps(record))
    return folder


def test_a_name_for_another_task_is_refused_naming_both(shipping, tmp_path):
    run_dir = protein_run(tmp_path / "run")
    out = tmp_path / "pretrained"
    with pytest.raises(SystemExit, match=rf"--name md17_ethanol is for md17 runs, but {run_dir} is a protein run"):
        shipping.ship(run_dir, "md17_ethanol", directory=out)
    assert not out.exists()  # refused before anything was written
    shipping.ship(run_dir, "protein_ca", directory=out)  # the run's own task
    assert sorted(p.name for p in out.iterdir()) == ["protein_ca.ckpt", "protein_ca.json"]
    assert json.loads((out / "protein_ca.json").read_text())["validation_curve"] == [[99, 1.5, 0.5, 2.0]]


def test_the_name_task_mapping(shipping):
    assert [shipping.name_task(n) for n in ("protein_martini", "md17_aspirin", "qm9_x")] == ["protein", "md17", None]
