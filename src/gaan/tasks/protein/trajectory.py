"""Trajectories for gaan-backmap: a topology and its trajectory in, frame by frame, out.

`gaan-backmap TOPOLOGY --trajectory TRAJ -o OUT` reads through MDAnalysis (any topology and
trajectory it reads: PSF, GRO, TPR, PDB + DCD, XTC, TRR, multi-model PDB, ...). The topology's
atoms are cleaned once, by the structure reader's rules and checks (`structure.kept_protein_atoms`: hydrogens,
water, ions and ligands out, MD names mapped, modified residues to their parent), then each frame
is backmapped as it is read (`backmap.ModelBackmapper`) and written as it is done: frames go to
a temporary file beside OUT that replaces OUT only when every frame is written, so OUT is whole
or untouched. A progress line goes to stderr every `--progress-every` frames (plain lines that
read well in a redirected log), with the rate and the time left.

Outputs: .pdb / .ent (one MODEL per frame, optionally .gz), .dcd / .xtc / .trr (MDAnalysis'
writers, with the backmapped first frame as the topology beside it: OUT with .pdb), .cif /
.mmcif (frames kept and written at the end). The B-factor column (`backmap_report.CONFIDENCE_REMARKS`)
is each frame's own in PDB and mmCIF; DCD, XTC and TRR hold coordinates only, so there only the
topology PDB has one, that of frame 1.
"""

from __future__ import annotations

import gzip
import logging
import sys
import time
import warnings
from pathlib import Path
from typing import TextIO

import biotite.structure as struc
import numpy as np

from gaan.files import move_into_place, temporary_beside
from gaan.tasks.protein.residue_mapping import ReadNotes
from gaan.tasks.protein.structure import ProteinInputError, kept_protein_atoms, set_kept_annotations
from gaan.tasks.protein.writer import (
    StructureWriteError,
    check_output_path,
    check_writable,
    pdb_text,
    structure_format,
    write_structure,
)

TRAJECTORY_SUFFIXES = {".dcd": "DCD", ".xtc": "XTC", ".trr": "TRR"}  # MDAnalysis writer formats


def output_kind(path: Path) -> str:
    """'trajectory' for .dcd / .xtc / .trr, else the structure format ('pdb' / 'mmcif'); refuses
    other names with the accepted list."""
    if path.suffix.lower() in TRAJECTORY_SUFFIXES:
        return "trajectory"
    try:
        return structure_format(path)
    except StructureWriteError as error:
        raise StructureWriteError(f"{error}; with --trajectory also {', '.join(TRAJECTORY_SUFFIXES)}") from None


def topology_output(path: Path) -> Path | None:
    """The PDB written beside a .dcd / .xtc / .trr output (its topology), or None."""
    return path.with_suffix(".pdb") if output_kind(path) == "trajectory" else None


def check_trajectory_output(path: Path, inputs: tuple) -> None:
    """Before any work: a known output kind, and neither it nor its topology PDB an input,
    a directory or unwritable (`writer.check_output_path`)."""
    output_kind(path)
    check_output_path(path, inputs, check_format=False)
    topology = topology_output(path)
    if topology is not None:
        check_output_path(topology, inputs)


def open_universe(topology: str | Path, trajectory: str | Path):
    """An MDAnalysis Universe; errors name both files."""
    logging.getLogger("MDAnalysis").setLevel(logging.ERROR)  # "netCDF4 is not available" and the like
    with warnings.catch_warnings():
        import MDAnalysis as mda

        warnings.simplefilter("ignore")  # after the import: MDAnalysis puts its own filters first

        for path in (topology, trajectory):
            if not Path(path).is_file():
                raise ProteinInputError(f"{path}: no such file")
        try:
            return mda.Universe(str(topology), str(trajectory))
        except Exception as error:  # noqa: BLE001 - MDAnalysis raises many types for files it cannot read
            raise ProteinInputError(
                f"{topology} + {trajectory}: MDAnalysis cannot read them as topology + trajectory ({type(error).__name__}: {error})"
            ) from None


