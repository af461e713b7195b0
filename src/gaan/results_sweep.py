"""The summary table of one sweep (`python train.py -m ...`): `python -m gaan.results --multirun
logs/<task>/multiruns/<timestamp> [--write]`.

One row per configuration (the job's overrides without the seed), with the mean and standard
deviation over its seeds of the sweep's metric (`optimized_metric` of an `hparams_search=`
sweep, else the task's monitored metric, best validation value) and of the test metric, sorted
best first (the sweeper's direction, else the monitor's mode). Overrides shared by every job are
named once above the table. `--write` saves it as <multirun folder>/summary.md.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from gaan.files import write_atomically
from gaan.results_records import load_record
from gaan.results_tables import cell, mean_spread, semantic_overrides, test_metric_name

SUMMARY_FILENAME = "summary.md"


@dataclass
class SweepRow:
    overrides: tuple[str, ...]
    records: list[dict] = field(default_factory=list)


def sweep_setting(folder: Path) -> tuple[str | None, str | None]:
    """(optimized_metric, 'min' / 'max' / None) from the sweep's multirun.yaml (Hydra writes it)."""
    path = folder / "multirun.yaml"
    if not path.is_file():
        return None, None
    stored = OmegaConf.load(path)
    metric = OmegaConf.select(stored, "optimized_metric", default=None)
    direction = OmegaConf.select(stored, "hydra.sweeper.direction", default=None)
    mode = {"minimize": "min", "maximize": "max"}.get(str(direction)) if isinstance(direction, str) else None
    return metric, mode


def metric_value(record: dict, metric: str | None) -> float | None:
    return record["val"] if metric is None else record["metrics"].get(metric)


def sweep_table(folder: Path) -> str:
    """The markdown summary of the sweep in `folder` (its jobs' record.json files)."""
    records = [load_record(p) for p in sorted(Path(folder).glob("**/record.json"))]
    if not records:
        raise ValueError(f"{folder}: no record.json of a finished job under it (is it a multirun folder?)")
    metric, mode = sweep_setting(Path(folder))
    mode = mode or records[0]["monitor_mode"]
    shown_metric = metric or f"{records[0]['monitor']} (best)"
    rows: dict[tuple[str, ...], SweepRow] = {}
    for record in records:
        overrides = semantic_overrides(record["command"])
        rows.setdefault(overrides, SweepRow(overrides)).records.append(record)
    common = set.intersection(*(set(row.overrides) for row in rows.values()))

    # each row's metric values, once: for its mean (the order) and its cell
    values = {key: [v for v in (metric_value(r, metric) for r in row.records) if v is not None] for key, row in rows.items()}

    def best_first(row: SweepRow):
        row_values = values[row.overrides]
        if not row_values:
            return (True, 0.0)
        value = statistics.fmean(row_values)
        return (False, value if mode == "min" else -value)

    test_metric = test_metric_name(records[0])
    lines = [
        f"Sweep {folder}: {len(records)} finished job(s), {len(rows)} configuration(s), sorted by {shown_metric} ({mode}imum first).",
        f"Common to every job: `{' '.join(o for o in records[0]['command'] if o in common) or 'nothing'}`.",
        "",
        f"| rank | configuration | seeds | {shown_metric} | {test_metric} |",
        "|---|---|---|---|---|",
    ]
    for rank, row in enumerate(sorted(rows.values(), key=best_first), 1):
        tests = [r["metrics"][test_metric] for r in row.records if r["metrics"].get(test_metric) is not None]
        configuration = " ".join(o for o in row.overrides if o not in common) or "(the common overrides only)"
        seeds = " / ".join(str(r["seed"]) for r in sorted(row.records, key=lambda r: (r["seed"] is None, r["seed"] or 0)))
        cells = [str(rank), f"`{configuration}`", seeds, mean_spread(values[row.overrides], of=len(row.records)), mean_spread(tests)]
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    return "\n".join(lines)


def summarise(folder: Path, write: bool) -> int:
    table = sweep_table(folder)
    print(table)
    if write:
        write_atomically(Path(folder) / SUMMARY_FILENAME, table + "\n")
        print(f"\nwrote {Path(folder) / SUMMARY_FILENAME}")
    return 0
