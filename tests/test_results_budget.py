"""`python -m gaan.results` collects only runs that trained their preset's full budget: a smoke
run of a preset (fewer epochs, steps or batches) or a run stopped short is partial and stays out
of results/records/ and the tables."""

from __future__ import annotations

import json

import pytest
from test_results import record

from gaan.results import collect_runs
from gaan.results_budget import partial_reason

FULL = {"max_epochs": 150, "max_steps": -1, "stopped_early": False, "completed": True}


def write_run(logs, name: str, **changes):
    path = logs / name / "record.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record(output_dir=str(path.parent), **changes)))
    return path


@pytest.mark.parametrize(
    "override",
    ["trainer.max_epochs=2", "+trainer.max_steps=100", "trainer.limit_train_batches=0.1", "++trainer.max_time=00:00:10:00"],
)
def test_a_run_with_a_shortened_budget_is_partial_and_not_collected(override, tmp_path):
    write_run(tmp_path / "logs", "smoke", command=["experiment=nbody_egnn", override, "seed=2024"], budget=FULL)
    copied, skipped = collect_runs(tmp_path / "logs", tmp_path / "records", write=True)
    assert copied == [] and not (tmp_path / "records").exists()
    assert skipped == [f"{tmp_path / 'logs' / 'smoke'}: partial: {override} changes the preset's training budget"]


def test_a_run_stopped_before_its_budget_is_partial_and_a_finished_one_is_collected(tmp_path):
    stopped = {**FULL, "completed": False}
    write_run(tmp_path / "logs", "stopped", budget=stopped, epochs=40, global_steps=1200)
    write_run(tmp_path / "logs", "early", budget={**FULL, "stopped_early": True, "completed": True}, epochs=90, seed=2025)
    write_run(tmp_path / "logs", "full", budget=FULL, seed=2026)
    copied, skipped = collect_runs(tmp_path / "logs", tmp_path / "records", write=True)
    assert sorted(source.parent.name for source, _ in copied) == ["early", "full"]
    assert skipped == [f"{tmp_path / 'logs' / 'stopped'}: partial: stopped after 40 of 150 epochs (1200 steps)"]


def test_records_written_before_the_budget_field_are_judged_by_their_command():
    assert partial_reason(record()) is None  # committed records: no budget field, the bare preset
    assert partial_reason(record(command=["experiment=nbody_egnn", "trainer.max_epochs=2"])).startswith("partial:")


def test_the_results_modules_need_no_lightning_and_import_no_cycle():
    """`python -m gaan.results` (and --multirun) runs without Lightning or torch, the sweep summary
    reads records without importing gaan.results, and error_report lists the task packages only
    when a run fails, not at import."""
    import subprocess
    import sys

    code = (
        "import sys, pathlib; calls = []; real = pathlib.Path.iterdir\n"
        "pathlib.Path.iterdir = lambda self: (calls.append(self), real(self))[1]\n"
        "import gaan.results_sweep, gaan.results_budget, gaan.error_report\n"
        "loaded = 'gaan.results' in sys.modules\n"
        "import gaan.results\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'torch'))\n"
        "print(loaded, heavy, len(calls))"
    )
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert printed == ["False", "[]", "0"]
