"""Martini beads (backbone BB, side chain SC1..SC5) as vermouth, the engine of martinize2, maps them.

A Martini 3 (`martini3001`) bead is the centre of the atoms its mapping file assigns to it,
weighted as martinize2 weights them: the mapping weight times the atom's mass
(`center_weight = mass` in vermouth's martini3001 force field; masses from
`vermouth.processors.attach_mass.ATOM_MASSES`). Hydrogens are left out (the protein task has
heavy atoms only; martinize2 on a file with hydrogens also counts the amide H, weight 1 of 55,
which moves BB by about 0.04 A).

Side-chain atoms may be shared between beads with fractional mapping weights (PHE's ring).

`derive_bead_weights` reads the mapping files vermouth ships (it imports vermouth, about 2 CPU
seconds); `bb_weights` and `sidechain_weights` read the cached copies `martini_bb.json` and
`martini_sc.json`, so gaan-backmap never imports vermouth. tests/test_backmap_martini.py and
tests/test_martini_sidechains.py check the copies against vermouth.

    python -m gaan.tasks.protein.martini     # rewrite martini_bb.json and martini_sc.json from vermouth
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from gaan.files import write_atomically
from gaan.tasks.protein.residues import RESIDUE_ATOMS, STANDARD_RESIDUES

BB_TABLE = Path(__file__).with_name("martini_bb.json")
SC_TABLE = Path(__file__).with_name("martini_sc.json")
FORCE_FIELD = "martini3001"
SOURCE_FORCE_FIELD = "charmm"  # the atomistic side of the mapping files; its heavy-atom names are the PDB's for BB
# vermouth names histidine by protonation state in the charmm mappings
VERMOUTH_NAMES = {"HIS": ("HIS", "HSD", "HSE")}
# atoms the charmm mappings name otherwise than the PDB (martinize2 renames the input's to match)
CHARMM_ATOM_NAMES = {"ILE": {"CD": "CD1"}}


def derive_bead_weights(force_field: str = FORCE_FIELD) -> dict[str, dict[str, dict[str, float]]]:
    """Per standard residue, per bead (BB, SC1, ...), the heavy atoms of the bead and their weights
    (mapping weight times mass), from vermouth's mapping files for `force_field` (martini3001,
    martini22, ...); beads without heavy atoms are left out."""
    import os

    import vermouth
    import vermouth.map_input
    from vermouth.forcefield import find_force_fields
    from vermouth.processors.attach_mass import ATOM_MASSES

    data = os.path.join(os.path.dirname(vermouth.__file__), "data")
    force_fields = find_force_fields(os.path.join(data, "force_fields"))
    mappings = vermouth.map_input.read_mapping_directory(os.path.join(data, "mappings"), force_fields)
    by_name = mappings[SOURCE_FORCE_FIELD][force_field]
    table: dict[str, dict[str, dict[str, float]]] = {}
    for residue in STANDARD_RESIDUES:
        name = next(n for n in VERMOUTH_NAMES.get(residue, (residue,)) if n in by_name)
        mapping = by_name[name].mapping
        beads: dict[str, dict[str, float]] = {}
        renamed = CHARMM_ATOM_NAMES.get(residue, {})
        for mapped_atom, bead_weights in mapping.items():
            atom = renamed.get(mapped_atom, mapped_atom)
            for bead, weight in bead_weights.items():
                if weight and atom in RESIDUE_ATOMS[residue]:
                    beads.setdefault(bead, {})[atom] = float(weight) * ATOM_MASSES[atom[0]]
        table[residue] = dict(sorted(beads.items()))
    return table


def derive_bb_weights(force_field: str = FORCE_FIELD) -> dict[str, dict[str, float]]:
    """Per standard residue, the heavy atoms of its BB bead and their weights (`derive_bead_weights`)."""
    return {residue: beads.get("BB", {}) for residue, beads in derive_bead_weights(force_field).items()}


def derive_sidechain_weights(force_field: str = FORCE_FIELD) -> dict[str, dict[str, dict[str, float]]]:
    """Per standard residue, its side-chain beads (SC1, SC2, ...; none for glycine) and their
    atoms' weights (`derive_bead_weights` without BB)."""
    return {
        residue: {bead: atoms for bead, atoms in beads.items() if bead != "BB"}
        for residue, beads in derive_bead_weights(force_field).items()
    }


@functools.lru_cache(maxsize=1)
def bb_weights() -> dict[str, dict[str, float]]:
    """The cached `derive_bb_weights()` (martini3001)."""
    return json.loads(BB_TABLE.read_text())


@functools.lru_cache(maxsize=1)
def sidechain_weights() -> dict[str, dict[str, dict[str, float]]]:
    """The cached `derive_sidechain_weights()` (martini3001)."""
    return json.loads(SC_TABLE.read_text())


if __name__ == "__main__":
    write_atomically(BB_TABLE, json.dumps(derive_bb_weights(), indent=1, sort_keys=True) + "\n")
    write_atomically(SC_TABLE, json.dumps(derive_sidechain_weights(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {BB_TABLE} and {SC_TABLE}")
