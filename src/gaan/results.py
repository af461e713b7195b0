"""Results tables generated from run records: `python -m gaan.results [--runs logs] [--records
results/records] [--write]` (`make results`).

1. Collects the `record.json` of finished runs (`gaan.tasks.run_record.RunRecord`) under --runs
   into --records/<task>/<preset>[+<digest>]-seed<seed>-<commit>.json (only runs of an `experiment=`
   preset that trained its full budget and tested: gaan.results_budget; `--multirun`: gaan.results_sweep).
2. Groups the records into configurations (task, model, command without `seed=`), chooses per
   task and model the configuration with the best mean validation score (test numbers are
   reported for every configuration, but only the chosen one reaches the README), and renders
   docs/results.md's side-by-side tables and the README's summary between
   `<!-- results:begin -->` and `<!-- results:end -->`.

Without --write it prints the tables and what it would copy, and exits with status 1 when a
committed section differs from what the records give.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gaan.files import copy_atomically, write_atomically
from gaan.results_budget import collectable

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
RECORD_SCHEMA = 1

# Published numbers (and, where there is none, the goal) each task's table is read against.
# Reference predictors measured here need no training and have no validation split of their own.
ANCHORS: dict[str, dict[str, str]] = {
    "nbody": {
        "published": "MSE: EGNN 0.0071, SEGNN 0.0043, CGENN 0.0039, MVN 0.0035 (GPU, ~100k-300k steps, batch 100)",
        "measured_here": "x + c v dt with c fitted on the training set 0.0841; x + v dt 0.109; copying frame 30 0.272",
    },
    "crystal": {
        "published": "none for this data set; the issue's goal is acc >= 0.995 at sigma 0.05",
    },
    "qm9": {
        "published": "MAE (EGNN): HOMO 29 meV, LUMO 25, gap 48, U0 11, mu 0.029 D, alpha 0.071 bohr^3; "
        "PaiNN HOMO 28 / LUMO 20 / gap 46 meV",
    },
    "md17": {
        "published": "rMD17, 1,000 frames, energy / force MAE (meV, meV/A): NequIP aspirin 2.3 / 8.2, ethanol 0.4 / 2.8; "
        "MACE aspirin 2.2 / 6.6, ethanol 0.4 / 2.1",
    },
    "protein": {
        "published": "peers run here on the same five test proteins (bench/backmap_peers.py), heavy-atom RMSD all / backbone: "
        "cgback 1.275 / 0.336 A, pulchra 1.480 / 0.490 A (C-alpha input)",
    },
}
# Extra test metrics shown next to the main one (the one the task monitors, on the test split).
SECONDARY_METRICS = {
    "crystal": ["test/acc_sigma_0.001", "test/acc_sigma_0.05", "test/acc_sigma_0.1"],
    "protein": ["test/rmsd_backbone", "test/rmsd_sidechain", "test/chi1_accuracy"],
    "md17": ["test/energy_mae", "test/force_cosine"],
}
README_SECONDARY_METRICS = {"crystal": ["test/acc_sigma_0.05"], "protein": ["test/rmsd_backbone"], "md17": ["test/energy_mae"]}
# Settings that make a different problem, not a different configuration of one (bead kind,
# molecule, target): rows with different values are never compared or chosen between.
TASK_VARIANT_KEYS = {"protein": "task.datamodule.beads", "md17": "task.datamodule.molecule", "qm9": "task.target"}

# Overrides that do not change what is trained: left out of a configuration's identity.
NON_SEMANTIC_PREFIXES = (
    "seed=",
    "paths.",
    "hydra.",
    "logger",
    "tags",
    "log_gradients",
    "checkpoint_every_n_steps",
    "trainer.enable_progress_bar",
    "callbacks.rich_progress_bar",
    "callbacks.model_summary",
    "callbacks.epoch_log",
    "callbacks.run_record",
)
REQUIRED_FIELDS: dict[str, tuple[type, ...]] = {
    "schema": (int,),
    "source": (str,),
    "task": (str,),
    "model": (str,),
    "command": (list,),
    "seed": (int, type(None)),
    "monitor": (str,),
    "monitor_mode": (str,),
    "val": (int, float, type(None)),
    "metrics": (dict,),
    "global_steps": (int,),
    "epochs": (int,),
    "wall_time_s": (dict,),
    "hardware": (dict,),
    "git": (dict,),
}


class RecordError(ValueError):
    """A record file that cannot be used; the message names the file and the field."""


@dataclass
class Configuration:
    """The records (one per seed) of one task, model and command."""

    task: str
    variant: str
    model: str
    command: tuple[str, ...]
    records: list[dict] = field(default_factory=list)

    @property
    def problem(self) -> str:
        """The task with its variant, e.g. 'protein (ca)'."""
        return f"{self.task} ({self.variant})" if self.variant else self.task

    @property
    def first(self) -> dict:
        return self.records[0]

    @property
    def monitor_mode(self) -> str:
        return self.first["monitor_mode"]

    @property
    def test_metric(self) -> str:
        return test_metric_name(self.first)

    def values(self, metric: str) -> list[float]:
        return [r["metrics"][metric] for r in self.records if r["metrics"].get(metric) is not None]

    def vals(self) -> list[float] | None:
        """Validation scores of every seed, or None when a record has none."""
        vals = [r["val"] for r in self.records]
        return None if any(v is None for v in vals) else vals

    def command_line(self) -> str:
        """The overrides (without the seed) that train this configuration today: a record's
        `reproduce` when the recorded command has since changed form, else the command."""
        return " ".join(self.first.get("reproduce") or self.command)

    def recorded_as(self) -> str:
        return "" if not self.first.get("reproduce") else f" (recorded as `{' '.join(self.first['command'])}`)"


def test_metric_name(record: dict) -> str:
    return "test/" + record["monitor"].split("/", 1)[-1]


def load_record(path: Path) -> dict:
    """Read and check one record; every problem names the file and the field."""
    try:
        record = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise RecordError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from error
    except OSError as error:
        raise RecordError(f"{path}: cannot read ({error})") from error
    if not isinstance(record, dict):
        raise RecordError(f"{path}: a record is a JSON object, got {type(record).__name__}")
    for name, types in REQUIRED_FIELDS.items():
        if name not in record:
            raise RecordError(f"{path}: missing field '{name}' (a record needs {', '.join(REQUIRED_FIELDS)})")
        if not isinstance(record[name], types) or isinstance(record[name], bool):
            wanted = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise RecordError(f"{path}: field '{name}' must be {wanted}, got {record[name]!r}")
    if record["schema"] != RECORD_SCHEMA:
        raise RecordError(f"{path}: field 'schema' is {record['schema']}, this code reads schema {RECORD_SCHEMA}")
    if record["monitor_mode"] not in ("min", "max"):
        raise RecordError(f"{path}: field 'monitor_mode' must be 'min' or 'max', got {record['monitor_mode']!r}")
    metric = test_metric_name(record)
    value = record["metrics"].get(metric)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RecordError(f"{path}: field 'metrics' has no finite '{metric}' (the test value of monitor {record['monitor']})")
    if not isinstance(record["wall_time_s"].get("fit"), (int, float, type(None))):
        raise RecordError(f"{path}: field 'wall_time_s.fit' must be seconds or null")
    if "commit" not in record["git"]:
        raise RecordError(f"{path}: missing field 'git.commit'")
    record["_path"] = str(path)
    return record


def semantic_overrides(command: list[str]) -> tuple[str, ...]:
    return tuple(o for o in command if not o.lstrip("+~").startswith(NON_SEMANTIC_PREFIXES))


def record_filename(record: dict) -> str:
    """<preset>[+<digest of the other overrides>]-seed<seed>-<commit>.json"""
    preset = record.get("preset") or "no-preset"
    extra = [o for o in semantic_overrides(record["command"]) if o != f"experiment={preset}"]
    digest = "+" + hashlib.sha1(" ".join(extra).encode()).hexdigest()[:6] if extra else ""
    commit = (record["git"].get("commit") or "nogit")[:7]
    return f"{preset}{digest}-seed{record['seed']}-{commit}.json"


def collect_runs(runs_dir: Path, records_dir: Path, write: bool) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Copy (with write) run records not yet in records_dir (matched by their run folder).
    Returns (run record, its path in records_dir) per new record and one line per skipped run."""
    known = {load_record(p).get("output_dir") for p in sorted(records_dir.glob("*/*.json"))}
    copied, skipped = [], []
    for path in sorted(Path(runs_dir).glob("**/record.json")):
        record = load_record(path)
        why = collectable(record)
        if why:
            skipped.append(f"{path.parent}: {why}")
            continue
        if record.get("output_dir") in known:
            continue
        target = records_dir / record["task"] / record_filename(record)
        stem, n = target.stem, 2
        while target.exists() or target in [t for _, t in copied]:
            target, n = target.with_name(f"{stem}-{n}.json"), n + 1
        if write:
            copy_atomically(path, target)
        copied.append((path, target))
        known.add(record.get("output_dir"))
    return copied, skipped


