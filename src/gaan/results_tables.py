"""The results tables of `python -m gaan.results`: run records grouped into configurations (task,
variant, model, command without the seed), the chosen configuration per task and model, and the
rendered tables (docs/results.md's side-by-side tables, the README's summary).

What is specific to a task comes from its config, `conf/task/<name>.yaml`, under `results:`:
`anchor` (the published numbers, or the goal, the task's table is read against), `measured_here`
(reference predictors measured in this project), `secondary_metrics` (test metrics shown next to
the monitored one), `readme_secondary_metrics` (those of them in the README) and `variant_key`
(the setting that makes a different problem: bead kind, molecule, target; rows with different
values are never compared or chosen between) and `requirement` (`metric`, `max`: a configuration
is chosen among those whose every record meets it, e.g. md17's energy conservation; when none
does, the one whose worst record misses it least).
Nothing here names a task.
"""

from __future__ import annotations

import functools
import re
import shlex
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gaan.config_types import CONFIG_DIR


class RecordError(ValueError):
    """A record file that cannot be used; the message names the file and the field."""


@functools.cache
def task_reporting(task: str) -> dict[str, Any]:
    """The `results:` entry of `conf/task/<task>.yaml` (empty for a task without one)."""
    path = CONFIG_DIR / "task" / f"{task}.yaml"
    config = yaml.safe_load(path.read_text()) if path.is_file() else None
    return dict((config or {}).get("results") or {})


# Characters of an override that a shell passes on unchanged (shlex's, with Hydra's `~`, `[`, `]`)
SHELL_SAFE = re.compile(r"[\w@%+=:,./~\[\]-]+")

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
        `reproduce` when the recorded command has since changed form, else the command; quoted
        for a shell where an override needs it (Hydra lists of dicts hold braces and commas)."""
        return shell_words(self.first.get("reproduce") or self.command)

    def recorded_as(self) -> str:
        return "" if not self.first.get("reproduce") else f" (recorded as `{shell_words(self.first['command'])}`)"


def shell_words(overrides: list[str]) -> str:
    """Overrides as one shell command line: an override holding characters a shell would expand
    (braces with commas, spaces, `$`, ...) in single quotes; Hydra's `~key` and `key=[a,b]` bare."""
    return " ".join(o if SHELL_SAFE.fullmatch(o) else shlex.quote(o) for o in overrides)


def test_metric_name(record: dict) -> str:
    return "test/" + record["monitor"].split("/", 1)[-1]


def semantic_overrides(command: list[str]) -> tuple[str, ...]:
    return tuple(o for o in command if not o.lstrip("+~").startswith(NON_SEMANTIC_PREFIXES))


def task_variant(record: dict) -> str:
    """The record's value of its task's variant key (`variant_key`), from its composed
    config, else from a `key=value` in its command; '' for tasks without variants or when
    neither says."""
    key = task_reporting(record["task"]).get("variant_key")
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


FULL_SEEDS = 3


def choose(configs: list[Configuration]) -> Configuration:
    """The configuration of one task and model with the best mean validation score among those
    that meet the task's requirement (if any; when none does, the one that misses it least, and
    never-checked ones last); those without a validation score rank after those with one (among
    them the bare preset first). A mean over fewer seeds than the group's fullest configuration
    (up to FULL_SEEDS) ranks after the full ones: one lucky seed must not beat three."""
    full = min(FULL_SEEDS, max(len(config.records) for config in configs))

    def rank(config: Configuration):
        vals = config.vals()
        if vals is None:
            return (requirement_gap(config), 1, False, 0.0, not is_bare_preset(config), config.command)
        mean = statistics.fmean(vals)
        return (
            requirement_gap(config),
            0,
            len(config.records) < full,
            mean if config.monitor_mode == "min" else -mean,
            not is_bare_preset(config),
            config.command,
        )

    return min(configs, key=rank)


