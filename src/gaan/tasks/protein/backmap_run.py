"""What `gaan-backmap` does once its options are checked (`gaan.tasks.protein.cli`): every output
path checked, the device and the checkpoint loaded once, then each input (or the trajectory)
backmapped, written and reported; a bad input is named and the others still run (each output is
written whole or not at all, so a failed input leaves no output and the good ones are complete)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from gaan.tasks.protein.backmap import BackmapError, Backmapper, backmap_file, shipped_checkpoint
from gaan.tasks.protein.backmap_report import report
from gaan.tasks.protein.cli import error
from gaan.tasks.protein.structure import ProteinInputError
from gaan.tasks.protein.writer import StructureWriteError, check_output_path


def check_device(device: str) -> str:
    """`device` if torch can use it; BackmapError naming --device otherwise."""
    if device == "cuda" and not torch.cuda.is_available():
        raise BackmapError("--device cuda: torch finds no CUDA device here (torch.cuda.is_available() is False); use --device cpu")
    return device


def naming_the_input(problem: Exception, source: str, trajectory: str | None = None) -> str:
    """The one-line message of a failed input, starting with the input's name unless the
    message names it (or its trajectory) already: read errors do; a write error names only the
    output, a ValueError from deeper down nothing."""
    message = " ".join(str(problem).split()) or type(problem).__name__
    named = any(str(name) in message for name in (source, trajectory) if name is not None)
    return message if named else f"{source}: {message}"


def run(args: argparse.Namespace, outputs: list[Path]) -> int:
    """The work of the command line (`gaan.tasks.protein.cli`, which checked the options): every
    output path checked, the checkpoint loaded once, then each input backmapped and reported.
    A bad input is named and the others still run; the exit status is 1 if any failed."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    sources = [*args.inputs, *([args.trajectory] if args.trajectory else [])]
    try:
        for output in outputs:
            if args.trajectory is not None:
                from gaan.tasks.protein.trajectory import check_trajectory_output

                check_trajectory_output(output, tuple(sources))
            else:
                check_output_path(output, tuple(sources))
        if args.trajectory is None and args.model is not None and args.model < 1:
            raise BackmapError(f"--model must be >= 1 (models are numbered from 1), got {args.model}")
        device = check_device(args.device)
        backmapper = Backmapper.load(args.ckpt if args.ckpt is not None else shipped_checkpoint(args.beads or "ca"), args.beads, device)
    except (StructureWriteError, BackmapError, OSError) as problem:
        error(problem)
        return 1
    options = {"batch_size": args.batch_size, "refine": not args.no_refine}
    failed = 0
    for source, output in zip(args.inputs, outputs):
        try:
            if args.trajectory is not None:
                from gaan.tasks.protein.trajectory import backmap_trajectory

                result = backmap_trajectory(source, args.trajectory, output, backmapper, progress_every=args.progress_every, **options)
            else:
                result = backmap_file(
                    source, output, model=args.model, backmapper=backmapper, progress_every=args.progress_every, **options
                )
        except (ProteinInputError, StructureWriteError, BackmapError, ValueError, OSError) as problem:
            error(naming_the_input(problem, source, args.trajectory))
            failed += 1
            continue
        print(report(result, args.trajectory or source, output), flush=True)
    if failed and len(outputs) > 1:
        error(f"{failed} of {len(outputs)} inputs failed (named above); the others were written")
    return 1 if failed else 0