def load_records(records_dir: Path) -> list[dict]:
    return [load_record(p) for p in sorted(Path(records_dir).glob("*/*.json"))]


def task_variant(record: dict) -> str:
    """The record's value of its task's variant key (TASK_VARIANT_KEYS), from its composed
    config, else from a `key=value` in its command; '' for tasks without variants or when
    neither says."""
    key = TASK_VARIANT_KEYS.get(record["task"])
    if key is None:
        return ""
    node = record.get("config")
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is not None:
        return str(node)
    for override in [*record["command"], *(record.get("reproduce") or [])]:
        if override.startswith(f"{key}="):
            return override.split("=", 1)[1]
    return ""


def configurations(records: list[dict]) -> list[Configuration]:
    groups: dict[tuple, Configuration] = {}
    for record in records:
        # a record whose preset has since changed carries the overrides that reproduce it today
        key = (record["task"], task_variant(record), record["model"], semantic_overrides(record.get("reproduce") or record["command"]))
        config = groups.setdefault(key, Configuration(*key))
        if config.records and record["monitor"] != config.first["monitor"]:
            raise RecordError(
                f"{record['_path']}: field 'monitor' is {record['monitor']}, "
                f"other seeds of this configuration have {config.first['monitor']}"
            )
        config.records.append(record)
    for config in groups.values():
        config.records.sort(key=lambda r: (r["seed"] is None, r["seed"] or 0))
    return sorted(groups.values(), key=lambda c: (c.task, c.variant, c.model, c.command))


