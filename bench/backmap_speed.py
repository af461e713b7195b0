r"""gaan-backmap's speed beside cgback's: `--help` time and residues per CPU second, one thread.

Every tool runs as its own command line per protein on the C-alpha trace of each test protein
(`backmap_peers.prepare`: the protein task's test split, never trained on), one thread
(OMP/MKL/OpenBLAS_NUM_THREADS=1, `--threads 1`), start-up and model loading included, as a user
pays them; CPU seconds (user + system of the child process) are what counts on a shared machine,
wall seconds are printed beside them. `--gaan-bin` may be given several times (label=path) to
time versions side by side, e.g. the tool before and after a change; `--batch LABEL` also times
one call of that version with every protein (`gaan-backmap a.pdb b.pdb ... -o DIR/`); `--repeats N`
times the gaan versions in N interleaved rounds and reports the mean (the peers run once):

    OMP_NUM_THREADS=1 python bench/backmap_speed.py --gaan-bin before=/path/old/gaan-backmap \\
        --gaan-bin after=$(which gaan-backmap) --batch after --peers-bin /tmp/peers/bin   # -> bench/results/backmap_speed.md

cgback and pulchra come from their own venv (bench/README.md, backmap_peers.py); `--no-peers`
leaves them out (cgback takes minutes per protein). The accuracy of the same outputs is
`bench/backmap_peers.py`'s business; here only time is measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import biotite.structure as struc  # noqa: E402
from backmap_peers import command, prepare, test_proteins, timed  # noqa: E402

from gaan.files import write_atomically  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def tool_command(tool: str, binary: str, trace: Path, output: Path, args: argparse.Namespace) -> list[str]:
    """A peer's command line as backmap_peers runs it; a gaan version's on the C-alpha trace."""
    if tool in ("cgback", "pulchra"):
        return command(tool, args, trace, trace, output)
    return [binary, str(trace), "-o", str(output), "--threads", "1"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--gaan-bin",
        action="append",
        default=None,
        help="label=path of a gaan-backmap command (repeatable; default: gaan=the one beside this python)",
    )
    parser.add_argument("--peers-bin", default="/tmp/peers/bin", help="bin folder of the peers' venv (cgback, pulchra)")
    parser.add_argument("--no-peers", action="store_true", help="time gaan only")
    parser.add_argument("--peers", default="cgback", help="comma-separated peers to time (cgback,pulchra)")
    parser.add_argument("--cgback-model", default="M", choices=["S", "M", "L"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--proteins", default=None, help="comma-separated test entries (default: the whole test split)")
    parser.add_argument(
        "--batch",
        action="append",
        default=[],
        help="label of a --gaan-bin that takes several inputs: also time one call with every protein (-o DIR/)",
    )
    parser.add_argument("--help-runs", type=int, default=5, help="--help calls per gaan-backmap (median reported)")
    parser.add_argument(
        "--repeats", type=int, default=1, help="rounds of every gaan version (interleaved; the mean is reported); the peers run once"
    )
    parser.add_argument("--workdir", default="/tmp/gaan_backmap_speed")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "backmap_speed.md"))
    args = parser.parse_args(argv)
    gaan = dict(item.split("=", 1) for item in (args.gaan_bin or [f"gaan={Path(sys.executable).parent / 'gaan-backmap'}"]))
    tools = {f"gaan-backmap ({label})": path for label, path in gaan.items()}
    if not args.no_peers:
        tools |= {peer: peer for peer in args.peers.split(",") if peer}
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    proteins = test_proteins(args.proteins.split(",") if args.proteins else None)
    prepared = {name: prepare(name, source, workdir) for name, source in proteins}
    residues = {name: struc.get_residue_count(prepared[name][0]) for name, _ in proteins}

    help_rows = []
    for label, path in gaan.items():
        runs = [timed([path, "--help"], workdir) for _ in range(args.help_runs)]
        if runs[0][2].returncode != 0:
            raise SystemExit(f"{path} --help failed: {runs[0][2].stderr.strip()[-300:]}")
        help_rows.append((label, statistics.median(r[1] for r in runs), statistics.median(r[0] for r in runs)))
        print(f"--help {label}: {help_rows[-1][1]:.2f} s wall, {help_rows[-1][2]:.2f} CPU s", flush=True)

    def time_tool(tool: str, binary: str) -> tuple[float, float]:
        """CPU and wall seconds of one process per protein, summed over the proteins."""
        cpu = wall = 0.0
        for name, _ in proteins:
            output = workdir / f"{name}_{tool.replace(' ', '_').replace('(', '').replace(')', '')}.pdb"
            output.unlink(missing_ok=True)
            seconds, elapsed, process = timed(tool_command(tool, binary, prepared[name][2], output, args), workdir)
            if process.returncode != 0 or not output.is_file():
                raise SystemExit(f"{tool} failed on {name}: {(process.stderr or process.stdout).strip()[-300:]}")
            cpu, wall = cpu + seconds, wall + elapsed
            print(f"{tool} {name} ({residues[name]} residues): {seconds:.2f} CPU s, {elapsed:.1f} s wall", flush=True)
        return cpu, wall

    def time_batch(label: str) -> tuple[float, float]:
        """One call for every protein: start-up and model loading paid once."""
        traces = [str(prepared[name][2]) for name, _ in proteins]
        seconds, elapsed, process = timed([gaan[label], *traces, "-o", f"{workdir / f'batch_{label}'}/", "--threads", "1"], workdir)
        if process.returncode != 0:
            raise SystemExit(f"{label} (one call) failed: {(process.stderr or process.stdout).strip()[-300:]}")
        print(f"{label} one call: {seconds:.2f} CPU s, {elapsed:.1f} s wall", flush=True)
        return seconds, elapsed

    # gaan's versions in interleaved rounds (the load of a shared machine changes by the minute);
    # the peers once: a run of minutes averages the load by itself
    batch_rows = {f"gaan-backmap ({label}), one call for all {len(proteins)} proteins": label for label in args.batch}
    rounds: dict[str, list[tuple[float, float]]] = {tool: [] for tool in [*tools, *batch_rows]}
    for _ in range(args.repeats):
        for tool, binary in tools.items():
            if tool.startswith("gaan-backmap"):
                rounds[tool].append(time_tool(tool, binary))
        for row, label in batch_rows.items():
            rounds[row].append(time_batch(label))
    for tool, binary in tools.items():
        if not tool.startswith("gaan-backmap"):
            rounds[tool].append(time_tool(tool, binary))
    rows = {tool: (statistics.mean(c for c, _ in runs), statistics.mean(w for _, w in runs)) for tool, runs in rounds.items()}

    total = sum(residues.values())
    lines = [
        "# gaan-backmap speed beside cgback",
        "",
        f"Proteins (C-alpha traces of the test split): {', '.join(f'{n} ({residues[n]} residues)' for n, _ in proteins)}; "
        f"{total} residues. One process per protein, one thread, start-up and model loading included; CPU seconds = "
        "user + system of the tool's process. Machine: "
        f"{os.cpu_count()} CPUs visible, shared (wall clock depends on the load; CPU time much less).",
        "",
        f"`gaan-backmap --help` (median of {args.help_runs} calls):",
        "",
        "| command | wall s | CPU s |",
        "|---|---|---|",
        *[f"| {label} | {w:.2f} | {c:.2f} |" for label, w, c in help_rows],
        "",
        "| tool | CPU s (all proteins) | residues per CPU s | wall s (all proteins) | CPU s of each round |",
        "|---|---|---|---|---|",
        *[
            f"| {tool} | {cpu:.1f} | {total / cpu:.1f} | {wall:.1f} | {', '.join(f'{c:.1f}' for c, _ in rounds[tool])} |"
            for tool, (cpu, wall) in rows.items()
        ],
        "",
        f"gaan rows: the mean of {args.repeats} round(s), the versions interleaved in each; peers: one run.",
    ]
    if "cgback" in rows:
        base = total / rows["cgback"][0]
        lines += ["", "Residues per CPU second relative to cgback's:", ""]
        lines += [f"- {tool}: {total / cpu / base:.1f}x" for tool, (cpu, _) in rows.items() if tool != "cgback"]
    lines += ["", "Command: `" + " ".join(["python bench/backmap_speed.py", *(argv if argv is not None else sys.argv[1:])]) + "`"]
    text = "\n".join(lines) + "\n"
    write_atomically(Path(args.out), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
