"""Run records (gaan.tasks.run_record) and the generated results tables (gaan.results)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from gaan import results
from gaan.results import collect_runs, committed_section, load_record, load_records
from gaan.results_tables import RecordError, chosen_by_model, configurations, docs_section, readme_section, shell_words
from gaan.train import compose_config, main

REPO = Path(__file__).resolve().parents[1]
RECORDS = REPO / "results" / "records"


def test_committed_sections_are_what_the_committed_records_give():
    configs = configurations(load_records(RECORDS))
    assert committed_section(REPO / "README.md") == readme_section(configs)
    assert committed_section(REPO / "docs" / "results.md") == docs_section(configs)


def test_a_hand_edited_number_in_the_readme_is_caught(tmp_path):
    section = committed_section(REPO / "README.md")
    edited = section.replace("0.978", "0.998", 1)
    assert edited != section
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{results.BEGIN}\n{edited}\n{results.END}\n")
    code = results.main(
        ["--runs", str(tmp_path / "none"), "--records", str(RECORDS), "--readme", str(readme), "--docs", str(REPO / "docs" / "results.md")]
    )
    assert code == 1


def record(**changes) -> dict:
    base = json.loads(next(RECORDS.glob("nbody/*.json")).read_text())
    base.update(changes)
    return base


@pytest.mark.parametrize("field", ["task", "seed", "metrics", "global_steps", "monitor_mode", "hardware"])
def test_a_record_without_a_field_is_named_with_its_file(field, tmp_path):
    broken = record()
    del broken[field]
    path = tmp_path / "records" / "nbody" / "broken.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(broken))
    with pytest.raises(RecordError, match=rf"broken\.json: missing field '{field}'"):
        load_records(tmp_path / "records")


def test_bad_values_and_bad_json_are_named(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record(metrics={"test/acc": 0.5})))
    with pytest.raises(RecordError, match=r"r\.json: field 'metrics' has no finite 'test/mse'"):
        load_record(path)
    path.write_text(json.dumps(record(global_steps="4500")))
    with pytest.raises(RecordError, match=r"r\.json: field 'global_steps' must be int"):
        load_record(path)
    path.write_text('{"task": "nbody",\n "seed": }')
    with pytest.raises(RecordError, match=r"r\.json: not valid JSON \(line 2"):
        load_record(path)


def seed_records(rows: list[tuple[str, int, float, float]], mode: str = "min") -> list[dict]:
    """Records of preset `p` with `model.x=<extra>`, one per (extra, seed, val, test) row."""
    records = []
    for extra, seed, val, test in rows:
        r = record(
            command=["experiment=p", f"model.x={extra}", f"seed={seed}"],
            seed=seed,
            preset="p",
            monitor="val/mse",
            monitor_mode=mode,
            val=val,
            metrics={"test/mse": test},
        )
        r["_path"] = f"{extra}{seed}.json"
        records.append(r)
    return records


@pytest.mark.parametrize("mode", ["min", "max"])
def test_the_configuration_with_the_best_mean_validation_is_chosen_not_the_best_test(mode, tmp_path):
    sign = 1 if mode == "min" else -1
    rows = [  # (command extra, seed, val, test): "b" has the better validation, "a" the better test
        ("a", 1, 0.50, 0.10),
        ("a", 2, 0.60, 0.10),
        ("b", 1, 0.55, 0.90),
        ("b", 2, 0.50, 0.90),
    ]
    records = seed_records([(extra, seed, sign * val, sign * test) for extra, seed, val, test in rows], mode)
    (chosen,) = chosen_by_model(configurations(records)).values()
    assert chosen.command == ("experiment=p", "model.x=b")
    table = readme_section(configurations(records))
    assert "model.x=b" in table and "model.x=a" not in table and f"mse {sign * 0.9:#.3g}" in table


def test_one_lucky_seed_does_not_beat_three_seeds():
    """A configuration with one seed validated best is ranked after one with three (its other seeds
    may still be running); once it has three seeds of its own, its mean decides."""
    rows = [("a", 1, 0.50, 0.50), ("a", 2, 0.52, 0.52), ("a", 3, 0.54, 0.54), ("b", 1, 0.40, 0.40)]
    (chosen,) = chosen_by_model(configurations(seed_records(rows))).values()
    assert chosen.command == ("experiment=p", "model.x=a")
    more = [*rows, ("b", 2, 0.45, 0.45), ("b", 3, 0.50, 0.50)]
    (chosen,) = chosen_by_model(configurations(seed_records(more))).values()
    assert chosen.command == ("experiment=p", "model.x=b")


def test_task_variants_are_separate_rows_never_chosen_between():
    """Bead kinds (protein) are different problems: each gets its own chosen row, even though the
    centroid row's validation RMSD is lower; a record whose preset changed is grouped by the
    overrides that reproduce it."""
    records = []
    for beads, val, extra in (("ca", 1.4, None), ("centroid", 1.1, None), ("ca", 1.5, ["experiment=protein_x", "trainer.max_epochs=1"])):
        r = record(
            task="protein",
            command=["experiment=protein_x"],
            seed=1,
            preset="protein_x",
            monitor="val/rmsd",
            monitor_mode="min",
            val=val,
            metrics={"test/rmsd": val},
            config={"task": {"datamodule": {"beads": beads}}},
        )
        if extra:
            r["reproduce"] = extra
        r["_path"] = f"{beads}{val}.json"
        records.append(r)
    configs = configurations(records)
    assert sorted((c.problem, c.command) for c in configs) == [
        ("protein (ca)", ("experiment=protein_x",)),
        ("protein (ca)", ("experiment=protein_x", "trainer.max_epochs=1")),
        ("protein (centroid)", ("experiment=protein_x",)),
    ]
    chosen = chosen_by_model(configs)
    assert {key[1]: c.first["val"] for key, c in chosen.items()} == {"ca": 1.4, "centroid": 1.1}
    table = readme_section(configs)
    assert "| protein (ca) |" in table and "| protein (centroid) |" in table


def test_tiny_run_writes_a_record_and_collecting_copies_it_once(tmp_path, monkeypatch):
    """`python train.py experiment=...` in-process (Hydra writes .hydra/), a few seconds."""
    compose_config([])  # other tests leave Hydra initialised: the entry point must cope
    out = tmp_path / "logs" / "synthetic_cubic" / "runs" / "r1"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "train.py",
            "experiment=synthetic_cubic_ga_attn",
            "model.width=8",
            "model.depth=1",
            "trainer.max_epochs=2",
            "task.datamodule.num_samples=192",
            "task.datamodule.batch_size=32",
            "callbacks.rich_progress_bar=null",
            "callbacks.model_summary=null",
            f"paths.data_dir={tmp_path}/data",
            f"paths.log_dir={tmp_path}/logs",
            f"hydra.run.dir={out}",
        ],
    )
    main()
    run_record = load_record(out / "record.json")
    assert not list(out.glob("*.tmp")) and not list(out.glob(".record.json.*"))
    assert run_record["task"] == "synthetic_cubic" and run_record["model"] == "ga_attn"
    assert run_record["preset"] == "synthetic_cubic_ga_attn" and run_record["seed"] == 2024
    assert run_record["global_steps"] == 10 and run_record["epochs"] == 2  # 154 training samples, batch 32
    assert run_record["monitor"] == "val/acc" and 0.0 <= run_record["val"] <= 1.0
    assert run_record["val"] == pytest.approx(run_record["metrics"]["val/acc_best"])
    assert {"test/acc", "test/loss", "train/loss_epoch"} <= set(run_record["metrics"])
    assert run_record["wall_time_s"]["fit"] > 0 and run_record["wall_time_s"]["test"] > 0 and run_record["resumed_from"] is None
    assert run_record["hardware"]["torch_threads"] >= 1 and run_record["hardware"]["device"] == "cpu"
    assert len(run_record["git"]["commit"]) == 40
    assert run_record["config_file"] == str(out / ".hydra" / "config.yaml")
    assert run_record["config"]["model"]["width"] == 8
    assert "model.width=8" in run_record["command"]

    assert run_record["budget"] == {"max_epochs": 2, "max_steps": -1, "stopped_early": False, "completed": True}

    # two epochs of a preset sized for many: a smoke run, partial, kept out of the records
    records_dir = tmp_path / "records"
    copied, skipped = collect_runs(tmp_path / "logs", records_dir, write=True)
    assert copied == [] and skipped == [f"{out}: partial: trainer.max_epochs=2 changes the preset's training budget"]
    # the same run as if the preset had asked for two epochs: collected, once
    finished = {**json.loads((out / "record.json").read_text())}
    finished["command"] = [o for o in finished["command"] if o != "trainer.max_epochs=2"]
    (out / "record.json").write_text(json.dumps(finished))
    copied, skipped = collect_runs(tmp_path / "logs", records_dir, write=True)
    assert [t.parent.name for _, t in copied] == ["synthetic_cubic"] and not skipped
    name = copied[0][1].name
    assert name.startswith("synthetic_cubic_ga_attn+") and f"-seed2024-{run_record['git']['commit'][:7]}" in name
    assert collect_runs(tmp_path / "logs", records_dir, write=True) == ([], [])
    configs = configurations(load_records(records_dir))
    assert configs[0].command == (
        "experiment=synthetic_cubic_ga_attn",
        "model.width=8",
        "model.depth=1",
        "task.datamodule.num_samples=192",
        "task.datamodule.batch_size=32",
    )
    assert f"acc {run_record['metrics']['test/acc']:#.3g}".rstrip(".") in readme_section(configs)


def test_debug_and_presetless_runs_are_not_collected(tmp_path):
    for name, changes in {"fdr": {"debug": "fdr"}, "bare": {"preset": None}}.items():
        path = tmp_path / "logs" / name / "record.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(record(output_dir=str(path.parent), **changes)))
    copied, skipped = collect_runs(tmp_path / "logs", tmp_path / "records", write=True)
    assert copied == [] and sorted(s.split(": ", 1)[1] for s in skipped) == ["debug=fdr", "no experiment= preset"]


def test_a_task_requirement_is_met_before_the_validation_score_counts():
    """md17 requires energy conservation (`results.requirement` in conf/task/md17.yaml): a
    configuration with a better validation force MAE whose dynamics drift, or whose records lack
    the drift, is not chosen over one that meets it; with none meeting it, the one that misses it
    least is chosen, and one never checked comes last."""
    records = []
    for extra, val, drift in (("a", 18.6, 0.61), ("b", 23.1, 0.004), ("c", 17.0, None)):
        metrics = {"test/force_mae": val + 1, **({"val/nve_drift_max": drift} if drift is not None else {})}
        r = record(
            task="md17",
            command=["experiment=p", f"model.x={extra}"],
            seed=1,
            preset="p",
            monitor="val/force_mae",
            monitor_mode="min",
            val=val,
            metrics=metrics,
            config={"task": {"datamodule": {"molecule": "ethanol"}}},
        )
        r["_path"] = f"{extra}.json"
        records.append(r)
    (chosen,) = chosen_by_model(configurations(records)).values()
    assert chosen.command == ("experiment=p", "model.x=b")
    (chosen,) = chosen_by_model(configurations([r for r in records if "model.x=b" not in r["command"]])).values()
    assert chosen.command == ("experiment=p", "model.x=a")


def test_the_docs_table_shows_each_seeds_requirement_and_a_blow_up_as_non_finite():
    """A record stores a non-finite metric (dynamics that blew up) as null; the table must say so,
    not show it as if never checked (a missing key)."""
    from gaan.results_tables import docs_section

    records = []
    for seed, metrics in ((1, {"val/nve_drift_max": 0.02}), (2, {"val/nve_drift_max": None}), (3, {})):
        r = record(
            task="md17",
            command=["experiment=p", f"seed={seed}"],
            seed=seed,
            preset="p",
            monitor="val/force_mae",
            monitor_mode="min",
            val=10.0 + seed,
            metrics={"test/force_mae": 11.0, **metrics},
            config={"task": {"datamodule": {"molecule": "ethanol"}}},
        )
        r["_path"] = f"s{seed}.json"
        records.append(r)
    table = docs_section(configurations(records))
    assert "val/nve_drift_max <= 0.05 (per seed)" in table
    assert "misses: 0.020 / non-finite / -" in table
    table = docs_section(configurations(records[:1]))
    assert "meets: 0.020" in table


def test_table_commands_split_by_a_shell_give_back_each_override():
    overrides = [
        "experiment=nbody_ga_attn",
        "model.pair_inputs=[{_target_:gaan.models.pair_inputs.FeatureProducts,columns:[0]}]",  # bash would brace-expand it
        "~model.view.k",
        "model.pair_inputs=[]",
        "tags=[a b]",
    ]
    line = shell_words(overrides)
    assert shlex.split(line) == overrides
    assert line.startswith("experiment=nbody_ga_attn 'model.pair_inputs=[{") and " ~model.view.k model.pair_inputs=[] " in line
