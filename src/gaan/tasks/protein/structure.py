"""Read a protein structure (PDB or mmCIF) into a cleaned biotite `AtomArrayStack`.

Cleaning: hydrogens, waters, ions, ligands and nucleotides are dropped (and named:
`read_structure_with_notes`); modified amino acids become their parent (SEP -> SER, MSE -> MET
with SE -> SD, ...: `residue_mapping`); the first alternate location of every atom is kept; the
residue and atom names that MD engines write are mapped to PDB names (GROMACS / CHARMM /
AMBER: ILE CD -> CD1, HSD/HSE/HSP/HID/HIE/HIP -> HIS, CYX -> CYS, terminal OC1/OT1 -> O and
OC2/OT2 -> OXT). Bad input raises `ProteinInputError` naming the file and the line (PDB) or
the residue (mmCIF).

PDB files are parsed here, line by line, rather than by biotite's reader: that gives the line
number of every bad record, tolerates the blank occupancy / element columns of MD and OPM files,
and reads CHARMM segment ids and 4-letter residue names (TIP3).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import biotite.structure as struc
import biotite.structure.io.pdbx as pdbx
import numpy as np

from gaan.tasks.protein.residue_mapping import ReadNotes, is_nucleotide, link_type, parent_residue, residue_label
from gaan.tasks.protein.residues import RESIDUE_ATOMS, STANDARD_RESIDUES


class ProteinInputError(ValueError):
    """A structure file cannot be used; the message names the file and the line or residue."""


# MD engines' residue names -> PDB names (protonation / disulfide / terminal variants)
MD_RESIDUE_NAMES = {
    "HSD": "HIS",
    "HSE": "HIS",
    "HSP": "HIS",
    "HID": "HIS",
    "HIE": "HIS",
    "HIP": "HIS",
    "HIN": "HIS",
    "CYX": "CYS",
    "CYM": "CYS",
    "ASH": "ASP",
    "GLH": "GLU",
    "LYN": "LYS",
}
# (residue after renaming or "*" for any) -> {MD atom name: PDB atom name}
MD_ATOM_NAMES = {
    "*": {"OC1": "O", "OT1": "O", "O1": "O", "OC2": "OXT", "OT2": "OXT", "O2": "OXT"},
    "ILE": {"CD": "CD1"},
    "MET": {"SE": "SD"},  # from MSE (selenomethionine, mapped to its parent: residue_mapping)
}
# waters and ions as MD engines and the PDB name them; dropped even from ATOM records
SOLVENT_AND_ION_NAMES = frozenset(
    "HOH WAT H2O DOD TIP TIP3 TIP4 TIP5 T3P T4P SOL SPC SPCE OPC "
    "NA NA+ SOD K K+ POT CL CL- CLA MG CA CAL ZN MN FE FE2 CU CO NI CD IOD BR LI CS RB".split()
)
UNKNOWN_RESIDUE_NAMES = frozenset({"UNK"})  # kept as context of unknown type
_STANDARD = frozenset(STANDARD_RESIDUES)


def _decode_hybrid36(text: str) -> int:
    """Residue numbers past 9999 in hybrid-36 (4 columns), as VMD / ProDy write them."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    if text and text[0].isupper():
        return int(text, 36) - 10 * 36**3 + 10_000
    if text and text[0].islower():
        return int(text, 36) - 10 * 36**3 + 10_000 + 26 * 36**3
    raise ValueError(text)


def _is_hydrogen(atom_name: str, element: str) -> bool:
    if element:
        return element in ("H", "D")
    stripped = atom_name.lstrip("0123456789")
    return bool(stripped) and stripped[0] in ("H", "D")


