"""gaan-backmap: every heavy atom of a protein from its coarse-grained beads.

    gaan-backmap INPUT -o OUTPUT [--ckpt FILE] [--beads ca|centroid] [--model N]
                 [--batch-size B] [--no-refine] [--threads T]
    python -m gaan.tasks.protein.backmap ...

INPUT is a PDB or mmCIF file, all-atom or bead-only (a C-alpha trace; for centroid beads, one
atom per residue at the centroid of its heavy atoms). All-atom input is coarse-grained first
(one bead per residue), so the tool also measures itself: it prints the RMSD table
(`gaan.tasks.protein.metrics`) of the prediction against the input's atoms. Every model is
backmapped (or only `--model N`); chains, residue numbers, insertion codes and residue names
are kept, chain breaks are seen by the model, residues of unknown type keep their input atoms.
The prediction is then made chemically valid (`--no-refine` skips it): each trans peptide's C,
O and N placed from the C-alpha trace (`gaan.tasks.protein.peptide_planes`), C-beta at its ideal
place, and a short restrained minimisation with flat-bottom restraints on every heavy atom's bonds,
angles, chirality and flat groups, tethered to those positions and the network's side chains
(`gaan.tasks.protein.refinement`). Every output gets the geometry report
(`gaan.tasks.protein.structure_geometry`: bond, angle, chirality, planarity outliers and clashes).
Without `--ckpt` the checkpoint shipped for the bead kind (`gaan/pretrained/protein_<beads>.ckpt`)
is used. Residues go through the network in batches of `--batch-size`, so memory stays bounded
on structures of 10,000 residues and more. Bad input exits with status 1 and a message naming
the file and the line or residue; the output is written whole (temporary file, then rename) or
not at all.
"""

from __future__ import annotations

import argparse
import importlib.resources
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import biotite.structure as struc
import numpy as np
import torch

from gaan.checkpoints import CheckpointError, load_checkpoint, load_trained_module
from gaan.data import collate_point_clouds
from gaan.tasks.protein import (
    BEAD_KINDS,
    NUM_ENVIRONMENT_FEATURES,
    RESIDUE_ATOMS,
    ProteinInputError,
    bead_positions,
    chain_breaks,
    read_structure,
    residue_environments,
    residue_table,
)
from gaan.tasks.protein.metrics import (
    BackmapMetricSums,
    backmap_metric_sums,
    format_metrics_table,
    format_residue_type_table,
    pooled_metrics,
)
from gaan.tasks.protein.refinement import refine_backmapped
from gaan.tasks.protein.structure_geometry import GeometrySums, format_geometry_table, geometry_sums, pooled_geometry
from gaan.tasks.protein.writer import StructureWriteError, check_output_path, write_structure

log = logging.getLogger("gaan.tasks.protein.backmap")

DEFAULT_BATCH_SIZE = 256


class BackmapError(ValueError):
    """A checkpoint or option the tool cannot use; the message names it."""


def shipped_checkpoint(beads: str) -> Path:
    """The default checkpoint for a bead kind, shipped inside the package."""
    resource = importlib.resources.files("gaan") / "pretrained" / f"protein_{beads}.ckpt"
    path = Path(str(resource))
    if not path.is_file():
        raise BackmapError(
            f"no shipped checkpoint for --beads {beads} ({path} is missing); pass one with --ckpt "
            "(python train.py task=protein task.datamodule.beads=... writes logs/protein/runs/<ts>/checkpoints/*.ckpt)"
        )
    return path


@dataclass
class Backmapper:
    """A trained backmapping module and the environment settings it was trained with."""

    module: torch.nn.Module
    beads: str
    k: int
    path: Path

    @classmethod
    def load(cls, path: str | Path, beads: str | None = None) -> Backmapper:
        path = Path(path)
        if not path.is_file():
            raise BackmapError(f"--ckpt {path}: no such checkpoint file")
        checkpoint = load_checkpoint(path)
        stored = checkpoint.get("gaan_config")
        if not stored or stored.get("task", {}).get("name") != "protein":
            task = (stored or {}).get("task", {}).get("name")
            raise BackmapError(f"--ckpt {path}: not a protein backmapping checkpoint (trained on task={task}); train one with task=protein")
        datamodule = stored["task"].get("datamodule") or {}
        trained_beads, k = datamodule.get("beads", "ca"), int(datamodule.get("k", 16))
        if beads is not None and beads != trained_beads:
            raise BackmapError(
                f"--beads {beads} but --ckpt {path} was trained on {trained_beads} beads; "
                f"pass --beads {trained_beads} or another checkpoint"
            )
        try:
            module = load_trained_module(path, in_features=NUM_ENVIRONMENT_FEATURES, checkpoint=checkpoint)
        except CheckpointError as error:
            raise BackmapError(f"--ckpt {error}") from error
        return cls(module=module, beads=trained_beads, k=k, path=path)


