"""The `gaan-backmap` command line: options, output names and messages.

Only the standard library is imported here, so `gaan-backmap --help` and option errors answer
at once; torch, biotite and the network are imported after the options are checked (the work:
`backmap_run`, `backmap` and, for trajectories, `trajectory` in `gaan.tasks.protein`).
Every output path is checked before the checkpoint is loaded: several inputs need `-o` a
directory, no output may be an input, and two inputs may not give the same output name.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

BEAD_KINDS = ("ca", "centroid", "martini")  # gaan.tasks.protein.coarse_grain.BEAD_KINDS (tests check they agree)
DEFAULT_BATCH_SIZE = 256
DEFAULT_PROGRESS_EVERY = 10
DEVICES = ("cpu", "cuda")


class UsageError(ValueError):
    """Options that cannot work together; the message names them."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="gaan-backmap",
        description="Predict every heavy atom of a protein from its C-alpha trace, residue centroids or Martini beads (GA attention).",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="PDB or mmCIF file(s): all-atom (coarse-grained first, and measured) or beads only; with --trajectory, "
        "the topology (PDB, mmCIF, PSF, GRO, TPR, ...)",
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        help="output structure: .pdb / .ent (PDB) or .cif / .mmcif (mmCIF), optionally + .gz; a directory (ending in /) "
        "for several inputs; with --trajectory also .dcd / .xtc / .trr (the topology is written beside it as .pdb)",
    )
    parser.add_argument(
        "--trajectory",
        default=None,
        help="trajectory of the single INPUT topology (DCD, XTC, TRR, multi-model PDB, ... read by MDAnalysis): "
        "backmapped frame by frame, each output frame written as it is done",
    )
    parser.add_argument("--ckpt", default=None, help="checkpoint (default: the shipped one for --beads)")
    parser.add_argument("--beads", choices=BEAD_KINDS, default=None, help="bead kind (default: the checkpoint's; ca without --ckpt)")
    parser.add_argument("--model", type=int, default=None, help="backmap only model N (1-based; default: every model)")
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help=f"residues per network call (default {DEFAULT_BATCH_SIZE})"
    )
    parser.add_argument(
        "--no-refine",
        action="store_true",
        help="write the network's atoms as predicted, without making bonds, angles, chirality and flat groups valid",
    )
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--device", choices=DEVICES, default="cpu", help="where the network runs (default cpu; cuda needs a GPU)")
    parser.add_argument(
        "--progress-every",
        type=int,
        default=DEFAULT_PROGRESS_EVERY,
        help=f"print a progress line every N frames of a trajectory or multi-model input (default {DEFAULT_PROGRESS_EVERY})",
    )
    return parser.parse_args(argv)


def is_directory_output(output: str) -> bool:
    return output.endswith(("/", "\\")) or Path(output).is_dir()


def output_paths(inputs: Sequence[str], output: str, trajectory: str | None, model: int | None = None) -> list[Path]:
    """One output path per input: `output` itself, or `output/<input file name>` when it names a
    directory. Refused: several inputs without a directory, --trajectory with several inputs or
    a directory, two inputs with one output name."""
    if trajectory is not None:
        if model is not None:
            raise UsageError("--model picks one model of a multi-model INPUT; with --trajectory every frame is backmapped")
        if len(inputs) != 1:
            raise UsageError(f"--trajectory takes one topology INPUT, got {len(inputs)}")
        if is_directory_output(output):
            raise UsageError(f"-o {output}: with --trajectory give an output file name (e.g. out.dcd or out.pdb), not a directory")
        return [Path(output)]
    if not is_directory_output(output):
        if len(inputs) > 1:
            raise UsageError(f"-o {output}: {len(inputs)} inputs need an output directory (end it with /, e.g. -o {output}/)")
        return [Path(output)]
    paths = [Path(output) / Path(name).name for name in inputs]
    seen: dict[Path, str] = {}
    for name, path in zip(inputs, paths):
        if path in seen:
            raise UsageError(f"{name} and {seen[path]} would both be written to {path}; rename one or run them separately")
        seen[path] = name
    return paths


def error(message: object) -> None:
    print(f"gaan-backmap: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for flag, value in (("--threads", args.threads), ("--batch-size", args.batch_size), ("--progress-every", args.progress_every)):
        if value is not None and value < 1:
            error(f"{flag} must be >= 1, got {value}")
            return 2
    try:
        outputs = output_paths(args.inputs, args.output, args.trajectory, args.model)
    except UsageError as problem:
        error(problem)
        return 2
    # the work: imported only now, so that --help and option errors need no torch
    from gaan.tasks.protein.backmap_run import run  # noqa: PLC0415

    return run(args, outputs)


if __name__ == "__main__":
    sys.exit(main())