def _residue_name_and_chain(line: str) -> tuple[str, str]:
    """Residue name and chain id of an ATOM/HETATM line. Column 21 is blank in the PDB format;
    it holds the 4th letter of CHARMM/NAMD residue names (TIP3, chain in the segment id, columns
    73-76) or the first character of two-character chain ids (hybrid-36 files of large
    assemblies: 'AA', 'Ba', ... in columns 21-22, which would merge if only column 22 were read)."""
    if line[20] != " " and line[21] == " ":
        res_name, chain = line[17:21].strip(), ""
    elif line[20] != " ":
        four = line[17:21].strip().upper()
        if four in MD_RESIDUE_NAMES or four in SOLVENT_AND_ION_NAMES:
            res_name, chain = four, line[21]
        else:
            res_name, chain = line[17:20].strip(), line[20:22]
    else:
        res_name, chain = line[17:20].strip(), line[21].strip()
    if not chain and len(line) > 72:
        chain = line[72:76].strip()  # CHARMM segment id
    return res_name, chain


def _parse_pdb(path: Path, lines: list[str]) -> list[dict]:
    """Models of a PDB file as dicts of per-atom lists (with source line numbers)."""
    models: list[dict] = []
    current: dict | None = None
    saw_model_record = False
    for number, line in enumerate(lines, start=1):
        record = line[:6]
        if record.startswith("MODEL"):
            saw_model_record = True
            current = None
            continue
        if record.startswith("ENDMDL"):
            current = None
            continue
        if record not in ("ATOM  ", "HETATM"):
            continue
        if current is None:
            current = {
                k: [] for k in ("line", "hetero", "atom_name", "altloc", "res_name", "chain_id", "res_id", "ins_code", "coord", "element")
            }
            models.append(current)
        if len(line.rstrip("\n")) < 54:
            raise ProteinInputError(
                f"{path}: line {number}: {record.strip()} record is truncated "
                f"({len(line.rstrip())} characters, coordinates need 54): {line.rstrip()!r}"
            )
        try:
            coord = (float(line[30:38]), float(line[38:46]), float(line[46:54]))
        except ValueError:
            raise ProteinInputError(f"{path}: line {number}: malformed coordinates in columns 31-54: {line.rstrip()!r}") from None
        try:
            res_id = _decode_hybrid36(line[22:26])
        except ValueError:
            raise ProteinInputError(f"{path}: line {number}: malformed residue number in columns 23-26: {line.rstrip()!r}") from None
        if not all(np.isfinite(coord)):
            raise ProteinInputError(f"{path}: line {number}: non-finite coordinates {coord}: {line.rstrip()!r}")
        res_name, chain = _residue_name_and_chain(line)
        current["line"].append(number)
        current["hetero"].append(record == "HETATM")
        current["atom_name"].append(line[12:16].strip())
        current["altloc"].append(line[16].strip())
        current["res_name"].append(res_name.upper())
        current["chain_id"].append(chain or "A")
        current["res_id"].append(res_id)
        current["ins_code"].append(line[26].strip())
        current["coord"].append(coord)
        current["element"].append(line[76:78].strip().upper() if len(line) >= 78 else "")
    if not models:
        raise ProteinInputError(f"{path}: no ATOM/HETATM records (empty or not a PDB file)")
    del saw_model_record
    return models


def _parse_cif(path: Path) -> list[dict]:
    try:
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rt") as handle:
                cif = pdbx.CIFFile.read(handle)
        else:
            cif = pdbx.CIFFile.read(str(path))
        stack = pdbx.get_structure(cif, model=None, altloc="all", use_author_fields=True, extra_fields=[])
    except ProteinInputError:
        raise
    except Exception as error:  # biotite raises many types for broken CIF
        raise ProteinInputError(f"{path}: cannot read as mmCIF ({type(error).__name__}: {error})") from None
    if stack.array_length() == 0:
        raise ProteinInputError(f"{path}: no atoms in the mmCIF atom_site table (empty or truncated file)")
    altloc = stack.get_annotation("altloc_id") if "altloc_id" in stack.get_annotation_categories() else np.full(stack.array_length(), "")
    models = []
    for model in stack:
        models.append(
            {
                "line": [None] * model.array_length(),
                "hetero": list(model.hetero),
                "atom_name": [str(a) for a in model.atom_name],
                "altloc": [str(a).replace(".", "").replace("?", "") for a in altloc],
                "res_name": [str(r).upper() for r in model.res_name],
                "chain_id": [str(c) for c in model.chain_id],
                "res_id": [int(r) for r in model.res_id],
                "ins_code": [str(i) for i in model.ins_code],
                "coord": model.coord.astype(np.float64),
                "element": [str(e).upper() for e in model.element],
            }
        )
    return models


