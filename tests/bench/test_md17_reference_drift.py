"""The reference surface's own NVE check (bench/md17_reference_drift.py) on a tiny generated
trajectory: with the SCF converged tightly, xTB's forces are its energy's gradient, so velocity
Verlet's energy error is the integrator's O(dt^2): halving the step cuts it about fourfold."""

import json

import pytest
from repo_scripts import load_script

TINY_DATA = [
    "+task.datamodule.recipe={frames:{train:2,val:4,test:2},equilibration_steps:20}",
    "task.datamodule.num_train=2",
    "task.datamodule.num_val=4",
]


@pytest.fixture(scope="module")
def reference_drift():
    return load_script("bench/md17_reference_drift.py", "gaan_md17_reference_drift")


def test_tight_scf_xtb_energy_error_falls_with_the_square_of_the_step(reference_drift, tmp_path):
    out = tmp_path / "drift.json"
    # 400 of the task's 0.25 fs steps: 100 fs, whatever step each run takes
    overrides = [f"paths.data_dir={tmp_path / 'data'}", *TINY_DATA, "task.module.nve_steps=400"]
    reference_drift.main(["--timesteps", "0.5", "0.25", "--accuracy", "0.01", "--out", str(out), *overrides])
    result = json.loads(out.read_text())
    assert result["molecule"] == "ethanol" and result["duration_fs"] == 100.0 and result["scf_accuracy"] == 0.01
    runs = {(run["split"], run["frame"], run["timestep_fs"]): run for run in result["runs"]}
    # the task's start frames: validation frames 0 and 2 of 4 (val/nve_drift_max), test frame 0
    starts = [("val", 0), ("val", 2), ("test", 0)]
    assert set(runs) == {(split, frame, dt) for split, frame in starts for dt in (0.5, 0.25)}
    for (_, _, dt), run in runs.items():
        assert run["steps"] == round(100.0 / dt)
    for split, frame in starts:
        ratio = runs[(split, frame, 0.5)]["max_deviation_mev_per_atom"] / runs[(split, frame, 0.25)]["max_deviation_mev_per_atom"]
        assert 3.0 < ratio < 5.5, (split, frame, ratio)
