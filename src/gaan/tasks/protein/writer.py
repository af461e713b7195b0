"""Write a protein structure (one model or several) to PDB or mmCIF, whole or not at all.

PDB lines come from biotite's writer (fixed columns, element column, insertion codes, hybrid-36
serials and residue numbers past 99,999 / 9,999); this module adds MODEL/ENDMDL for every
model of a stack, a TER record after each chain and END, so that readers that split chains or
models on those records (PULCHRA, older viewers) see the same structure as biotite does.
The file is written whole or not at all (`gaan.files.write_atomically`: a temporary file next to
the target, moved over it; the permissions any new file gets); a name ending in .gz is
gzip-compressed. The
format comes from the name: PDB for .pdb / .ent, mmCIF for .cif / .mmcif; any other name is
refused (`check_output_path`, which also refuses a directory, the input file itself and a
folder that cannot be written, before any work is done).
`b_factors` (one row per model) fill the B-factor column (PDB columns 61-66, mmCIF
B_iso_or_equiv); without them it holds 0.00 (PDB) or is left out (mmCIF).
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Sequence
from pathlib import Path

import biotite.structure as struc
import numpy as np
from biotite.structure.io import pdb, pdbx

from gaan.files import write_atomically

MMCIF_SUFFIXES = (".cif", ".mmcif")
PDB_SUFFIXES = (".pdb", ".ent")
# %8.3f in columns 31-54: coordinates must stay above -1000 and below 10000
MAX_PDB_SEGMENT_ID = 4  # columns 73-76
PDB_COORDINATE_RANGE = (-999.999, 9999.999)


class StructureWriteError(ValueError):
    """The structure cannot be written in the requested format; the message says why and names
    the output file."""


def write_structure(
    atoms: struc.AtomArray | struc.AtomArrayStack,
    path: str | Path,
    remarks: Sequence[str] = (),
    b_factors: np.ndarray | None = None,
) -> Path:
    """Write `atoms` to `path`: mmCIF for .cif / .mmcif, PDB otherwise. A stack is written as
    one model per member. `remarks`: lines of provenance, as REMARK 999 records (PDB) or
    comment lines (mmCIF). `b_factors`: (models, atoms) or (atoms,) values for the B-factor
    column. Returns the path."""
    path = Path(path)
    stack = atoms if isinstance(atoms, struc.AtomArrayStack) else struc.stack([atoms])
    check_writable(stack, path)
    b_factors = model_b_factors(stack, b_factors)
    if structure_format(path) == "mmcif":
        text = "".join(f"# {line}\n" for line in remarks) + mmcif_text(stack, b_factors)
    else:
        text = pdb_text(stack, path, remarks, b_factors)
    data = text.encode()
    if path.suffix.lower() == ".gz":
        data = gzip.compress(data, mtime=0)  # mtime 0: the same structure gives the same bytes
    write_atomically(path, data)
    return path


def structure_format(path: Path) -> str:
    """'pdb' or 'mmcif' from the file name (a trailing .gz aside); StructureWriteError naming
    the accepted endings otherwise."""
    suffixes = [suffix.lower() for suffix in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in PDB_SUFFIXES:
        return "pdb"
    if suffix in MMCIF_SUFFIXES:
        return "mmcif"
    accepted = ", ".join([*PDB_SUFFIXES, *MMCIF_SUFFIXES])
    raise StructureWriteError(f"{path}: unknown output format {suffix or '(no extension)'!r}; name it {accepted} (optionally + .gz)")


def check_output_path(path: str | Path, inputs: tuple[str | Path, ...] = (), check_format: bool = True) -> Path:
    """Refuse, before any work, an output that could not be written or would destroy an input:
    an unknown format, a directory, one of `inputs`, or a folder that is a file or not
    writable. Returns the path."""
    path = Path(path)
    if check_format:  # off for trajectory outputs (gaan.tasks.protein.trajectory checks those)
        structure_format(path)
    if path.is_dir():
        raise StructureWriteError(f"{path}: is a directory; give a file name (e.g. {path / 'out.pdb'})")
    for source in inputs:
        source = Path(source)
        same = path.resolve() == source.resolve() or (path.exists() and source.exists() and path.samefile(source))
        if same:
            raise StructureWriteError(f"{path}: is the input file; choose another output name (the input would be replaced)")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise StructureWriteError(f"{path}: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StructureWriteError(f"{path}: cannot write in {folder} (permission denied)")
    return path


def check_writable(stack: struc.AtomArrayStack, path: Path) -> None:
    if stack.stack_depth() == 0 or stack.array_length() == 0:
        raise StructureWriteError(f"{path}: nothing to write (no atoms)")
    finite = np.isfinite(stack.coord).all(axis=-1)
    if not finite.all():
        model, atom = np.argwhere(~finite)[0]
        raise StructureWriteError(
            f"{path}: non-finite coordinates for atom {stack.atom_name[atom]} of residue {residue_label(stack, atom)} "
            f"in model {model + 1}; nothing written"
        )


def model_b_factors(stack: struc.AtomArrayStack, b_factors: np.ndarray | None) -> np.ndarray | None:
    """`b_factors` as (models, atoms), a single row repeated for every model; None stays None."""
    if b_factors is None:
        return None
    b_factors = np.asarray(b_factors, dtype=np.float64)
    shape = (stack.stack_depth(), stack.array_length())
    if b_factors.ndim == 1:
        b_factors = np.broadcast_to(b_factors, shape)
    if b_factors.shape != shape:
        raise ValueError(f"b_factors: shape {b_factors.shape} for {shape[0]} model(s) of {shape[1]} atoms")
    return b_factors


def residue_label(atoms: struc.AtomArray | struc.AtomArrayStack, index: int) -> str:
    """'ALA 12A of chain B': how messages name a residue."""
    return f"{atoms.res_name[index]} {atoms.res_id[index]}{atoms.ins_code[index]} of chain {atoms.chain_id[index]!r}"


def pdb_text(stack: struc.AtomArrayStack, path: Path, remarks: Sequence[str] = (), b_factors: np.ndarray | None = None) -> str:
    """PDB text of a stack. Chain ids of one character go to column 22; of two (hybrid-36 files of
    large assemblies) to columns 21-22; of three or four (CHARMM segment ids such as PROA) to the
    segment id columns 73-76 with the chain column blank, as CHARMM, NAMD and VMD write them
    (`structure.read_structure` reads all three back); longer ones need mmCIF."""
    chain_ids = stack.chain_id.astype(str)
    long_chains = sorted({c for c in np.unique(chain_ids) if len(c) > MAX_PDB_SEGMENT_ID})
    if long_chains:
        raise StructureWriteError(
            f"{path}: chain ids {', '.join(map(repr, long_chains[:5]))}{' ...' if len(long_chains) > 5 else ''} have more than "
            f"the {MAX_PDB_SEGMENT_ID} characters PDB files can hold (as a segment id); write mmCIF instead (an output name ending in .cif)"
        )
    low, high = PDB_COORDINATE_RANGE
    if stack.coord.min() < low or stack.coord.max() > high:
        raise StructureWriteError(f"{path}: coordinates outside [{low}, {high}] A do not fit the PDB columns; write mmCIF (.cif)")
    stack = stack.copy()
    stack.box = None  # no CRYST1 record: a backmapped model has no crystal cell
    if stack.hetero.any():
        stack.hetero = np.zeros(stack.array_length(), dtype=bool)
    needs_hybrid36 = stack.array_length() > 99_999 or stack.res_id.max() > 9_999 or stack.res_id.min() < -999
    wide = any(len(c) > 1 for c in chain_ids)
    if wide:
        stack.chain_id = np.full(stack.array_length(), "A")  # the real ids are put in below
    pdb_file = pdb.PDBFile()
    pdb_file.set_structure(stack, hybrid36=bool(needs_hybrid36))
    buffer = io.StringIO()
    pdb_file.write(buffer)
    lines = [line for line in buffer.getvalue().splitlines() if line.startswith(("ATOM", "HETATM", "MODEL", "ENDMDL"))]
    if wide:
        lines = with_chain_ids(lines, chain_ids)
    if b_factors is not None:
        lines = with_b_factors(lines, b_factors)
    if not any(line.startswith("MODEL") for line in lines):  # one model: wrap it all the same
        lines = ["MODEL        1", *lines, "ENDMDL"]
    header = [f"REMARK 999 {text}"[:80] for text in remarks]
    return "\n".join([*header, *with_ter_records(lines)]) + "\nEND\n"


def with_chain_ids(lines: list[str], chain_ids: np.ndarray) -> list[str]:
    """Atom lines with atom k of every model given chain id chain_ids[k] (`pdb_text`)."""
    out, atom = [], 0
    for line in lines:
        if line.startswith(("ATOM", "HETATM")):
            chain = str(chain_ids[atom])
            line = line.ljust(80)
            if len(chain) <= 2:
                line = line[:20] + chain.rjust(2) + line[22:]
            else:
                line = line[:20] + "  " + line[22:72] + chain.ljust(4) + line[76:]
            line = line.rstrip()
            atom += 1
        elif line.startswith("MODEL"):
            atom = 0
        out.append(line)
    return out


def with_b_factors(lines: list[str], b_factors: np.ndarray) -> list[str]:
    """Atom lines with atom k of model m given B-factor b_factors[m, k] (columns 61-66, %6.2f,
    clipped to what the columns hold)."""
    values = np.clip(b_factors, -99.99, 999.99)
    out, model, atom = [], 0, 0
    for line in lines:
        if line.startswith(("ATOM", "HETATM")):
            line = line.ljust(80)
            line = (line[:60] + f"{values[model, atom]:6.2f}" + line[66:]).rstrip()
            atom += 1
        elif line.startswith("ENDMDL"):
            model, atom = model + 1, 0
        out.append(line)
    return out


def with_ter_records(lines: list[str]) -> list[str]:
    """Insert a TER record after the last atom of every chain (before ENDMDL and wherever the
    chain id changes)."""
    out: list[str] = []
    previous: str | None = None

    def terminate() -> None:
        if previous is not None:
            # TER: serial (7-11) left blank, residue name (18-20), chain (22), residue number + insertion code (23-27)
            out.append(("TER" + " " * 14 + previous[17:27]).rstrip())

    for line in lines:
        if line.startswith(("ATOM", "HETATM")):
            if previous is not None and (line[20:22] != previous[20:22] or line[72:76] != previous[72:76]):
                terminate()
            previous = line
        elif line.startswith("ENDMDL"):
            terminate()
            previous = None
        out.append(line)
    return out


def mmcif_text(stack: struc.AtomArrayStack, b_factors: np.ndarray | None = None) -> str:
    cif = pdbx.CIFFile()
    stack = stack.copy()
    stack.box = None
    pdbx.set_structure(cif, stack)
    if b_factors is not None:  # atom_site rows run model by model
        cif.block["atom_site"]["B_iso_or_equiv"] = np.round(b_factors, 2).ravel()
    buffer = io.StringIO()
    cif.write(buffer)
    return buffer.getvalue()
