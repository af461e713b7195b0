"""Steric clashes of a protein: one definition for the clash metric (`gaan.tasks.protein.metrics`)
and the refinement that removes them (`gaan.tasks.protein.refinement`).

Two atoms clash when they belong to residues at least 2 apart in one chain, or to different
chains, and lie closer than the sum of their van der Waals radii (Bondi, from biotite) minus
`CLASH_OVERLAP`; CYS SG-SG pairs are disulfide bonds, not clashes.
"""

from __future__ import annotations

import biotite.structure as struc
import numpy as np
from biotite.structure.info import vdw_radius_single

from gaan.tasks.protein.neighbours import pairs_within

CLASH_OVERLAP = 0.4
UNKNOWN_ELEMENT_RADIUS = 1.7  # carbon's


def van_der_waals_radii(atoms: struc.AtomArray) -> np.ndarray:
    """(N,) Bondi radius of each atom's element (carbon's for elements biotite does not know)."""
    elements = np.char.upper(atoms.element.astype(str))
    radius_of = {e: (vdw_radius_single(e) or UNKNOWN_ELEMENT_RADIUS) for e in np.unique(elements)}
    return np.array([radius_of[e] for e in elements], dtype=np.float64)


def chain_sequence_positions(atoms: struc.AtomArray) -> np.ndarray:
    """(N,) per atom, its residue's position within its chain (residue order in the file)."""
    starts = struc.get_residue_starts(atoms)
    residue = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, atoms.array_length())))
    chains = atoms.chain_id[starts]
    chain_start = np.concatenate([[True], chains[1:] != chains[:-1]])
    position = np.arange(len(starts)) - np.maximum.accumulate(np.where(chain_start, np.arange(len(starts)), 0))
    return position[residue]


def clash_candidates(
    atoms: struc.AtomArray, coords: np.ndarray, radii: np.ndarray, sequence_position: np.ndarray, slack: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Atom pairs that may clash (residues far enough apart, no disulfide) closer than their
    clash distance plus `slack`, and that clash distance: ((P, 2) indices, (P,) distances).
    `coords` are the positions to test (the refinement's current ones), `radii` and
    `sequence_position` come from `van_der_waals_radii` and `chain_sequence_positions`."""
    if len(coords) < 2:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    pairs = pairs_within(coords, 2 * radii.max() - CLASH_OVERLAP + slack)
    if len(pairs) == 0:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    i, j = pairs[:, 0], pairs[:, 1]
    far_apart = (atoms.chain_id[i] != atoms.chain_id[j]) | (np.abs(sequence_position[i] - sequence_position[j]) >= 2)
    disulfide = (atoms.atom_name[i] == "SG") & (atoms.atom_name[j] == "SG") & (atoms.res_name[i] == "CYS") & (atoms.res_name[j] == "CYS")
    limit = radii[i] + radii[j] - CLASH_OVERLAP
    near = np.linalg.norm(coords[i] - coords[j], axis=-1) < limit + slack
    keep = far_apart & ~disulfide & near
    return pairs[keep], limit[keep]


def count_clashes(atoms: struc.AtomArray) -> int:
    """Clashing atom pairs of one structure (module docstring). A cell search
    (`gaan.tasks.protein.neighbours`) keeps it near-linear in the number of atoms."""
    pairs, _ = clash_candidates(atoms, atoms.coord.astype(np.float64), van_der_waals_radii(atoms), chain_sequence_positions(atoms))
    return len(pairs)
