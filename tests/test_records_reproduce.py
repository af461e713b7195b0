"""Every committed run record's command (its `reproduce`, else its `command`) composes today to the
settings the record stored, so the commands the results tables print train what they measured."""

import copy
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from gaan.results_records import load_record
from gaan.results_reproduce import reproduce_overrides, reproduce_problems
from gaan.task_builder import STORED_CONFIG_KEYS
from gaan.train import compose_config

REPO = Path(__file__).resolve().parents[1]
RECORD_PATHS = sorted((REPO / "results" / "records").glob("*/*.json"))


@pytest.mark.parametrize("path", RECORD_PATHS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_record_reproduces_its_stored_settings(path):
    assert reproduce_problems(load_record(path)) == []


def _ethanol_record() -> dict:
    """A record as a run of today's ethanol experiment writes it (settings resolved, seed 2025)."""
    command = ["experiment=md17_ethanol_ga_covariant_state", "seed=2025"]
    cfg = compose_config([*command, "paths.output_dir=/run", "paths.data_dir=/data"])
    stored = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in STORED_CONFIG_KEYS}
    return {"_path": "md17/ethanol-run.json", "command": command, "seed": 2025, "config": stored}


def test_a_record_whose_preset_changed_since_is_named_with_the_setting():
    record = _ethanol_record()
    assert reproduce_problems(record) == []
    stale = copy.deepcopy(record)
    width = record["config"]["model"]["width"]
    stale["config"]["model"]["width"] = width + 32  # what the run had, before the preset changed
    stale["config"]["optimizer"]["lr"] = 1.0e-9
    problems = reproduce_problems(stale)
    assert len(problems) == 2
    assert f"model.width is {width + 32} in the record" in problems[0] and f"gives {width}" in problems[0]
    assert "optimizer.lr is 1e-09" in problems[1]
    assert all(p.startswith("md17/ethanol-run.json: ") for p in problems)


def test_a_class_that_moved_module_is_the_same_setting_and_paths_follow_the_records_data_folder():
    record = _ethanol_record()
    target = record["config"]["task"]["module"]["_target_"]
    record["config"]["task"]["module"]["_target_"] = "gaan.old_home." + target.rsplit(".", 1)[-1]
    assert record["config"]["task"]["datamodule"]["data_dir"] == "/data"
    assert reproduce_problems(record) == []
    record["config"]["task"]["module"]["_target_"] = target.rsplit(".", 1)[0] + ".AnotherTask"
    (problem,) = reproduce_problems(record)
    assert "task.module._target_" in problem


def test_the_seed_in_the_command_is_the_records_own():
    record = _ethanol_record()
    other_seed = dict(record, seed=2026)
    assert reproduce_overrides(other_seed) == ["experiment=md17_ethanol_ga_covariant_state", "seed=2026"]
    # the data module's shuffle seed follows ${seed}: a record with the wrong seed is caught
    assert any("task.datamodule.shuffle_seed" in p for p in reproduce_problems(other_seed))


def test_an_override_that_no_longer_parses_is_named():
    record = _ethanol_record()
    # shell quotes kept inside one argument: Hydra's parser rejects them
    record["reproduce"] = ["experiment=md17_ethanol_ga_covariant_state", "'model.pair_inputs=[]'"]
    (problem,) = reproduce_problems(record)
    assert "does not compose" in problem and "'model.pair_inputs=[]'" in problem


def test_a_record_without_stored_settings_still_has_to_compose():
    record = _ethanol_record()
    del record["config"]
    assert reproduce_problems(record) == []
    record["reproduce"] = ["experiment=no_such_experiment"]
    (problem,) = reproduce_problems(record)
    assert "does not compose" in problem and "no_such_experiment" in problem