def _chain_ids(atoms) -> list[str]:
    """Chain id per atom: the chainID if the topology has one, else the segment id (CHARMM's
    PROA), else A (a GRO file's placeholder segment SYSTEM)."""
    count = len(atoms)
    chains = [str(c).strip() for c in atoms.chainIDs] if hasattr(atoms, "chainIDs") else [""] * count
    segids = [str(s).strip() for s in atoms.segids] if hasattr(atoms, "segids") else [""] * count
    return [c or (s if s and s != "SYSTEM" else "A") for c, s in zip(chains, segids)]


def topology_template(topology: str | Path, universe, notes: ReadNotes) -> tuple[np.ndarray, struc.AtomArray]:
    """(indices of the kept topology atoms, an AtomArray of them) by the structure reader's rules."""
    atoms = universe.atoms
    count = len(atoms)
    blank = [""] * count
    record = {
        "line": [None] * count,
        "hetero": [str(r).upper() == "HETATM" for r in atoms.record_types] if hasattr(atoms, "record_types") else [False] * count,
        "atom_name": [str(n) for n in atoms.names],
        "altloc": [str(a).strip() for a in atoms.altLocs] if hasattr(atoms, "altLocs") else blank,
        "res_name": [str(r).upper() for r in atoms.resnames],
        "chain_id": _chain_ids(atoms),
        "res_id": [int(r) for r in atoms.resids],
        "ins_code": [str(i).strip() for i in atoms.icodes] if hasattr(atoms, "icodes") else blank,
        "coord": atoms.positions.astype(np.float64),
        "element": [str(e).strip().upper() for e in atoms.elements] if hasattr(atoms, "elements") else blank,
    }
    keep, res_names, atom_names = kept_protein_atoms(Path(topology), record, notes)  # the structure reader's checks
    template = struc.AtomArray(len(keep))
    set_kept_annotations(template, record, keep, res_names, atom_names)
    return keep, template


class Progress:
    """A line to `stream` every `every` frames and after the last: done, rate, time left."""

    def __init__(self, total: int, every: int, stream: TextIO | None = None, label: str = "frame"):
        self.total, self.every, self.stream, self.label = total, every, stream or sys.stderr, label
        self.start = time.perf_counter()

    def __call__(self, done: int) -> None:
        if done % self.every and done != self.total:
            return
        elapsed = time.perf_counter() - self.start
        rate = done / elapsed if elapsed > 0 else float("inf")
        left = (self.total - done) / rate if rate > 0 else float("nan")
        print(
            f"gaan-backmap: {self.label} {done}/{self.total} ({100 * done / self.total:.0f}%), {elapsed:.1f} s, "
            f"{rate:.2f} {self.label}s/s, about {left:.0f} s left",
            file=self.stream,
            flush=True,
        )