def _where(path: Path, model: dict, i: int) -> str:
    line = model["line"][i]
    residue = f"residue {model['res_name'][i]} {model['chain_id'][i]}{model['res_id'][i]}{model['ins_code'][i]}"
    return f"{path}: line {line}: {residue}" if line is not None else f"{path}: {residue}"


MARTINI_BEAD_NAMES = frozenset({"BB", "SC1", "SC2", "SC3", "SC4", "SC5"})
MARTINI_BACKBONE = "BB"


def _refuse_unknown_martini_beads(path: Path, model: dict, group: np.ndarray) -> None:
    """A standard residue with a BB bead holds Martini beads only: another name there (a typo,
    SC6) is refused, naming the file, line and residue."""
    standard = [MD_RESIDUE_NAMES.get(res, res) in _STANDARD for res in model["res_name"]]
    with_bb = {group[i] for i, name in enumerate(model["atom_name"]) if name == MARTINI_BACKBONE and standard[i]}
    for i, name in enumerate(model["atom_name"]):
        if group[i] in with_bb and name not in MARTINI_BEAD_NAMES:
            raise ProteinInputError(f"{_where(path, model, i)}: unknown Martini bead {name} (Martini beads are BB and SC1..SC5)")


def is_martini(model: dict) -> bool:
    """Whether a parsed model holds Martini beads: every record of a standard amino acid is a
    Martini bead name (BB backbone bead, SC1..SC5 side-chain beads) and some are BB."""
    names = [name for name, res in zip(model["atom_name"], model["res_name"]) if MD_RESIDUE_NAMES.get(res, res) in _STANDARD]
    return any(name == MARTINI_BACKBONE for name in names) and all(name in MARTINI_BEAD_NAMES for name in names)


def _label(model: dict, i: int) -> str:
    """The residue of record i as notes name it ('SEP A65')."""
    return residue_label(model["res_name"][i], model["chain_id"][i], model["res_id"][i], model["ins_code"][i])


def _residue_groups(model: dict) -> np.ndarray:
    """Per record, the index of its residue: a run of records with one chain, number, insertion
    code and name."""
    group = np.zeros(len(model["atom_name"]), dtype=np.int64)
    key_of = lambda j: (model["chain_id"][j], model["res_id"][j], model["ins_code"][j], model["res_name"][j])  # noqa: E731
    for i in range(1, len(group)):
        group[i] = group[i - 1] + (key_of(i) != key_of(i - 1))
    return group


