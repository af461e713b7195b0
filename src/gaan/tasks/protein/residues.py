"""Residue vocabulary for backmapping: heavy-atom names per standard amino acid, as the wwPDB
chemical component dictionary (CCD) that biotite ships lists them, and the label ids (residue
type, atom name) that the labeled attention head embeds.

`RESIDUE_ATOMS` is a cached copy of the CCD's names (`ccd_heavy_atoms`), not a hand-typed
table: building it from the CCD at import took about 2 CPU seconds of every `gaan-backmap`
call; tests/tasks/test_residue_atoms.py checks the copy against the CCD."""

from __future__ import annotations

import numpy as np

# The 20 standard amino acids, alphabetical by three-letter code; index 20 is "unknown".
STANDARD_RESIDUES: tuple[str, ...] = (
    "ALA",
    "ARG",
    "ASN",
    "ASP",
    "CYS",
    "GLN",
    "GLU",
    "GLY",
    "HIS",
    "ILE",
    "LEU",
    "LYS",
    "MET",
    "PHE",
    "PRO",
    "SER",
    "THR",
    "TRP",
    "TYR",
    "VAL",
)
UNKNOWN_RESIDUE_INDEX = len(STANDARD_RESIDUES)
NUM_RESIDUE_TYPES = len(STANDARD_RESIDUES) + 1  # one-hot width of the residue-type feature
BACKBONE_ATOMS: tuple[str, ...] = ("N", "CA", "C", "O")

# Chemically equivalent atom pairs (symmetric under a ring flip or a carboxylate/guanidinium
# swap): loss and metrics take the better of the two assignments. Pairs of one residue swap
# together (a PHE ring flip exchanges CD1/CD2 and CE1/CE2 at once).
EQUIVALENT_ATOM_PAIRS: dict[str, tuple[tuple[str, str], ...]] = {
    "ASP": (("OD1", "OD2"),),
    "GLU": (("OE1", "OE2"),),
    "PHE": (("CD1", "CD2"), ("CE1", "CE2")),
    "TYR": (("CD1", "CD2"), ("CE1", "CE2")),
    "ARG": (("NH1", "NH2"),),
}


def ccd_heavy_atoms(residue: str) -> tuple[str, ...]:
    """Heavy-atom names of a residue in the CCD's order, without the terminal OXT (reads the
    CCD, about 2 CPU seconds the first time)."""
    import biotite.structure.info as structure_info

    ideal = structure_info.residue(residue)
    return tuple(str(name) for name, element in zip(ideal.atom_name, ideal.element) if element != "H" and name != "OXT")


# {residue: ccd_heavy_atoms(residue)} for the 20 standard residues, cached (module docstring)
RESIDUE_ATOMS: dict[str, tuple[str, ...]] = {
    "ALA": ("N", "CA", "C", "O", "CB"),
    "ARG": ("N", "CA", "C", "O", "CB", "CG", "CD", "NE", "CZ", "NH1", "NH2"),
    "ASN": ("N", "CA", "C", "O", "CB", "CG", "OD1", "ND2"),
    "ASP": ("N", "CA", "C", "O", "CB", "CG", "OD1", "OD2"),
    "CYS": ("N", "CA", "C", "O", "CB", "SG"),
    "GLN": ("N", "CA", "C", "O", "CB", "CG", "CD", "OE1", "NE2"),
    "GLU": ("N", "CA", "C", "O", "CB", "CG", "CD", "OE1", "OE2"),
    "GLY": ("N", "CA", "C", "O"),
    "HIS": ("N", "CA", "C", "O", "CB", "CG", "ND1", "CD2", "CE1", "NE2"),
    "ILE": ("N", "CA", "C", "O", "CB", "CG1", "CG2", "CD1"),
    "LEU": ("N", "CA", "C", "O", "CB", "CG", "CD1", "CD2"),
    "LYS": ("N", "CA", "C", "O", "CB", "CG", "CD", "CE", "NZ"),
    "MET": ("N", "CA", "C", "O", "CB", "CG", "SD", "CE"),
    "PHE": ("N", "CA", "C", "O", "CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ"),
    "PRO": ("N", "CA", "C", "O", "CB", "CG", "CD"),
    "SER": ("N", "CA", "C", "O", "CB", "OG"),
    "THR": ("N", "CA", "C", "O", "CB", "OG1", "CG2"),
    "TRP": ("N", "CA", "C", "O", "CB", "CG", "CD1", "CD2", "NE1", "CE2", "CE3", "CZ2", "CZ3", "CH2"),
    "TYR": ("N", "CA", "C", "O", "CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ", "OH"),
    "VAL": ("N", "CA", "C", "O", "CB", "CG1", "CG2"),
}
MAX_RESIDUE_ATOMS = max(len(atoms) for atoms in RESIDUE_ATOMS.values())

# label id = position of (residue, atom) in this list
ATOM_LABELS: tuple[tuple[str, str], ...] = tuple((residue, atom) for residue in STANDARD_RESIDUES for atom in RESIDUE_ATOMS[residue])
NUM_ATOM_LABELS = len(ATOM_LABELS)
_LABEL_INDEX = {pair: i for i, pair in enumerate(ATOM_LABELS)}
_RESIDUE_INDEX = {name: i for i, name in enumerate(STANDARD_RESIDUES)}


def residue_type_index(residue: str) -> int:
    """0..19 for a standard residue, UNKNOWN_RESIDUE_INDEX otherwise."""
    return _RESIDUE_INDEX.get(residue, UNKNOWN_RESIDUE_INDEX)


def atom_label_index(residue: str, atom: str) -> int:
    """The label id of heavy atom `atom` of standard residue `residue` (KeyError otherwise)."""
    try:
        return _LABEL_INDEX[(residue, atom)]
    except KeyError:
        raise KeyError(f"({residue!r}, {atom!r}) is not a heavy atom of a standard residue (RESIDUE_ATOMS)") from None


def residue_label_ids(residue: str) -> np.ndarray:
    """Label ids of every heavy atom of `residue`, in RESIDUE_ATOMS order."""
    return np.array([_LABEL_INDEX[(residue, atom)] for atom in RESIDUE_ATOMS[residue]], dtype=np.int64)


def _label_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    residue_of = np.array([_RESIDUE_INDEX[r] for r, _ in ATOM_LABELS], dtype=np.int64)
    is_backbone = np.array([a in BACKBONE_ATOMS for _, a in ATOM_LABELS], dtype=bool)
    position = np.array([RESIDUE_ATOMS[r].index(a) for r, a in ATOM_LABELS], dtype=np.int64)
    partner = position.copy()  # position within the residue of the atom it may swap with
    for residue, pairs in EQUIVALENT_ATOM_PAIRS.items():
        atoms = RESIDUE_ATOMS[residue]
        for a, b in pairs:
            partner[_LABEL_INDEX[(residue, a)]] = atoms.index(b)
            partner[_LABEL_INDEX[(residue, b)]] = atoms.index(a)
    return residue_of, is_backbone, position, partner


# per label id: residue type index, backbone flag, position in its residue, swap partner's position
LABEL_RESIDUE, LABEL_IS_BACKBONE, LABEL_POSITION, LABEL_PARTNER_POSITION = _label_tables()
