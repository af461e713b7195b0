"""Coarse-graining: one bead per residue (the C-alpha, the centroid of its heavy atoms, or the
Martini 3 backbone bead BB as vermouth maps it), and the per-residue table of heavy-atom coordinates in `RESIDUE_ATOMS` order."""

from __future__ import annotations

from dataclasses import dataclass

import biotite.structure as struc
import numpy as np

from gaan.tasks.protein.residues import MAX_RESIDUE_ATOMS, RESIDUE_ATOMS

BEAD_KINDS = ("ca", "centroid", "martini")
MAX_CA_CA_DISTANCE = 4.2  # Angstrom; consecutive C-alphas farther apart mark a chain break


@dataclass
class ResidueTable:
    """Per-residue view of one model. coords (R, MAX_RESIDUE_ATOMS, 3) hold the heavy atoms in
    RESIDUE_ATOMS order (NaN where absent); `complete` marks standard residues with all of them."""

    res_names: np.ndarray
    chain_ids: np.ndarray
    res_ids: np.ndarray
    ins_codes: np.ndarray
    coords: np.ndarray
    present: np.ndarray
    complete: np.ndarray
    atom_starts: np.ndarray  # index of each residue's first atom in the AtomArray

    def __len__(self) -> int:
        return len(self.res_names)


def residue_table(atoms: struc.AtomArray) -> ResidueTable:
    """Group a cleaned AtomArray (`read_structure(...)[m]`) by residue."""
    if isinstance(atoms, struc.AtomArrayStack):
        raise TypeError("residue_table takes one model (an AtomArray): pass stack[m]")
    starts = struc.get_residue_starts(atoms)
    bounds = np.append(starts, atoms.array_length())
    count = len(starts)
    coords = np.full((count, MAX_RESIDUE_ATOMS, 3), np.nan, dtype=np.float64)
    present = np.zeros((count, MAX_RESIDUE_ATOMS), dtype=bool)
    complete = np.zeros(count, dtype=bool)
    for r in range(count):
        name = str(atoms.res_name[starts[r]])
        expected = RESIDUE_ATOMS.get(name)
        if expected is None:
            # unknown type: keep the C-alpha (slot 1, as in every standard residue) for the bead
            for a in range(bounds[r], bounds[r + 1]):
                if atoms.atom_name[a] == "CA":
                    coords[r, 1], present[r, 1] = atoms.coord[a], True
            continue
        slot = {atom: i for i, atom in enumerate(expected)}
        for a in range(bounds[r], bounds[r + 1]):
            i = slot.get(str(atoms.atom_name[a]))
            if i is not None:
                coords[r, i], present[r, i] = atoms.coord[a], True
        complete[r] = present[r, : len(expected)].all()
    return ResidueTable(
        res_names=atoms.res_name[starts].astype(str),
        chain_ids=atoms.chain_id[starts].astype(str),
        res_ids=atoms.res_id[starts].astype(np.int64),
        ins_codes=atoms.ins_code[starts].astype(str),
        coords=coords,
        present=present,
        complete=complete,
        atom_starts=starts,
    )


def bead_positions(atoms: struc.AtomArray | ResidueTable, beads: str = "ca") -> np.ndarray:
    """(R, 3) one bead per residue of `atoms` (an AtomArray or its ResidueTable), in residue order.

    "ca": the C-alpha (works on C-alpha-only input); "centroid": the mean of the residue's heavy
    atoms present (OXT excluded); "martini": the Martini 3 BB bead, the mass-weighted centre of the
    atoms vermouth's martini3001 mapping assigns to BB (`martini.bb_weights`: N, CA, C, O in every
    standard residue; an unknown type uses glycine's) of those present. A residue without the
    needed atoms gets NaN (no bead)."""
    if beads not in BEAD_KINDS:
        raise ValueError(f"beads must be one of {BEAD_KINDS}, got {beads!r}")
    table = atoms if isinstance(atoms, ResidueTable) else residue_table(atoms)
    if beads == "ca":
        return table.coords[:, 1].copy()  # CA is slot 1 of every residue (N, CA, C, O, ...)
    if beads == "martini":
        return _martini_bb(table)
    counts = table.present.sum(1, keepdims=True)
    total = np.where(table.present[..., None], table.coords, 0.0).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)


def martini_bb_weights(name: str) -> np.ndarray:
    """(len(RESIDUE_ATOMS[name]),) the Martini 3 BB weights (mapping weight times mass) of
    residue type `name`'s heavy atoms; an unknown type gets glycine's."""
    from gaan.tasks.protein.martini import bb_weights  # a cached table: vermouth is not imported

    table_weights = bb_weights()
    atoms = RESIDUE_ATOMS.get(name, RESIDUE_ATOMS["GLY"])
    bead = table_weights.get(name, table_weights["GLY"])
    return np.array([bead.get(atom, 0.0) for atom in atoms])


def _martini_bb(table: ResidueTable) -> np.ndarray:
    weights = np.zeros(table.present.shape)
    for r, name in enumerate(table.res_names):
        row = martini_bb_weights(str(name))
        weights[r, : len(row)] = row
    weights = np.where(table.present, weights, 0.0)
    total = np.where(weights[..., None] > 0, table.coords * weights[..., None], 0.0).sum(1)
    mass = weights.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mass > 0, total / np.maximum(mass, 1e-12), np.nan)


def chain_breaks(table: ResidueTable) -> np.ndarray:
    """(R,) True where residue r does not continue the chain of residue r - 1: another chain,
    a gap in the residue numbers, or C-alphas farther apart than MAX_CA_CA_DISTANCE."""
    breaks = np.ones(len(table), dtype=bool)
    if len(table) > 1:
        same_chain = table.chain_ids[1:] == table.chain_ids[:-1]
        step = np.diff(table.res_ids)
        numbered = (step == 1) | ((step == 0) & (table.ins_codes[1:] != table.ins_codes[:-1]))
        ca = table.coords[:, 1]
        gap = np.linalg.norm(ca[1:] - ca[:-1], axis=-1)
        close = ~(gap > MAX_CA_CA_DISTANCE)  # NaN (a missing C-alpha) does not break
        breaks[1:] = ~(same_chain & numbered & close)
    return breaks
