"""Whether a run record's command still trains what the record measured.

A record keeps the overrides that reproduce it today (`reproduce`, or its `command` when that has
not changed form) and the task / model / optimizer / scheduler settings its run resolved
(`config`, the keys every checkpoint stores: `gaan.task_builder.STORED_CONFIG_KEYS`). The tables
print that command beside the record's numbers, so a preset that changed after the run, or an
override that no longer parses, would send a reader to train something else.
`reproduce_problems` composes the command with today's configs and names every stored setting
it does not give back (checked for every committed record by tests/test_records_reproduce.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from omegaconf import OmegaConf

from gaan.task_builder import STORED_CONFIG_KEYS
from gaan.train import compose_config

ABSENT = "<absent>"


def reproduce_overrides(record: dict) -> list[str]:
    """The overrides that train the record's run today, its seed included."""
    overrides = [o for o in (record.get("reproduce") or record["command"]) if not o.startswith("seed=")]
    return [*overrides, f"seed={record['seed']}"] if record.get("seed") is not None else overrides


def reproduce_problems(record: dict) -> list[str]:
    """Each way the record's command fails to compose to the settings it stored ([] when none).

    Every stored leaf must come back equal, except where only the machine differs: paths are
    composed under the record's own data folder, and a `_target_` whose class kept its name but
    moved module counts as the same. Keys added to the configs after the run are not checked (a
    record cannot say what it did not store)."""
    name = record.get("_path", "record")
    overrides = reproduce_overrides(record)
    stored = record.get("config") or {}
    data_dir = ((stored.get("task") or {}).get("datamodule") or {}).get("data_dir")
    machine = ["paths.output_dir=/reproduce-check", *([f"paths.data_dir={data_dir}"] if data_dir else [])]
    try:
        cfg = compose_config([*overrides, *machine])
        composed = {key: OmegaConf.to_container(cfg[key], resolve=True) if cfg.get(key) is not None else None for key in STORED_CONFIG_KEYS}
    except Exception as error:  # Hydra raises several kinds; each is a problem of this record
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return [f"{name}: `{' '.join(overrides)}` does not compose: {first_line}"]
    problems = []
    for key in STORED_CONFIG_KEYS:
        if key not in stored:
            continue
        for path, value in _leaves(stored[key], key):
            got = _lookup(composed, path)
            if got != value and not _same_class(path, value, got):
                problems.append(f"{name}: {path} is {value!r} in the record, `{' '.join(overrides)}` gives {got!r}")
    return problems


def _leaves(node, prefix: str) -> Iterator[tuple[str, object]]:
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}.{key}")
    else:
        yield prefix, node


def _lookup(node, dotted: str):
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return ABSENT
        node = node[part]
    return node


def _same_class(path: str, recorded, composed) -> bool:
    return (
        path.endswith("._target_")
        and isinstance(recorded, str)
        and isinstance(composed, str)
        and recorded.rsplit(".", 1)[-1] == composed.rsplit(".", 1)[-1]
    )