@dataclass
class BackmapResult:
    predicted: struc.AtomArrayStack
    metrics: BackmapMetricSums | None  # when the input had atoms
    geometry: GeometrySums  # of every output model, with or without a reference
    residues: int  # per model
    predicted_residues: int  # per model: standard residues with a bead
    models: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    checkpoint: Path | None = None
    beads: str = ""


def has_atoms(table) -> bool:
    """Whether the input is all-atom (some residue has more than its C-alpha)."""
    return bool(table.present.sum(1).max(initial=0) > 1)


def model_beads(atoms: struc.AtomArray, table, beads: str) -> np.ndarray:
    """(R, 3) beads of one model; centroid beads from a bead-only file (one atom per residue)
    are that atom."""
    if beads == "centroid" and not has_atoms(table):
        starts = np.append(struc.get_residue_starts(atoms), atoms.array_length())
        if np.any(np.diff(starts) != 1):
            raise ProteinInputError("centroid beads need all heavy atoms or exactly one bead atom per residue")
        return atoms.coord.astype(np.float64)
    return bead_positions(table, beads)


def predict_model(
    backmapper: Backmapper,
    atoms: struc.AtomArray,
    batch_size: int = DEFAULT_BATCH_SIZE,
    refine: bool = True,
) -> tuple[struc.AtomArray, int, np.ndarray]:
    """All heavy atoms of one model from its beads: (predicted AtomArray in the input's residue
    order, number of residues predicted, peptide links between its consecutive residues).
    Residues of unknown type keep their input atoms; residues without a bead are left out.
    `refine`: make the geometry valid (`gaan.tasks.protein.refinement.refine_backmapped`: peptide
    planes from the trace, ideal C-beta, flat-bottom restraints on every bond, angle, chiral
    centre and flat group, clashes pushed apart), keeping C-alpha beads where they are."""
    table = residue_table(atoms)
    breaks = chain_breaks(table)
    beads = model_beads(atoms, table, backmapper.beads)
    samples = residue_environments(
        beads,
        table.res_names,
        table.chain_ids,
        table.res_ids,
        k=backmapper.k,
        beads=backmapper.beads,
        chain_breaks=breaks,
    )
    offsets: dict[int, np.ndarray] = {}
    with torch.inference_mode():
        for start in range(0, len(samples), batch_size):
            chunk = samples[start : start + batch_size]
            batch = collate_point_clouds(chunk)
            vectors = predicted_vectors(backmapper.module.predict(batch)).double().numpy()
            for row, sample in enumerate(chunk):
                offsets[sample["residue_index"]] = vectors[row, : len(sample["labels"])]
    starts = np.append(table.atom_starts, atoms.array_length())
    pieces, kept = [], []
    for r, name in enumerate(table.res_names):
        if r in offsets:
            names = RESIDUE_ATOMS[name]
            coords = beads[r] + offsets[r]
            if backmapper.beads == "ca":
                coords[names.index("CA")] = beads[r]  # the input's C-alpha is exact
            piece = struc.AtomArray(len(names))
            piece.coord = coords.astype(np.float32)
            piece.atom_name = np.array(names)
            piece.element = np.array([n[0] for n in names])
            piece.res_name[:] = name
        elif name not in RESIDUE_ATOMS and np.isfinite(beads[r]).all():
            piece = atoms[starts[r] : starts[r + 1]].copy()  # unknown type: as given
        else:
            continue
        piece.chain_id[:] = table.chain_ids[r]
        piece.res_id[:] = table.res_ids[r]
        piece.ins_code[:] = table.ins_codes[r]
        piece.hetero[:] = False
        pieces.append(piece)
        kept.append(r)
    if not pieces:
        raise ProteinInputError("no residue has a bead to backmap")
    predicted = struc.concatenate(pieces)
    kept = np.array(kept)
    links = (np.diff(kept) == 1) & ~breaks[kept[1:]]
    if refine:
        fixed = (predicted.atom_name == "CA") if backmapper.beads == "ca" else None
        predicted = refine_backmapped(predicted, links, set(RESIDUE_ATOMS), fixed=fixed)
    return predicted, len(offsets), links


def predicted_vectors(predictions: dict[str, torch.Tensor]) -> torch.Tensor:
    """The (B, L, 3) per-atom vectors of a labeled-site task's predictions."""
    for key in ("atoms", "vectors"):
        if key in predictions:
            return predictions[key]
    raise BackmapError(f"the checkpoint's task predicts {sorted(predictions)}, not per-atom vectors ('atoms' or 'vectors')")


