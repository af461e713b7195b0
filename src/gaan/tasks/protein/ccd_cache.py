"""The 20 standard residues of the wwPDB chemical component dictionary (CCD), cached.

`biotite.structure.info.residue(name)` decodes the CCD that biotite ships: about 0.1 CPU second
per residue and a second or more for the first, paid by every `gaan-backmap` call whose
refinement needs the ideal residues. `ccd_residue` gives the same AtomArray (atom names,
elements, ideal coordinates, bonds with their orders) from `standard_residues_ccd.json`, a copy
written by `write_cache` from biotite's CCD; tests/tasks/test_residue_atoms.py checks that the
copy and the CCD agree.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import biotite.structure as struc
import numpy as np

from gaan.files import write_atomically

CACHE_FILE = Path(__file__).with_name("standard_residues_ccd.json")


@cache
def _cached() -> dict:
    return json.loads(CACHE_FILE.read_text())


def ccd_residue(name: str) -> struc.AtomArray:
    """The CCD's ideal `name` (a standard residue; other names are read from the CCD itself)."""
    entry = _cached().get(name)
    if entry is None:
        import biotite.structure.info as structure_info

        return structure_info.residue(name)
    atoms = struc.AtomArray(len(entry["atom_name"]))
    atoms.atom_name = np.array(entry["atom_name"])
    atoms.element = np.array(entry["element"])
    atoms.add_annotation("charge", int)
    atoms.charge = np.array(entry["charge"], dtype=int)
    atoms.res_name[:] = name
    atoms.hetero[:] = False
    atoms.coord = np.array(entry["coord"], dtype=np.float32)
    bonds = np.array(entry["bonds"], dtype=np.int64).reshape(-1, 3)
    atoms.bonds = struc.BondList(len(entry["atom_name"]), bonds)
    return atoms


def write_cache(path: Path = CACHE_FILE) -> None:
    """(Re)write the cache from biotite's CCD."""
    import biotite.structure.info as structure_info

    from gaan.tasks.protein.residues import STANDARD_RESIDUES

    data = {}
    for name in STANDARD_RESIDUES:
        residue = structure_info.residue(name)
        data[name] = {
            "atom_name": [str(a) for a in residue.atom_name],
            "element": [str(e) for e in residue.element],
            "charge": [int(c) for c in residue.charge],
            "coord": [[round(float(v), 4) for v in xyz] for xyz in residue.coord],
            "bonds": [[int(i), int(j), int(order)] for i, j, order in residue.bonds.as_array()],
        }
    write_atomically(path, json.dumps(data, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    write_cache()
