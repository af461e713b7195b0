"""`python -m gaan.results --multirun <folder>` summarises one sweep: a row per configuration,
mean and spread over seeds, best first by the sweep's metric."""

from __future__ import annotations

import json

from test_results import record

from gaan import results
from gaan.results_sweep import SUMMARY_FILENAME, sweep_table

# (learning rate, seed, val/acc_best, test/acc): lr 0.01 is best on validation over its seeds
JOBS = [
    ("0.001", 1, 0.80, 0.79),
    ("0.001", 2, 0.84, 0.83),
    ("0.01", 1, 0.90, 0.88),
    ("0.01", 2, 0.94, 0.90),
    ("0.1", 1, 0.50, 0.52),
]


def make_sweep(folder, metric_line: str = "optimized_metric: val/acc_best\nhydra:\n  sweeper:\n    direction: maximize\n"):
    folder.mkdir(parents=True)
    (folder / "multirun.yaml").write_text(metric_line)
    for number, (lr, seed, val, test) in enumerate(JOBS):
        job = folder / str(number)
        job.mkdir()
        metrics = {"val/acc_best": val, "test/acc": test, "val/acc": val - 0.01}
        command = ["hparams_search=synthetic_cubic_optuna", f"optimizer.lr={lr}", f"seed={seed}"]
        fields = dict(task="synthetic_cubic", model="ga_attn", preset=None, monitor="val/acc", monitor_mode="max")
        job_record = record(command=command, seed=seed, metrics=metrics, val=val - 0.01, output_dir=str(job), **fields)
        (job / "record.json").write_text(json.dumps(job_record))
    return folder


def table_rows(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines() if line.startswith("| ") and "rank" not in line]


def test_one_row_per_configuration_with_mean_and_spread_sorted_by_the_sweep_metric(tmp_path):
    table = sweep_table(make_sweep(tmp_path / "sweep"))
    assert "sorted by val/acc_best (maximum first)" in table
    assert "Common to every job: `hparams_search=synthetic_cubic_optuna`" in table
    assert table_rows(table) == [
        ["1", "`optimizer.lr=0.01`", "1 / 2", "0.920 ± 0.028", "0.890 ± 0.014"],
        ["2", "`optimizer.lr=0.001`", "1 / 2", "0.820 ± 0.028", "0.810 ± 0.028"],
        ["3", "`optimizer.lr=0.1`", "1", "0.500", "0.520"],
    ]


def test_without_an_optimized_metric_the_monitor_orders_the_rows(tmp_path):
    table = sweep_table(make_sweep(tmp_path / "grid", metric_line="optimized_metric: null\n"))
    assert "sorted by val/acc (best) (maximum first)" in table
    assert [row[1] for row in table_rows(table)] == ["`optimizer.lr=0.01`", "`optimizer.lr=0.001`", "`optimizer.lr=0.1`"]


def test_the_command_writes_the_summary_into_the_sweep_folder(tmp_path, capsys):
    folder = make_sweep(tmp_path / "sweep")
    assert results.main(["--multirun", str(folder), "--write"]) == 0
    assert (folder / SUMMARY_FILENAME).read_text() == sweep_table(folder) + "\n"
    assert "| 1 | `optimizer.lr=0.01` |" in capsys.readouterr().out
    assert results.main(["--multirun", str(tmp_path / "empty")]) == 2
    assert "no record.json of a finished job" in capsys.readouterr().err
