"""Residues without sequence neighbours (a lone residue, or one cut off by chain breaks on both
sides), built from the ideal residue instead of the network.

The network places a residue's atoms from the directions to its neighbours along the chain (and
the handedness vector they give); a residue without any has no direction to go by, and its
predicted atoms collapse onto its bead or each other. Such a residue is built from the wwPDB
ideal coordinates of its type (`ccd_cache.ccd_residue`: ideal bonds, angles and chirality),
its C-alpha (C-alpha beads), heavy-atom centroid (centroid beads) or Martini BB centre (martini
beads) on the bead, its side chain pointing away from the beads around it (out of the protein, where it has room).
"""

from __future__ import annotations

import numpy as np

from gaan.tasks.protein.ccd_cache import ccd_residue
from gaan.tasks.protein.coarse_grain import martini_bb_weights
from gaan.tasks.protein.residues import RESIDUE_ATOMS

CROWD_RADIUS = 10.0  # Angstrom: the beads whose mean the side chain points away from


def isolated(breaks: np.ndarray) -> np.ndarray:
    """(R,) True for residues that start a segment and end it (no neighbour on either side)."""
    breaks = np.asarray(breaks, dtype=bool)
    ends = np.append(breaks[1:], True)
    return breaks & ends


def _rotation_onto(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The rotation matrix taking unit vector `source` onto unit vector `target`."""
    axis = np.cross(source, target)
    sine, cosine = np.linalg.norm(axis), float(source @ target)
    if sine < 1e-9:
        if cosine > 0:
            return np.eye(3)
        perpendicular = np.cross(source, [1.0, 0.0, 0.0] if abs(source[0]) < 0.9 else [0.0, 1.0, 0.0])
        perpendicular /= np.linalg.norm(perpendicular)
        return 2.0 * np.outer(perpendicular, perpendicular) - np.eye(3)  # 180 degrees about it
    k = axis / sine
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sine * cross + (1 - cosine) * cross @ cross


def ideal_offsets(name: str, bead: np.ndarray, others: np.ndarray, bead_kind: str) -> np.ndarray:
    """(atoms of `name` in RESIDUE_ATOMS order, 3) atom - bead vectors of the ideal residue placed
    on `bead`, pointing away from the mean of `others` (the other beads, (M, 3)) within
    CROWD_RADIUS (along +z when there are none)."""
    ideal = ccd_residue(name)
    index = {str(atom): i for i, atom in enumerate(ideal.atom_name)}
    coords = np.array([ideal.coord[index[atom]] for atom in RESIDUE_ATOMS[name]], dtype=np.float64)
    ca = coords[RESIDUE_ATOMS[name].index("CA")]
    if bead_kind == "ca":
        anchor = ca
    elif bead_kind == "martini":
        weights = martini_bb_weights(name)
        anchor = (coords * weights[:, None]).sum(0) / weights.sum()
    else:
        anchor = coords.mean(0)
    outward = coords.mean(0) - ca if name != "GLY" else coords.mean(0) - ca + 1e-3  # GLY: N, C, O side
    outward /= np.linalg.norm(outward)
    others = np.asarray(others, dtype=np.float64).reshape(-1, 3)
    near = others[np.linalg.norm(others - bead, axis=-1) < CROWD_RADIUS] if len(others) else others
    away = bead - near.mean(0) if len(near) else np.array([0.0, 0.0, 1.0])
    length = np.linalg.norm(away)
    away = away / length if length > 1e-6 else np.array([0.0, 0.0, 1.0])
    rotation = _rotation_onto(outward, away)
    return (coords - anchor) @ rotation.T