def is_bare_preset(config: Configuration) -> bool:
    preset = config.first.get("preset")
    return preset is not None and config.command == (f"experiment={preset}",)


def choose(configs: list[Configuration]) -> Configuration:
    """The configuration of one task and model with the best mean validation score; those
    without a validation score rank after those with one (among them the bare preset first)."""

    def rank(config: Configuration):
        vals = config.vals()
        if vals is None:
            return (1, 0.0, not is_bare_preset(config), config.command)
        mean = statistics.fmean(vals)
        return (0, mean if config.monitor_mode == "min" else -mean, not is_bare_preset(config), config.command)

    return min(configs, key=rank)


def chosen_by_model(configs: list[Configuration]) -> dict[tuple[str, str, str], Configuration]:
    """Per (task, variant, model), the chosen configuration."""
    by_model: dict[tuple[str, str, str], list[Configuration]] = {}
    for config in configs:
        by_model.setdefault((config.task, config.variant, config.model), []).append(config)
    return {key: choose(group) for key, group in sorted(by_model.items())}


# --- formatting -------------------------------------------------------------------------------


def number(x: float, digits: int = 3) -> str:
    return f"{x:#.{digits}g}".rstrip(".")


def mean_spread(values: list[float], of: int | None = None) -> str:
    """mean ± standard deviation (3 and 2 significant digits); `of`: the seeds a value was due from."""
    if not values:
        return "-"
    text = number(values[0]) if len(values) == 1 else f"{number(statistics.fmean(values))} ± {number(statistics.stdev(values), 2)}"
    return text if of is None or len(values) == of else f"{text} ({len(values)} of {of} seeds)"


def seeds(config: Configuration) -> str:
    return " / ".join(str(r["seed"]) for r in config.records)


def per_seed(values: list[float]) -> str:
    return " / ".join(number(v) for v in values)


def steps(config: Configuration) -> str:
    counts = sorted({r["global_steps"] for r in config.records})
    return f"{counts[0]:,}" if len(counts) == 1 else f"{counts[0]:,}-{counts[-1]:,}"


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 60:.0f} min"


def wall(config: Configuration) -> str:
    times = [r["wall_time_s"].get("fit") for r in config.records]
    known = [t for t in times if t is not None]
    if not known:
        return "-"
    text = duration(statistics.fmean(known))
    return text if len(known) == 1 else f"{text} (mean)"


def hardware(config: Configuration) -> str:
    summaries = []
    for record in config.records:
        hw = record["hardware"]
        threads = hw.get("torch_threads")
        text = f"{hw.get('cpu') or 'unknown CPU'}, {threads} thread{'s' if threads != 1 else ''}"
        if hw.get("device") and not str(hw["device"]).startswith("cpu"):
            text += f", {hw.get('accelerator') or hw['device']}"
        if text not in summaries:
            summaries.append(text)
    return "; ".join(summaries)


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def task_anchor(task: str) -> str:
    anchor = ANCHORS.get(task, {})
    parts = [anchor["published"]] if anchor.get("published") else []
    if anchor.get("measured_here"):
        parts.append(f"reference predictors measured here: {anchor['measured_here']}")
    return "; ".join(parts) or "-"