def _keep_atoms(
    path: Path, model: dict, unknown_residues: list[str], notes: ReadNotes | None = None
) -> tuple[np.ndarray, list[str], list[str]]:
    """Indices of the atoms to keep, with their normalised residue and atom names; what is
    mapped or dropped is recorded in `notes` (`residue_mapping.ReadNotes`)."""
    notes = ReadNotes() if notes is None else notes
    keep, res_names, atom_names = [], [], []
    seen: set[tuple] = set()
    coords = np.asarray(model["coord"], dtype=np.float64)
    # a chain id whose residue numbers restart (two copies of one chain, no TER) starts a new
    # copy, so its atoms are not mistaken for alternate locations of the first
    copy, previous = 0, (None, None)
    # residues that have a backbone N and CA: an unknown name there is a mistyped or unsupported
    # amino acid (an error), a modified one is built as its parent
    group = _residue_groups(model)
    backbone_names: dict[int, set] = {}
    heavy_records = np.zeros(group[-1] + 1 if len(group) else 0, dtype=np.int64)
    for i, name in enumerate(model["atom_name"]):
        if name in ("N", "CA"):
            backbone_names.setdefault(int(group[i]), set()).add(name)
        if not _is_hydrogen(name, model["element"][i]):
            heavy_records[group[i]] += 1
    amino_like = {g for g, names in backbone_names.items() if len(names) == 2}
    # Martini beads (BB, SC1..SC5) are kept as their residue's atoms: the martini models read
    # them (bead_input, martini_sidechains)
    martini = is_martini(model)
    if not martini:
        _refuse_unknown_martini_beads(path, model, group)
    for i in range(len(model["atom_name"])):
        res_name, atom_name = model["res_name"][i], model["atom_name"][i]
        chain_id, res_id = model["chain_id"][i], model["res_id"][i]
        if chain_id == previous[0] and res_id < previous[1]:
            copy += 1
        previous = (chain_id, res_id)
        if res_name in SOLVENT_AND_ION_NAMES:
            notes.drop("water and ion residue(s)", _label(model, i))
            continue
        hetero = model["hetero"][i]
        renamed = MD_RESIDUE_NAMES.get(res_name, res_name)
        modified = False
        if renamed not in _STANDARD and renamed not in UNKNOWN_RESIDUE_NAMES:
            parent = parent_residue(res_name) if int(group[i]) in amino_like else None
            if parent is not None:  # SEP -> SER, MSE -> MET, ... (HETATM or ATOM)
                notes.map_modified(_label(model, i), parent)
                renamed, modified = parent, True
            elif hetero:
                notes.drop("ligand(s) and other HETATM residue(s)", _label(model, i))
                continue
            else:
                link = link_type(res_name)
                peptide = link is not None and "PEPTIDE" in link.upper()
                if link is None or (not peptide and int(group[i]) in amino_like):
                    unknown_residues.append(_where(path, model, i))
                    continue
                if not peptide:
                    kind = "nucleotide(s)" if is_nucleotide(res_name) else "non-protein ATOM residue(s)"
                    notes.drop(kind, _label(model, i))
                    continue
                renamed = "UNK"  # a non-standard amino acid in the chain: context of unknown type
        if _is_hydrogen(atom_name, model["element"][i] if renamed in _STANDARD else ""):
            continue
        atom_name = MD_ATOM_NAMES.get(renamed, {}).get(atom_name, MD_ATOM_NAMES["*"].get(atom_name, atom_name))
        bead = martini and atom_name in MARTINI_BEAD_NAMES
        if renamed in _STANDARD and atom_name not in RESIDUE_ATOMS[renamed] and atom_name != "OXT" and not bead:
            if heavy_records[group[i]] != 1 or modified:
                if modified:
                    notes.extra_atom(_label(model, i), atom_name)
                continue  # hydrogens without element columns, MD extras (e.g. CHARMM's HT1 variants)
            # the only atom of its residue: a bead of a bead-only file (a centroid named CEN, SC, ...)
        if not np.all(np.isfinite(coords[i])):
            raise ProteinInputError(f"{_where(path, model, i)}: non-finite coordinates {tuple(coords[i])}")
        key = (copy, chain_id, res_id, model["ins_code"][i], atom_name)
        if key in seen:
            continue  # a later alternate location (the first one is kept)
        seen.add(key)
        keep.append(i)
        res_names.append(renamed)
        atom_names.append(atom_name)
    return np.asarray(keep, dtype=np.int64), res_names, atom_names


def kept_protein_atoms(path: Path, record: dict, notes: ReadNotes) -> tuple[np.ndarray, list[str], list[str]]:
    """`_keep_atoms` of a parsed record (a file's first model, or a trajectory's topology), refusing
    unknown residue names (the first one's place, every name, the atom count) and a record with
    no protein residue left: `ProteinInputError`."""
    unknown: list[str] = []
    keep, res_names, atom_names = _keep_atoms(path, record, unknown, notes)
    if unknown:
        names = sorted({u.rsplit("residue ", 1)[-1].split()[0] for u in unknown})
        raise ProteinInputError(
            f"{unknown[0]}: unknown residue name(s) {names} in ATOM records (not a standard amino acid, "
            f"an MD variant, water/ion or a chemical component biotite knows); {len(unknown)} atom(s) affected"
        )
    if len(keep) == 0:
        raise ProteinInputError(f"{path}: no protein residues (after dropping hydrogens, waters, ions and ligands)")
    return keep, res_names, atom_names