def backmap_structure(
    stack: struc.AtomArrayStack,
    backmapper: Backmapper,
    batch_size: int = DEFAULT_BATCH_SIZE,
    measure: bool = True,
    refine: bool = True,
) -> BackmapResult:
    """Backmap every model of a cleaned stack (`read_structure`); metrics against the input's
    atoms when it has them, the geometry report (`gaan.tasks.protein.structure_geometry`) always."""
    start = time.perf_counter()
    models, sums, geometry, notes = [], [], [], []
    counts = (0, 0)
    for m in range(stack.stack_depth()):
        atoms = stack[m]
        table = residue_table(atoms)
        if backmapper.beads == "centroid" and has_atoms(table) and not table.complete[np.isin(table.res_names, list(RESIDUE_ATOMS))].all():
            missing = int((~table.complete[np.isin(table.res_names, list(RESIDUE_ATOMS))]).sum())
            if m == 0:
                notes.append(f"{missing} residue(s) miss heavy atoms: their centroid beads are the centroids of the atoms given")
        predicted, count, links = predict_model(backmapper, atoms, batch_size, refine)
        models.append(predicted)
        counts = (len(table), count)
        geometry.append(geometry_sums(predicted, links))
        if measure and has_atoms(table):
            sums.append(backmap_metric_sums(predicted, atoms))
    if counts[0] > counts[1]:
        notes.append(f"{counts[0] - counts[1]} of {counts[0]} residues per model not predicted (unknown type or no bead)")
    return BackmapResult(
        predicted=struc.stack(models),
        metrics=pooled_metrics(sums) if sums else None,
        geometry=pooled_geometry(geometry),
        residues=counts[0],
        predicted_residues=counts[1],
        models=len(models),
        seconds=time.perf_counter() - start,
        notes=notes,
    )


def backmap_file(
    input_path: str | Path,
    output_path: str | Path,
    ckpt: str | Path | None = None,
    beads: str | None = None,
    model: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    refine: bool = True,
) -> BackmapResult:
    """Read, backmap and write one file (see the module docstring)."""
    if batch_size < 1:
        raise BackmapError(f"--batch-size must be >= 1, got {batch_size}")
    check_output_path(output_path, (input_path,))  # before the model is loaded or anything computed
    start = time.perf_counter()
    backmapper = Backmapper.load(ckpt if ckpt is not None else shipped_checkpoint(beads or "ca"), beads)
    stack = read_structure(input_path, model=model)
    try:
        result = backmap_structure(stack, backmapper, batch_size, refine=refine)
    except ProteinInputError as error:
        raise ProteinInputError(f"{input_path}: {error}") from error
    write_structure(result.predicted, output_path)
    result.seconds = time.perf_counter() - start
    result.checkpoint, result.beads = backmapper.path, backmapper.beads
    return result


def report(result: BackmapResult, input_path: str | Path, output_path: str | Path) -> str:
    rate = result.models * result.predicted_residues / result.seconds if result.seconds > 0 else float("nan")
    lines = [
        (
            f"{input_path} -> {output_path}: {result.models} model(s), {result.predicted_residues} of {result.residues} residues "
            f"backmapped per model, {result.predicted.array_length()} atoms per model; {result.seconds:.2f} s ({rate:.0f} residues/s)"
        ),
        f"checkpoint: {result.checkpoint} ({result.beads} beads)",
    ]
    lines += [f"note: {note}" for note in result.notes]
    lines += [
        "",
        "Geometry of the output (every model; definitions in the README):",
        format_geometry_table({"gaan-backmap": result.geometry}),
    ]
    if result.metrics is not None:
        lines += ["", "Against the input's atoms (no superposition):", format_metrics_table({"gaan-backmap": result.metrics})]
        lines += ["", "Per residue type:", format_residue_type_table(result.metrics)]
    else:
        lines.append("The input has beads only: no RMSD table.")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="gaan-backmap",
        description="Predict every heavy atom of a protein from its C-alpha trace or residue centroids (GA attention).",
    )
    parser.add_argument("input", help="PDB or mmCIF file: all-atom (coarse-grained first, and measured) or beads only")
    parser.add_argument(
        "-o", "--output", required=True, help="output structure: .pdb / .ent (PDB) or .cif / .mmcif (mmCIF), optionally + .gz"
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
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.threads is not None:
        if args.threads < 1:
            print(f"gaan-backmap: error: --threads must be >= 1, got {args.threads}", file=sys.stderr)
            return 2
        torch.set_num_threads(args.threads)
    try:
        result = backmap_file(
            args.input,
            args.output,
            args.ckpt,
            args.beads,
            args.model,
            args.batch_size,
            refine=not args.no_refine,
        )
    except (ProteinInputError, StructureWriteError, BackmapError, ValueError, OSError) as error:
        print(f"gaan-backmap: error: {error}", file=sys.stderr)
        return 1
    print(report(result, args.input, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