def requirement_gap(config: Configuration) -> float:
    """How far the worst record misses its task's `requirement` (metric above `max`): 0 when every
    record meets it or the task has none, inf when a record lacks the metric (never checked)."""
    requirement = task_reporting(config.task).get("requirement")
    if not requirement:
        return 0.0
    values = [r["metrics"].get(requirement["metric"]) for r in config.records]
    if any(v is None for v in values):
        return float("inf")
    return max(0.0, max(values) - requirement["max"])


def requirement_cell(config: Configuration, requirement: dict) -> str:
    """Each seed's value of the task's required metric: "non-finite" where the run logged it but it
    was not finite (e.g. dynamics that blew up: a record stores such a metric as null), "-" where
    the record lacks it (never checked); in the records' order, after whether every seed meets it."""
    metric, values = requirement["metric"], []
    for r in config.records:
        metrics = r["metrics"]
        values.append("-" if metric not in metrics else "non-finite" if metrics[metric] is None else number(metrics[metric], 2))
    gap = requirement_gap(config)
    verdict = "meets" if gap == 0 else "misses"
    return f"{verdict}: {' / '.join(values)}"


def chosen_by_model(configs: list[Configuration]) -> dict[tuple[str, str, str], Configuration]:
    """Per (task, variant, model), the chosen configuration."""
    by_model: dict[tuple[str, str, str], list[Configuration]] = {}
    for config in configs:
        by_model.setdefault((config.task, config.variant, config.model), []).append(config)
    return {key: choose(group) for key, group in sorted(by_model.items())}


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
    reporting = task_reporting(task)
    parts = [reporting["anchor"]] if reporting.get("anchor") else []
    if reporting.get("measured_here"):
        parts.append(f"reference predictors measured here: {reporting['measured_here']}")
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
        "best mean validation score among those whose every seed meets the task's requirement (a",
        "column where the task has one, e.g. md17's energy drift; with none meeting it, the one whose",
        "worst seed misses it least; a mean over fewer seeds than the fullest configuration has, up to",
        "three, ranks after the full ones); only that one is in the README. Records with `source`",
        '"docs/results.md ..." were copied by hand, once, from the history below (their run folders are',
        "gone): their wall time is the whole command, their commit the one that wrote the number into this",
        "file, and where the history states no validation score they cannot be chosen on validation",
        "(without any, the bare preset is shown). Commands run as",
        "`WANDB_MODE=offline OMP_NUM_THREADS=1 python train.py <command>`; where a recorded command has",
        "since changed form, the row shows today's overrides for the same model and the recorded ones in",
        "parentheses. Every record's command composes today to the task, model, optimizer and",
        "schedule settings the record stored (tests/test_records_reproduce.py, `gaan.results_reproduce`).",
    ]
    for task, variant in sorted({(c.task, c.variant) for c in configs}):
        task_configs = [c for c in configs if (c.task, c.variant) == (task, variant)]
        secondary = task_reporting(task).get("secondary_metrics", [])
        metric = task_configs[0].test_metric
        lines += ["", f"### {task_configs[0].problem} ({metric})", "", f"Anchor: {task_anchor(task)}.", ""]
        requirement = task_reporting(task).get("requirement")
        required = [f"{requirement['metric']} <= {requirement['max']} (per seed)"] if requirement else []
        header = [
            "model",
            "command",
            "seeds",
            "steps",
            "fit wall",
            "hardware",
            "val",
            "test",
            "per seed",
            *secondary,
            *required,
            "chosen",
            "source",
        ]
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
                *([requirement_cell(config, requirement)] if requirement else []),
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
                for m in [metric, *task_reporting(task).get("readme_secondary_metrics", [])]
                if config.values(m)
            ),
            task_reporting(task).get("anchor", "-"),
        ]
        lines.append("| " + " | ".join(cell(str(c)) for c in row) + " |")
    return "\n".join(lines)
