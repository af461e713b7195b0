"""gaan-backmap: every heavy atom of a protein from its coarse-grained beads.

    gaan-backmap INPUT [INPUT ...] -o OUTPUT [--ckpt FILE] [--beads ca|centroid|martini] [--model N]
                 [--batch-size B] [--no-refine] [--threads T]
                 [--device cpu|cuda] [--trajectory TRAJ] [--progress-every N]
    python -m gaan.tasks.protein.backmap ...

(options: `gaan.tasks.protein.cli`; several inputs go to `-o DIR/`; a topology with
`--trajectory` is backmapped frame by frame: `gaan.tasks.protein.trajectory`.)

INPUT is a PDB or mmCIF file, all-atom or bead-only (a C-alpha trace; for centroid beads, one
atom per residue at the centroid of its heavy atoms; for martini beads, a Martini 3 CG file as
martinize2 writes it: BB and side-chain beads SC1..SC5, which the shipped martini model reads as
input too, `sidechain_points`; residues missing some are named). All-atom input is coarse-grained
first, so the tool also measures itself: it prints the RMSD table
(`gaan.tasks.protein.metrics`) of the prediction against the input's atoms. Every model is
backmapped (or only `--model N`); chains, residue numbers, insertion codes and residue names
are kept, chain breaks (from distances: `chain_geometry`) are seen by the model, residues of
unknown type keep their input atoms, modified ones are built as their parent, and the report
names every residue mapped or dropped.
The prediction is then made chemically valid (`--no-refine` skips it): each trans peptide's C,
O and N placed from the C-alpha trace (`gaan.tasks.protein.peptide_planes`), C-beta at its ideal
place, and a short restrained minimisation with flat-bottom restraints on every heavy atom's bonds,
angles, chirality and flat groups, tethered to those positions and the network's side chains
(`gaan.tasks.protein.refinement`). Every output gets the geometry report
(`gaan.tasks.protein.structure_geometry`: bond, angle, chirality, planarity outliers and clashes).
Each output atom's B-factor column holds its confidence (`backmap_report.CONFIDENCE_REMARKS`): the distance in A
between the network's atom and the written one, i.e. how far refinement had to move it (large =
low confidence; 0.00 for atoms kept as given, and for every atom with `--no-refine`).
Without `--ckpt` the checkpoint shipped for the bead kind (`gaan/pretrained/protein_<beads>.ckpt`)
is used. Residues go through the network in batches of `--batch-size`, so memory stays bounded
on structures of 10,000 residues and more. Bad input exits with status 1 and a message naming
the file and the line or residue; the output is written whole (temporary file, then rename) or
not at all.
"""

from __future__ import annotations

import importlib.resources
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import biotite.structure as struc
import numpy as np
import torch

from gaan.data import collate_point_clouds
from gaan.tasks.protein import (
    RESIDUE_ATOMS,
    ProteinInputError,
    ResidueTable,
    read_structure_with_notes,
    residue_environments,
    residue_table,
)
from gaan.tasks.protein.backmap_report import provenance
from gaan.tasks.protein.bead_input import has_atoms, martini_sidechains, model_beads, with_sidechain_beads
from gaan.tasks.protein.chain_geometry import geometric_chain_breaks
from gaan.tasks.protein.cli import DEFAULT_BATCH_SIZE, main
from gaan.tasks.protein.isolated_residues import ideal_offsets, isolated
from gaan.tasks.protein.metrics import (
    BackmapMetricSums,
    backmap_metric_sums,
    pooled_metrics,
)
from gaan.tasks.protein.network import NetworkError, load_network, read_checkpoint
from gaan.tasks.protein.refinement import refine_backmapped
from gaan.tasks.protein.residue_mapping import listed, residue_label
from gaan.tasks.protein.structure_geometry import GeometrySums, geometry_sums, pooled_geometry
from gaan.tasks.protein.writer import check_output_path, write_structure

log = logging.getLogger("gaan.tasks.protein.backmap")