def docs_section(configs: list[Configuration]) -> str:
    chosen = {id(c) for c in chosen_by_model(configs).values()}
    lines = [
        "## Side-by-side tables (generated)",
        "",
        "Generated by `python -m gaan.results --write` (`make results`) from the run records in",
        "`results/records/`; do not edit by hand. One row per configuration (task, model, command",
        "without the seed); val and test are the mean ± standard deviation over its seeds, test of the",
        "best-validation checkpoint. Per task and model, **chosen** marks the configuration with the",
        "best mean validation score; only that one is in the README. Records with `source`",
        '"docs/results.md ..." were copied by hand, once, from the history below (their run folders are',
        "gone): their wall time is the whole command, their commit the one that wrote the number into this",
        "file, and where the history states no validation score they cannot be chosen on validation",
        "(without any, the bare preset is shown). Commands run as",
        "`WANDB_MODE=offline OMP_NUM_THREADS=1 python train.py <command>`; where a recorded command has",
        "since changed form, the row shows today's overrides for the same model and the recorded ones in",
        "parentheses.",
    ]
    for task, variant in sorted({(c.task, c.variant) for c in configs}):
        task_configs = [c for c in configs if (c.task, c.variant) == (task, variant)]
        secondary = SECONDARY_METRICS.get(task, [])
        metric = task_configs[0].test_metric
        lines += ["", f"### {task_configs[0].problem} ({metric})", "", f"Anchor: {task_anchor(task)}.", ""]
        header = ["model", "command", "seeds", "steps", "fit wall", "hardware", "val", "test", "per seed", *secondary, "chosen", "source"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for config in task_configs:
            vals = config.vals()
            tests = config.values(config.test_metric)
            sources = sorted({r["source"] for r in config.records})
            row = [
                config.model,
                f"`{config.command_line()}`{config.recorded_as()}",
                seeds(config),
                steps(config),
                wall(config),
                hardware(config),
                mean_spread(vals) if vals else "-",
                mean_spread(tests),
                per_seed(tests),
                *[mean_spread(config.values(m), of=len(config.records)) for m in secondary],
                "**chosen**" if id(config) in chosen else "",
                "; ".join(sources),
            ]
            lines.append("| " + " | ".join(cell(str(c)) for c in row) + " |")
        notes = [(r["_path"], r["note"]) for c in task_configs for r in c.records if r.get("note")]
        if notes:
            lines += ["", "Notes:"]
            lines += [f"- `{Path(p).name}`: {n}" for p, n in notes]
    return "\n".join(lines)


def readme_section(configs: list[Configuration]) -> str:
    lines = [
        "| task | model | preset command | seeds | budget | hardware | val | test | anchor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (task, _, model), config in chosen_by_model(configs).items():
        vals = config.vals()
        metric = config.test_metric
        val = f"{mean_spread(vals)}" if vals else "- (none recorded)"
        row = [
            config.problem,
            model,
            f"`{config.command_line()}`",
            seeds(config),
            f"{steps(config)} steps, {wall(config)}",
            hardware(config),
            val,
            ", ".join(
                f"{m.split('/', 1)[1]} {mean_spread(config.values(m), of=len(config.records))}"
                for m in [metric, *README_SECONDARY_METRICS.get(task, [])]
                if config.values(m)
            ),
            ANCHORS.get(task, {}).get("published", "-"),
        ]
        lines.append("| " + " | ".join(cell(str(c)) for c in row) + " |")
    return "\n".join(lines)


def replace_section(text: str, section: str, path: Path) -> str:
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"{path}: needs exactly one '{BEGIN}' followed by one '{END}' line")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{section}\n{END}{tail}"


def committed_section(path: Path) -> str:
    text = Path(path).read_text()
    replace_section(text, "", path)  # checks the markers
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gaan.results", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("logs"), help="folder searched for run records (record.json)")
    parser.add_argument("--records", type=Path, default=Path("results/records"), help="committed per-run records")
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--docs", type=Path, default=Path("docs/results.md"))
    parser.add_argument("--write", action="store_true", help="copy new records and rewrite both sections")
    parser.add_argument("--multirun", type=Path, help="summarise this sweep folder instead (gaan.results_sweep)")
    args = parser.parse_args(argv)
    try:
        if args.multirun:
            from gaan.results_sweep import summarise

            return summarise(args.multirun, args.write)
        copied, skipped = collect_runs(args.runs, args.records, args.write) if args.runs.is_dir() else ([], [])
        records = load_records(args.records)
        if not args.write:  # the tables as they would be with the new records
            records += [load_record(source) for source, _ in copied]
        configs = configurations(records)
        sections = {args.readme: readme_section(configs), args.docs: docs_section(configs)}
    except (RecordError, ValueError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    print(f"{len(copied)} new run record(s) {'copied' if args.write else 'to copy'}" + "".join(f"\n  {s} -> {t}" for s, t in copied))
    if skipped:
        print(f"{len(skipped)} run record(s) not collected:" + "".join(f"\n  {s}" for s in skipped))
    stale = []
    for path, section in sections.items():
        if args.write:
            write_atomically(path, replace_section(path.read_text(), section, path))
            print(f"wrote the generated section of {path}")
        elif committed_section(path) != section:
            stale.append(path)
    if not args.write:
        print("\n" + sections[args.readme])
        if stale:
            print(f"\n{', '.join(map(str, stale))}: the generated section differs; run `python -m gaan.results --write`", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
