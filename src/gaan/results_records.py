"""Reading run records (`record.json`, written by `gaan.tasks.run_record.RunRecord`): the schema,
the fields every record needs, and `load_record`, which checks them. Shared by `gaan.results`
(collecting and tables) and `gaan.results_sweep` (one sweep's summary), and free of Lightning."""

from __future__ import annotations

import json
import math
from pathlib import Path

from gaan.results_tables import RecordError, test_metric_name

RECORD_SCHEMA = 1


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


def load_records(records_dir: Path) -> list[dict]:
    return [load_record(p) for p in sorted(Path(records_dir).glob("*/*.json"))]