BB_FALLBACK = "protein_martini_bb.ckpt"  # the shipped Martini model without side-chain beads


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
    """A trained backmapping network and the environment settings it was trained with."""

    network: torch.nn.Module
    beads: str
    k: int
    path: Path
    device: str = "cpu"
    sidechain_beads: bool = False  # Martini side-chain beads are input points too (sidechain_points)
    fallback: Backmapper | None = None  # for residues missing side-chain beads: the shipped BB-bead model

    @classmethod
    def load(cls, path: str | Path, beads: str | None = None, device: str = "cpu") -> Backmapper:
        path = Path(path)
        if not path.is_file():
            raise BackmapError(f"--ckpt {path}: no such checkpoint file")
        try:
            checkpoint = read_checkpoint(path)
            datamodule = checkpoint["gaan_config"]["task"].get("datamodule") or {}
            trained_beads, k = datamodule.get("beads", "ca"), int(datamodule.get("k", 16))
            if beads is not None and beads != trained_beads:
                raise BackmapError(
                    f"--beads {beads} but --ckpt {path} was trained on {trained_beads} beads; "
                    f"pass --beads {trained_beads} or another checkpoint"
                )
            network = load_network(path, checkpoint)
        except NetworkError as error:
            raise BackmapError(str(error)) from error
        sidechains = bool(datamodule.get("sidechain_beads", False))
        fallback = None
        bb_model = Path(str(importlib.resources.files("gaan") / "pretrained" / BB_FALLBACK))
        if sidechains and bb_model.is_file():  # trained without side-chain beads, so it reads residues that lack them
            fallback = cls.load(bb_model, trained_beads, device)
            fallback = fallback if fallback.k == k and not fallback.sidechain_beads else None
        return cls(network.to(device), trained_beads, k, path, device, sidechain_beads=sidechains, fallback=fallback)


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
    b_factors: np.ndarray | None = None  # (models, atoms): the confidence column (CONFIDENCE_REMARKS)


def table_label(table: ResidueTable, r: int) -> str:
    """'SER A65': residue r of a ResidueTable as notes name residues (`residue_mapping.residue_label`)."""
    return residue_label(table.res_names[r], table.chain_ids[r], table.res_ids[r], table.ins_codes[r])


def predict_model(
    backmapper: Backmapper,
    atoms: struc.AtomArray,
    batch_size: int = DEFAULT_BATCH_SIZE,
    refine: bool = True,
    notes: dict[str, list[str]] | None = None,
    table: ResidueTable | None = None,
) -> tuple[struc.AtomArray, int, np.ndarray]:
    """All heavy atoms of one model from its beads: (predicted AtomArray in the input's residue
    order, number of residues predicted, peptide links between its consecutive residues).
    Residues of unknown type keep their input atoms; residues without a bead are left out.
    `refine`: make the geometry valid (`gaan.tasks.protein.refinement.refine_backmapped`: peptide
    planes from the trace, ideal C-beta, flat-bottom restraints on every bond, angle, chiral
    centre and flat group, clashes pushed apart), keeping C-alpha beads where they are. Residues without a
    sequence neighbour are built from the ideal residue (`isolated_residues`); `notes`, when
    given, collects the residues built so ("isolated"), kept as given ("unknown type") and
    left out ("no bead"). The predicted atoms carry a `b_factor` annotation: each atom's
    distance (A) from the network's position to the refined one (`backmap_report.CONFIDENCE_REMARKS`; zero
    without `refine` and for atoms kept as given)."""
    notes = {} if notes is None else notes
    table = residue_table(atoms) if table is None else table  # `table`: the caller's residue_table(atoms)
    beads = model_beads(atoms, table, backmapper.beads)
    breaks = geometric_chain_breaks(table, beads, backmapper.beads, all_atom=has_atoms(table))
    samples = residue_environments(
        beads,
        table.res_names,
        table.chain_ids,
        np.arange(len(table)),  # segments from the geometric breaks alone, not the numbering
        k=backmapper.k,
        beads=backmapper.beads,
        chain_breaks=breaks,
    )
    fallback_samples: list[dict] = []
    # a Martini CG file's side-chain beads are read (and their names checked) whatever model reads them
    cg_file = backmapper.beads == "martini" and not has_atoms(table)
    sidechains = martini_sidechains(atoms, table) if backmapper.sidechain_beads or cg_file else None
    if backmapper.sidechain_beads:
        samples, fallback_samples, missing = with_sidechain_beads(samples, table, sidechains, beads, backmapper.fallback is not None)
        for r in missing:
            key = "no side-chain beads" if backmapper.fallback is not None else "no side-chain beads, no fallback"
            notes.setdefault(key, []).append(table_label(table, r))
    elif cg_file:  # a BB-bead model: say what it leaves unread
        with_beads = np.isfinite(sidechains).all(2).any(1)
        notes.setdefault("side-chain beads ignored", []).extend(table_label(table, r) for r in np.flatnonzero(with_beads))
    offsets = network_offsets(backmapper, samples, batch_size)
    if fallback_samples:
        offsets |= network_offsets(backmapper.fallback, fallback_samples, batch_size)
    # no sequence neighbour, no direction for the network: the ideal residue (isolated_residues)
    finite = np.isfinite(beads).all(1)
    for r in np.flatnonzero(isolated(breaks)):
        if r in offsets:
            others = beads[finite & (np.arange(len(beads)) != r)]
            offsets[r] = ideal_offsets(str(table.res_names[r]), beads[r], others, backmapper.beads)
            notes.setdefault("isolated", []).append(table_label(table, r))
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
            notes.setdefault("unknown type", []).append(table_label(table, r))
        else:
            notes.setdefault("no bead", []).append(table_label(table, r))
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
    network = predicted.coord.astype(np.float64)  # a copy: the network's positions, before refinement
    if refine:
        fixed = (predicted.atom_name == "CA") if backmapper.beads == "ca" else None
        predicted = refine_backmapped(predicted, links, set(RESIDUE_ATOMS), fixed=fixed)
    moved = np.linalg.norm(predicted.coord - network, axis=-1)
    predicted.set_annotation("b_factor", moved.astype(np.float32))
    return predicted, len(offsets), links