def read_structure(path: str | Path, model: int | None = None) -> struc.AtomArrayStack:
    """`read_structure_with_notes` without the notes."""
    return read_structure_with_notes(path, model)[0]


def read_structure_with_notes(path: str | Path, model: int | None = None) -> tuple[struc.AtomArrayStack, ReadNotes]:
    """Read and clean a PDB (.pdb, .ent, optionally .gz) or mmCIF (.cif) file.

    model: None for every model (NMR models, trajectory frames), or the 1-based model number.
    Returns an `AtomArrayStack` (one entry per model) of protein heavy atoms with annotations
    chain_id, res_id, ins_code, res_name (standard names, or UNK), atom_name, element, hetero.
    Raises `ProteinInputError` for empty, truncated or malformed files, files without protein
    residues, unknown residue names and non-finite coordinates. The notes name the residues
    mapped to a parent amino acid or dropped (`residue_mapping.ReadNotes`).
    """
    path = Path(path)
    if not path.is_file():
        raise ProteinInputError(f"{path}: no such file")
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in (".cif", ".mmcif"):
        models = _parse_cif(path)
    else:
        opener = gzip.open if path.suffix.lower() == ".gz" else open
        try:
            with opener(path, "rt", errors="replace") as handle:
                lines = handle.readlines()
        except (OSError, EOFError) as error:
            raise ProteinInputError(f"{path}: cannot read ({error})") from None
        models = _parse_pdb(path, lines)
    if model is not None:
        if not 1 <= model <= len(models):
            raise ProteinInputError(f"{path}: model {model} requested but the file has {len(models)} model(s)")
        models = [models[model - 1]]
    notes = ReadNotes()
    keep, res_names, atom_names = kept_protein_atoms(path, models[0], notes)
    first = models[0]
    stack = struc.AtomArrayStack(len(models), len(keep))
    for index, entry in enumerate(models):
        if len(entry["atom_name"]) != len(first["atom_name"]) or entry["atom_name"] != first["atom_name"]:
            raise ProteinInputError(
                f"{path}: model {index + 1} has different atoms from model 1 "
                f"({len(entry['atom_name'])} vs {len(first['atom_name'])} records); read one model with --model N"
            )
        coords = np.asarray(entry["coord"], dtype=np.float64)[keep]
        if not np.all(np.isfinite(coords)):
            bad = keep[np.flatnonzero(~np.isfinite(coords).all(1))[0]]
            raise ProteinInputError(f"{_where(path, entry, int(bad))} (model {index + 1}): non-finite coordinates")
        stack.coord[index] = coords.astype(np.float32)
    set_kept_annotations(stack, first, keep, res_names, atom_names)
    return stack, notes


def set_kept_annotations(atoms, record: dict, keep, res_names: list[str], atom_names: list[str]) -> None:
    """The annotations of the kept atoms (`_keep_atoms`) of a parsed record, on an AtomArray or
    stack of that length: chain, residue number, insertion code and the cleaned names."""
    atoms.chain_id = np.array([record["chain_id"][i] for i in keep], dtype="U4")
    atoms.res_id = np.array([record["res_id"][i] for i in keep], dtype=np.int64)
    atoms.ins_code = np.array([record["ins_code"][i] for i in keep], dtype="U1")
    atoms.res_name = np.array(res_names, dtype="U5")
    atoms.atom_name = np.array(atom_names, dtype="U6")
    atoms.element = np.array([a[0] for a in atom_names], dtype="U2")
    atoms.hetero = np.zeros(len(keep), dtype=bool)  # modified residues became their parent: polymer residues
