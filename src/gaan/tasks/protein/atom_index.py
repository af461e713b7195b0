"""Where each residue's atoms are: per residue, atom name -> atom index, and the peptide-bonded
residue pairs that hold every atom of their peptide unit. One reading for the peptide planes
(`peptide_planes`), the refinement's restraints (`refinement`) and the geometry report
(`structure_geometry`)."""

from __future__ import annotations

import biotite.structure as struc
import numpy as np

PEPTIDE_BEFORE = frozenset({"CA", "C", "O"})  # residue r's atoms of the peptide unit r -> r + 1
PEPTIDE_AFTER = frozenset({"N", "CA"})  # residue r + 1's


def residue_atom_indices(atoms: struc.AtomArray) -> list[dict[str, int]]:
    """Per residue (in order), its atoms' names mapped to their indices in `atoms`."""
    starts = struc.get_residue_starts(atoms, add_exclusive_stop=True)
    names = atoms.atom_name
    return [{str(name): int(lo + k) for k, name in enumerate(names[lo:hi])} for lo, hi in zip(starts[:-1], starts[1:])]


def complete_peptides(index: list[dict[str, int]], links: np.ndarray) -> np.ndarray:
    """(P,) residues r peptide-bonded to r + 1 (`links[r]`) where r has CA, C, O and r + 1 has
    N and CA (`index`: `residue_atom_indices`)."""
    return np.array(
        [r for r in np.flatnonzero(links) if PEPTIDE_BEFORE <= index[r].keys() and PEPTIDE_AFTER <= index[r + 1].keys()], dtype=np.int64
    )