def network_offsets(backmapper: Backmapper, samples: list[dict], batch_size: int) -> dict[int, np.ndarray]:
    """Residue index -> (atoms, 3) predicted atom - bead vectors of `samples`, in batches."""
    offsets: dict[int, np.ndarray] = {}
    with torch.inference_mode():
        for start in range(0, len(samples), batch_size):
            chunk = samples[start : start + batch_size]
            vectors = backmapper.network(collate_point_clouds(chunk).to(backmapper.device)).double().cpu().numpy()
            for row, sample in enumerate(chunk):
                offsets[sample["residue_index"]] = vectors[row, : len(sample["labels"])]
    return offsets


RESIDUE_NOTES = {
    "isolated": "residue(s) without sequence neighbours built from the ideal residue",
    "unknown type": "residue(s) of unknown type kept as given",
    "no bead": "residue(s) left out: no bead (a C-alpha trace needs CA, centroids need atoms, Martini beads need BB or backbone atoms)",
    "no side-chain beads": f"residue(s) without all their Martini side-chain beads (SC1..) backmapped from BB beads by {BB_FALLBACK}",
    "no side-chain beads, no fallback": "residue(s) without all their Martini side-chain beads (SC1..) backmapped from the beads given, "
    "which this checkpoint never saw without them",
    "side-chain beads ignored": "residue(s) whose Martini side-chain beads (SC1..) this checkpoint does not read (BB beads only)",
}