class FrameWriter:
    """Frames written as they come to a temporary file beside `path`, moved over `path` by
    `close()`; `discard()` (any failure) removes it and leaves `path` untouched."""

    def __init__(self, path: Path, remarks: list[str]):
        self.path, self.remarks, self.kind = path, remarks, output_kind(path)
        self.frames: list[struc.AtomArray] = []  # mmCIF: written at the end
        self.b_factors: list[np.ndarray | None] = []  # the B-factor column of each frame in self.frames
        self.first_b_factors: np.ndarray | None = None  # frame 1's: the topology PDB's
        self.count, self.first = 0, None
        self.temporary = str(temporary_beside(path))
        self.text: TextIO | None = None
        self.writer = None
        if self.kind == "pdb":
            opener = gzip.open if path.suffix.lower() == ".gz" else open
            self.text = opener(self.temporary, "wt")
            self.text.write("".join(f"REMARK 999 {line}"[:80] + "\n" for line in remarks))

    def write(self, atoms: struc.AtomArray, b_factors: np.ndarray | None = None) -> None:
        """Write one frame; `b_factors`: its B-factor column (formats that have one)."""
        check_writable(struc.stack([atoms]), self.path)  # no frame with NaN or no atoms, whatever the format
        if self.first is None:
            self.first, self.first_b_factors = atoms, b_factors
        elif atoms.array_length() != self.first.array_length() or not np.array_equal(atoms.atom_name, self.first.atom_name):
            raise ProteinInputError(
                f"frame {self.count + 1} gives other atoms than frame 1 ({atoms.array_length()} vs {self.first.array_length()})"
            )
        self.count += 1
        if self.kind == "pdb":
            frame_b_factors = None if b_factors is None else np.asarray(b_factors)[None]
            body = pdb_text(struc.stack([atoms]), self.path, b_factors=frame_b_factors).splitlines()[:-1]  # without END
            body[0] = f"MODEL {self.count:8d}"
            self.text.write("\n".join(body) + "\n")
        elif self.kind == "mmcif":
            self.frames.append(atoms)
            self.b_factors.append(b_factors)
        else:
            writer = self._trajectory_writer(atoms)
            self.universe.atoms.positions = atoms.coord
            writer.write(self.universe.atoms)

    def _trajectory_writer(self, atoms: struc.AtomArray):
        if self.writer is None:
            import MDAnalysis as mda

            self.universe = mda.Universe.empty(atoms.array_length(), trajectory=True)  # coordinates only
            self.writer = mda.Writer(self.temporary, n_atoms=atoms.array_length(), format=TRAJECTORY_SUFFIXES[self.path.suffix.lower()])
        return self.writer

    def close(self) -> list[Path]:
        """Finish and move into place; returns the paths written (the topology PDB too)."""
        if self.count == 0:
            raise ProteinInputError(f"{self.path}: no frames to write")
        written = [self.path]
        if self.kind == "pdb":
            self.text.write("END\n")
            self.text.close()
        elif self.kind == "mmcif":
            b_factors = None if any(b is None for b in self.b_factors) else np.stack(self.b_factors)
            write_structure(struc.stack(self.frames), self.path, self.remarks, b_factors)  # whole or not at all itself
            Path(self.temporary).unlink(missing_ok=True)
            return written
        else:
            self.writer.close()
            topology = topology_output(self.path)
            write_structure(self.first, topology, self.remarks, self.first_b_factors)
            written.append(topology)
        move_into_place(self.temporary, self.path)
        return written

    def discard(self) -> None:
        for handle in (self.text, self.writer):
            try:
                if handle is not None:
                    handle.close()
            except Exception:  # noqa: BLE001 - already failing: only clean up
                pass
        Path(self.temporary).unlink(missing_ok=True)


def backmap_trajectory(
    topology: str | Path,
    trajectory: str | Path,
    output: str | Path,
    backmapper,
    batch_size: int,
    refine: bool = True,
    progress_every: int = 10,
    stream: TextIO | None = None,
):
    """Backmap every frame of `trajectory` (topology `topology`) into `output` (module
    docstring); returns the `BackmapResult` of all frames (metrics against the input's atoms
    when the topology has them)."""
    output = Path(output)
    output_kind(output)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # MDAnalysis' notices (DCD timestep copies, zeroed unit cells, optional readers) are not the user's problem
        warnings.simplefilter("ignore")
        return _backmap_frames(topology, trajectory, output, backmapper, batch_size, refine, progress_every, stream, start)


def _backmap_frames(topology, trajectory, output, backmapper, batch_size, refine, progress_every, stream, start):
    from gaan.tasks.protein.backmap import ModelBackmapper
    from gaan.tasks.protein.backmap_report import provenance

    universe = open_universe(topology, trajectory)
    notes = ReadNotes()
    keep, template = topology_template(topology, universe, notes)
    frames = len(universe.trajectory)
    models = ModelBackmapper(backmapper, batch_size, refine=refine)
    writer = FrameWriter(output, provenance(trajectory, backmapper, refine))
    progress = Progress(frames, progress_every, stream)
    try:
        for index, timestep in enumerate(universe.trajectory):
            atoms = template.copy()
            atoms.coord = timestep.positions[keep].astype(np.float32)
            try:
                writer.write(models(atoms), models.b_factors.pop())  # written, not kept: memory stays flat
            except (ProteinInputError, StructureWriteError) as error:
                raise type(error)(f"{trajectory}: frame {index + 1}: {error}") from error
            progress(index + 1)
        written = writer.close()
    except BaseException:
        writer.discard()
        raise
    result = models.result(struc.stack([writer.first]))
    result.seconds = time.perf_counter() - start
    result.notes = [*notes.lines(), *result.notes]
    if len(written) > 1:
        result.notes.append(f"topology of the output trajectory: {written[1]}")
    return result
