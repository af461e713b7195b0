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
import sys
from pathlib import Path

from gaan.files import copy_atomically, write_atomically
from gaan.results_budget import collectable
from gaan.results_records import load_record, load_records
from gaan.results_tables import RecordError, configurations, docs_section, readme_section, semantic_overrides

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


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
