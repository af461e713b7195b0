"""Martini 3 side-chain beads (SC1..SC5) per residue: from heavy atoms by vermouth's mapping
(`martini.sidechain_weights`, as martinize2 centres them), or read from a Martini CG file's
beads. Either way an (R, MAX_SIDECHAIN_BEADS, 3) array, NaN where a residue has no such bead,
in SC1, SC2, ... order, so that slot j is always bead SC(j+1)."""

from __future__ import annotations

import biotite.structure as struc
import numpy as np

from gaan.tasks.protein.coarse_grain import ResidueTable
from gaan.tasks.protein.structure import ProteinInputError

SIDECHAIN_BEADS = ("SC1", "SC2", "SC3", "SC4", "SC5")  # Martini 3's TRP has five, the most
MAX_SIDECHAIN_BEADS = len(SIDECHAIN_BEADS)


def sidechain_bead_names(res_name: str) -> tuple[str, ...]:
    """The Martini 3 side-chain beads of residue type `res_name` (() for glycine and unknown types)."""
    from gaan.tasks.protein.martini import sidechain_weights  # a cached table: vermouth is not imported

    return tuple(sidechain_weights().get(str(res_name), {}))


def mapped_sidechain_beads(table: ResidueTable) -> np.ndarray:
    """(R, MAX_SIDECHAIN_BEADS, 3) the side-chain beads of an all-atom model: each the centre of
    the heavy atoms present that vermouth's martini3001 mapping assigns to it, weighted by
    mapping weight times mass (martinize2's `center_weight = mass`); NaN without such atoms."""
    from gaan.tasks.protein.martini import sidechain_weights
    from gaan.tasks.protein.residues import RESIDUE_ATOMS

    weights_by_type = sidechain_weights()
    beads = np.full((len(table), MAX_SIDECHAIN_BEADS, 3), np.nan)
    for r, name in enumerate(table.res_names):
        atoms = RESIDUE_ATOMS.get(str(name), ())
        for slot, bead in enumerate(weights_by_type.get(str(name), {}).values()):
            weights = np.array([bead.get(atom, 0.0) for atom in atoms]) * table.present[r, : len(atoms)]
            if weights.sum() > 0:
                used = weights > 0
                beads[r, slot] = (table.coords[r, : len(atoms)][used] * weights[used, None]).sum(0) / weights.sum()
    return beads


def file_sidechain_beads(atoms: struc.AtomArray) -> np.ndarray:
    """(R, MAX_SIDECHAIN_BEADS, 3) the side-chain beads of a Martini CG model (atoms named BB, SC1,
    ...; `read_structure` keeps them), per residue in `residue_table` order. A bead that Martini 3
    does not give the residue's type (SC3 on a LYS, any SC on a GLY) is refused, naming the residue."""
    from gaan.tasks.protein.writer import residue_label

    starts = np.append(struc.get_residue_starts(atoms), atoms.array_length())
    beads = np.full((len(starts) - 1, MAX_SIDECHAIN_BEADS, 3), np.nan)
    for r in range(len(starts) - 1):
        expected = sidechain_bead_names(str(atoms.res_name[starts[r]]))
        for a in range(starts[r], starts[r + 1]):
            name = str(atoms.atom_name[a])
            if not name.startswith("SC"):
                continue
            if name not in expected:
                allowed = ", ".join(("BB", *expected))
                raise ProteinInputError(
                    f"residue {residue_label(atoms, starts[r])} has a bead {name}, which Martini 3 does not give "
                    f"{atoms.res_name[starts[r]]} (its beads: {allowed})"
                )
            beads[r, expected.index(name)] = atoms.coord[a]
    return beads


def missing_sidechain_beads(table: ResidueTable, beads: np.ndarray) -> np.ndarray:
    """(R,) True for a residue of a standard type that lacks some of its Martini 3 side-chain beads."""
    missing = np.zeros(len(table), dtype=bool)
    for r, name in enumerate(table.res_names):
        count = len(sidechain_bead_names(str(name)))
        missing[r] = count > 0 and not np.isfinite(beads[r, :count]).all()
    return missing


def martini_bead_atoms(atoms: struc.AtomArray) -> struc.AtomArray:
    """A Martini 3 CG model of an all-atom one, named as martinize2 writes it: per standard residue
    its BB bead (`bead_positions(..., "martini")`) and side-chain beads SC1, ... (`mapped_sidechain_beads`)."""
    from gaan.tasks.protein.coarse_grain import bead_positions, residue_table

    table = residue_table(atoms)
    backbone, sidechains = bead_positions(table, "martini"), mapped_sidechain_beads(table)
    rows = []  # (residue, bead name, position)
    for r, name in enumerate(table.res_names):
        beads = [("BB", backbone[r])] + [(bead, sidechains[r, j]) for j, bead in enumerate(sidechain_bead_names(name))]
        rows += [(r, bead, position) for bead, position in beads if np.isfinite(position).all()]
    cg = struc.AtomArray(len(rows))
    residues = np.array([r for r, _, _ in rows], dtype=np.int64)
    cg.coord = np.array([position for _, _, position in rows], dtype=np.float32).reshape(-1, 3)
    cg.atom_name = np.array([bead for _, bead, _ in rows], dtype="U6")
    cg.element = np.array([bead[0] for _, bead, _ in rows], dtype="U2")
    cg.res_name, cg.chain_id = table.res_names[residues], table.chain_ids[residues]
    cg.res_id, cg.ins_code = table.res_ids[residues], table.ins_codes[residues]
    return cg
