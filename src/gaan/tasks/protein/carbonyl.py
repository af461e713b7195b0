"""The backbone carbonyl oxygen from its peptide plane.

From C-alpha beads alone the network places O(i) worst of the backbone atoms (1.0 A on the
validation proteins): its orientation is set by the peptide plane CA(i), C(i), N(i+1), and
N(i+1) belongs to the next residue's prediction. Classic rebuilders place O from that plane;
`place_carbonyl_oxygens` does the same with Engh & Huber's geometry: C=O 1.231 A (`ideal_geometry`),
in the plane of CA(i), C(i), N(i+1), at the angles CA-C-O 120.8 and O-C-N 123.0 degrees (where
the backbone's own CA-C-N angle is not the ideal 116.2, the direction between the two that
misses both by the least squares). Residues without a peptide bond to a next residue (chain
ends, breaks) keep their O.
"""

from __future__ import annotations

import biotite.structure as struc
import numpy as np

from gaan.tasks.protein.ideal_geometry import BACKBONE_ANGLES, O_C_N_ANGLE, ideal_bond_length


def carbonyl_oxygen_positions(ca: np.ndarray, c: np.ndarray, n_next: np.ndarray, c_o: float | np.ndarray = 1.231) -> np.ndarray:
    """(m, 3) O positions in the plane of CA, C, N(next) at the ideal angles (module docstring)."""
    u = (ca - c) / np.linalg.norm(ca - c, axis=-1, keepdims=True)
    v = (n_next - c) / np.linalg.norm(n_next - c, axis=-1, keepdims=True)
    cos_uv = (u * v).sum(-1, keepdims=True)
    c1, c2 = np.cos(np.radians(BACKBONE_ANGLES[("CA", "C", "O")])), np.cos(np.radians(O_C_N_ANGLE))
    # d = alpha u + beta v with d.u = c1 and d.v = c2: in the plane by construction
    alpha = (c1 - c2 * cos_uv) / (1 - cos_uv**2)
    beta = (c2 - c1 * cos_uv) / (1 - cos_uv**2)
    direction = alpha * u + beta * v
    direction = direction / np.linalg.norm(direction, axis=-1, keepdims=True)
    return c + np.asarray(c_o)[..., None] * direction if np.ndim(c_o) else c + c_o * direction


def place_carbonyl_oxygens(atoms: struc.AtomArray, links: np.ndarray) -> struc.AtomArray:
    """A copy of `atoms` (one model, residues in chain order) with O(i) placed from the peptide
    plane wherever `links[i]` says residue i is peptide-bonded to residue i + 1."""
    starts = struc.get_residue_starts(atoms, add_exclusive_stop=True)
    if len(links) != len(starts) - 2 and not (len(starts) == 2 and len(links) == 0):
        raise ValueError(f"links: {len(links)} flags for {len(starts) - 1} residues (one per consecutive pair)")
    placed = atoms.copy()
    rows, ca, c, n_next, o, lengths = [], [], [], [], [], []
    for r in np.flatnonzero(links):
        here = {str(name): starts[r] + k for k, name in enumerate(atoms.atom_name[starts[r] : starts[r + 1]])}
        after = {str(name): starts[r + 1] + k for k, name in enumerate(atoms.atom_name[starts[r + 1] : starts[r + 2]])}
        if not {"CA", "C", "O"} <= here.keys() or "N" not in after:
            continue
        rows.append(r)
        ca.append(here["CA"])
        c.append(here["C"])
        o.append(here["O"])
        n_next.append(after["N"])
        lengths.append(ideal_bond_length(str(atoms.res_name[starts[r]]), "C", "O"))
    if rows:
        coords = atoms.coord.astype(np.float64)
        positions = carbonyl_oxygen_positions(coords[ca], coords[c], coords[n_next], np.array(lengths))
        placed.coord[o] = positions.astype(np.float32)
    return placed