class ModelBackmapper:
    """Backmaps the models (or trajectory frames) of one input one at a time, keeping what the
    report needs: metric and geometry sums, residue counts and notes (from the first model)."""

    def __init__(self, backmapper: Backmapper, batch_size: int = DEFAULT_BATCH_SIZE, measure: bool = True, **options):
        self.backmapper, self.batch_size, self.measure, self.options = backmapper, batch_size, measure, options
        self.sums: list[BackmapMetricSums] = []
        self.geometry: list[GeometrySums] = []
        self.notes: list[str] = []
        self.b_factors: list[np.ndarray] = []  # per model, taken off the atoms (models of a stack share annotations)
        self.counts, self.models, self.start = (0, 0), 0, time.perf_counter()

    def __call__(self, atoms: struc.AtomArray) -> struc.AtomArray:
        table = residue_table(atoms)
        first = self.models == 0
        standard = np.isin(table.res_names, list(RESIDUE_ATOMS))
        if first and self.backmapper.beads == "centroid" and has_atoms(table) and not table.complete[standard].all():
            missing = int((~table.complete[standard]).sum())
            self.notes.append(f"{missing} residue(s) miss heavy atoms: their centroid beads are the centroids of the atoms given")
        residue_notes: dict[str, list[str]] = {}
        predicted, count, links = predict_model(self.backmapper, atoms, self.batch_size, notes=residue_notes, table=table, **self.options)
        if first:
            for key, labels in residue_notes.items():
                self.notes.append(f"{len(labels)} {RESIDUE_NOTES[key]}: {listed(labels)}")
        self.b_factors.append(predicted.b_factor.astype(np.float64))
        predicted.del_annotation("b_factor")
        self.counts = (len(table), count)
        self.geometry.append(geometry_sums(predicted, links))
        if self.measure and has_atoms(table):
            self.sums.append(backmap_metric_sums(predicted, atoms))
        self.models += 1
        return predicted

    def result(self, predicted: struc.AtomArrayStack) -> BackmapResult:
        return BackmapResult(
            predicted=predicted,
            metrics=pooled_metrics(self.sums) if self.sums else None,
            geometry=pooled_geometry(self.geometry),
            residues=self.counts[0],
            predicted_residues=self.counts[1],
            models=self.models,
            seconds=time.perf_counter() - self.start,
            notes=self.notes,
            checkpoint=self.backmapper.path,
            beads=self.backmapper.beads,
            b_factors=np.stack(self.b_factors) if self.b_factors else None,
        )


def backmap_structure(
    stack: struc.AtomArrayStack,
    backmapper: Backmapper,
    batch_size: int = DEFAULT_BATCH_SIZE,
    measure: bool = True,
    refine: bool = True,
    progress=None,
) -> BackmapResult:
    """Backmap every model of a cleaned stack (`read_structure`); metrics against the input's
    atoms when it has them, the geometry report (`gaan.tasks.protein.structure_geometry`) always.
    `progress(models done)` is called after each model."""
    models = ModelBackmapper(backmapper, batch_size, measure, refine=refine)
    predicted = []
    for m in range(stack.stack_depth()):
        predicted.append(models(stack[m]))
        if progress is not None:
            progress(m + 1)
    return models.result(struc.stack(predicted))


def backmap_file(
    input_path: str | Path,
    output_path: str | Path,
    ckpt: str | Path | None = None,
    beads: str | None = None,
    model: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    refine: bool = True,
    backmapper: Backmapper | None = None,
    progress_every: int | None = None,
) -> BackmapResult:
    """Read, backmap and write one file (see the module docstring); `backmapper`: an already
    loaded network (then `ckpt` and `beads` are not used); `progress_every`: a progress line
    on stderr every that many models of a multi-model file."""
    if batch_size < 1:
        raise BackmapError(f"--batch-size must be >= 1, got {batch_size}")
    check_output_path(output_path, (input_path,))  # before the model is loaded or anything computed
    start = time.perf_counter()
    if backmapper is None:
        backmapper = Backmapper.load(ckpt if ckpt is not None else shipped_checkpoint(beads or "ca"), beads)
    stack, read_notes = read_structure_with_notes(input_path, model=model)
    try:
        progress = None
        if progress_every is not None and stack.stack_depth() > 1:
            from gaan.tasks.protein.trajectory import Progress

            progress = Progress(stack.stack_depth(), progress_every, label="model")
        result = backmap_structure(stack, backmapper, batch_size, refine=refine, progress=progress)
    except ProteinInputError as error:
        raise ProteinInputError(f"{input_path}: {error}") from error
    write_structure(result.predicted, output_path, provenance(input_path, backmapper, refine), b_factors=result.b_factors)
    result.seconds = time.perf_counter() - start
    result.notes = [*read_notes.lines(), *result.notes]
    return result


if __name__ == "__main__":
    sys.exit(main())
