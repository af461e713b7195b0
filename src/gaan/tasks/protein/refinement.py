"""Ideal covalent geometry for a backmapped protein: a short restrained minimisation.

The network predicts every residue's atoms from that residue's own environment, so nothing ties
the atoms of a residue, or of two bonded residues, to ideal bond lengths and angles. This step
moves the predicted atoms as little as possible while pulling

- every covalent bond of a standard residue (the wwPDB chemical component dictionary's bonds
  that biotite ships) and the peptide bond C(i)-N(i+1) to its ideal length (Engh & Huber 1991
  for the backbone and C-beta, `gaan.tasks.protein.ideal_geometry`, which the metric scores; the
  dictionary's ideal coordinates for the side chains),
- every bond angle to its ideal value, as the distance between the angle's two outer atoms
  (1-3 distance), including the angles across the peptide bond,
- each peptide unit to a planar trans peptide (the 1-4 distances CA(i)-CA(i+1) and
  O(i)-CA(i+1); not before a proline),
- each chiral centre (C-alpha; C-beta of Ile and Thr) to its ideal signed volume, and each flat
  side-chain group (rings, amides, carboxylates, guanidinium) to zero signed volume and its ideal
  internal distances (`gaan.tasks.protein.side_chains.ideal_volumes`, `planar_group_distances`:
  distances alone barely resist bending out of a plane),
- atoms of residues at least two apart (or on different chains) out of van der Waals overlap
  (the clash definition of `gaan.tasks.protein.clashes`, which the metric counts),

with a harmonic tether of every atom to its predicted position. Side-chain bonds, angles and
planes (beyond C-beta) are off by default (`RefinementWeights.side_chains = 0`;
`gaan-backmap --side-chains ideal` turns them on after rebuilding the side chains, so they hold
the built geometry while clashes are resolved): on the validation
proteins (3enl, 1pwc, 6yfy; C-alpha beads, an early checkpoint) idealising them stretched the
network's side chains, which shrink toward their mean when uncertain, into wrong places
(all-atom RMSD 1.449 -> 1.522 A, clashes 88 -> 154 per 1,000 atoms), while the backbone alone gave
1.433 A, 80 clashes and no bond outliers (from 74 %). With the trans-peptide terms and a
four-pass checkpoint: 1.351 -> 1.340 A all, 0.682 -> 0.650 A backbone, chi1 0.40 -> 0.47,
clashes 80 -> 63, bond outliers 59 % -> 0. The clash wall sits `CLASH_MARGIN` past the clash
distance and the contacts are searched again each round; with the shipped checkpoints (validation):
clashes per 1,000 atoms 2.4 (C-alpha beads) and 1.8 (centroids), all-atom RMSD 1.317 and 0.988 A. Fixed atoms (the input's
C-alphas, which are exact for C-alpha beads) do not move. The energy is minimised with L-BFGS in
float64; restraints are distances and signed volumes, so the result is as rotation- and
translation-equivariant as the prediction (volumes flip under a mirror, as chirality does).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import biotite.structure as struc
import numpy as np
import torch

from gaan.tasks.protein.clashes import chain_sequence_positions, clash_candidates, van_der_waals_radii
from gaan.tasks.protein.ideal_geometry import C_N_CA_ANGLE, CA_C_N_ANGLE, O_C_N_ANGLE, ideal_bond_length
from gaan.tasks.protein.ideal_residues import ideal_residue
from gaan.tasks.protein.residues import RESIDUE_ATOMS
from gaan.tasks.protein.side_chains import ideal_volumes, planar_group_distances

# a planar trans peptide: CA(i)-CA(i+1) and O(i)-CA(i+1) (medians of the training entries 6flr and
# 7pbl: 2.78 and 2.75 A); not before a proline, whose peptide bond is often cis
TRANS_CA_CA, TRANS_O_CA = 3.80, 2.76
BACKBONE_AND_CB = ["N", "CA", "C", "O", "CB"]
# a harmonic wall stops atoms at its edge, where the metric still counts them: aim past it
CLASH_MARGIN = 0.1


@dataclass(frozen=True)
class RefinementWeights:
    """Force constants of the restraint energy (per A^2)."""

    bonds: float = 100.0
    angles: float = 30.0
    clashes: float = 10.0
    tether: float = 1.0
    iterations: int = 200  # L-BFGS iterations in all, split over the rounds
    rounds: int = 3  # clash candidates are searched again at the start of each round
    side_chains: float = 0.0  # scale of the bond, angle and planarity constants beyond C-beta
    volumes: float = 30.0  # signed volumes (per A^6): chiral centres, and flat groups (scaled by side_chains)


def _law_of_cosines(a: float, b: float, degrees: float) -> float:
    return float(np.sqrt(a * a + b * b - 2 * a * b * np.cos(np.radians(degrees))))


@cache
def residue_restraints(res_name: str, atom_names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ideal distances within one standard residue (`gaan.tasks.protein.ideal_residues`, the
    values the geometry report checks): (pairs (P, 2) as indices into `atom_names`, ideal
    distances (P,), True for bonds / False for angles (P,))."""
    ideal = ideal_residue(res_name)
    index = {name: i for i, name in enumerate(atom_names)}
    lengths = {frozenset((a, b)): d for a, b, d in ideal.bonds if a in index and b in index}
    pairs, distances, is_bond = [], [], []
    for key, length in lengths.items():
        a, b = sorted(key)
        pairs.append((index[a], index[b]))
        distances.append(length)
        is_bond.append(True)
    angle_pairs = set()
    for a, centre, b, angle in ideal.angles:
        if frozenset((a, centre)) in lengths and frozenset((b, centre)) in lengths:
            pairs.append((index[a], index[b]))
            distances.append(_law_of_cosines(lengths[frozenset((a, centre))], lengths[frozenset((b, centre))], angle))
            is_bond.append(False)
            angle_pairs.add(frozenset((a, b)))
    # flat groups (rings, amides, carboxylates, guanidinium) stay flat: every further distance
    # within the group, as an angle-strength restraint (all beyond C-beta: off by default)
    for a, b, distance in planar_group_distances(res_name):
        if a in index and b in index and frozenset((a, b)) not in lengths and frozenset((a, b)) not in angle_pairs:
            pairs.append((index[a], index[b]))
            distances.append(distance)
            is_bond.append(False)
    return np.array(pairs, dtype=np.int64).reshape(-1, 2), np.array(distances), np.array(is_bond, dtype=bool)


def structure_restraints(atoms: struc.AtomArray, links: np.ndarray, standard: set[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ideal distances over a whole structure: residues whose name is in `standard` get their
    own bonds and angles, and each pair with `links[r]` (residue r peptide-bonded to r + 1) the
    peptide bond and its three angles. Returns (pairs (P, 2) of atom indices, ideal (P,),
    is_bond (P,))."""
    starts = np.append(struc.get_residue_starts(atoms), atoms.array_length())
    names = atoms.atom_name.astype(str)
    pairs, ideal, is_bond = [], [], []
    atom_index: list[dict[str, int]] = []
    for r in range(len(starts) - 1):
        lo, hi = starts[r], starts[r + 1]
        res_name = str(atoms.res_name[lo])
        atom_index.append({str(n): lo + k for k, n in enumerate(names[lo:hi])})
        if res_name in standard:
            p, d, b = residue_restraints(res_name, tuple(names[lo:hi]))
            pairs.append(p + lo)
            ideal.append(d)
            is_bond.append(b)
    for r in np.flatnonzero(links):
        here, after = atom_index[r], atom_index[r + 1]
        if not {"CA", "C", "O"} <= here.keys() or not {"N", "CA"} <= after.keys():
            continue
        before_proline = str(atoms.res_name[starts[r + 1]]) == "PRO"
        c_n = ideal_bond_length(str(atoms.res_name[starts[r + 1]]), "C", "N+1")
        ca_c = ideal_bond_length(str(atoms.res_name[starts[r]]), "CA", "C")
        n_ca = ideal_bond_length(str(atoms.res_name[starts[r + 1]]), "N", "CA")
        pairs.append(
            np.array([[here["C"], after["N"]], [here["CA"], after["N"]], [here["O"], after["N"]], [here["C"], after["CA"]]], dtype=np.int64)
        )
        ideal.append(
            np.array(
                [
                    c_n,
                    _law_of_cosines(ca_c, c_n, CA_C_N_ANGLE),
                    _law_of_cosines(ideal_bond_length(str(atoms.res_name[starts[r]]), "C", "O"), c_n, O_C_N_ANGLE),
                    _law_of_cosines(c_n, n_ca, C_N_CA_ANGLE),
                ]
            )
        )
        is_bond.append(np.array([True, False, False, False]))
        if not before_proline:
            pairs.append(np.array([[here["CA"], after["CA"]], [here["O"], after["CA"]]], dtype=np.int64))
            ideal.append(np.array([TRANS_CA_CA, TRANS_O_CA]))
            is_bond.append(np.array([False, False]))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0), np.zeros(0, dtype=bool)
    return np.concatenate(pairs), np.concatenate(ideal), np.concatenate(is_bond)


def structure_volumes(atoms: struc.AtomArray, standard: set[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signed-volume restraints of the residues in `standard` (`side_chains.ideal_volumes`):
    (quadruples (Q, 4) of atom indices, ideal volumes (Q,), True for planar groups (Q,))."""
    starts = np.append(struc.get_residue_starts(atoms), atoms.array_length())
    quads, volumes, planar = [], [], []
    for lo, hi in zip(starts[:-1], starts[1:]):
        res_name = str(atoms.res_name[lo])
        if res_name not in standard or res_name not in RESIDUE_ATOMS:
            continue
        index = {str(n): lo + k for k, n in enumerate(atoms.atom_name[lo:hi])}
        for *four, volume, flat in ideal_volumes(res_name):
            if all(name in index for name in four):
                quads.append([index[name] for name in four])
                volumes.append(volume)
                planar.append(flat)
    return np.array(quads, dtype=np.int64).reshape(-1, 4), np.array(volumes), np.array(planar, dtype=bool)


def _signed_volume(y: torch.Tensor, quads: torch.Tensor) -> torch.Tensor:
    centre = y[quads[:, 0]]
    a, b, c = (y[quads[:, i]] - centre for i in (1, 2, 3))
    return (a * torch.linalg.cross(b, c)).sum(-1)


def _distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # smooth at zero: atoms predicted on top of each other still get a finite push apart
    return (((a - b) ** 2).sum(-1) + 1e-12).sqrt()


def refine_geometry(
    atoms: struc.AtomArray,
    links: np.ndarray,
    standard: set[str],
    fixed: np.ndarray | None = None,
    weights: RefinementWeights = RefinementWeights(),
) -> struc.AtomArray:
    """A copy of `atoms` with ideal covalent geometry and fewer clashes (module docstring).

    :param atoms: one model, residues in chain order (as `gaan-backmap` predicts them)
    :param links: (R - 1,) whether residue r is peptide-bonded to r + 1
    :param standard: residue names whose atoms were predicted (others are left as they are)
    :param fixed: (N,) atoms that must not move (default: only residues not in `standard`)
    :param weights: the force constants and the number of L-BFGS iterations
    """
    starts = np.append(struc.get_residue_starts(atoms), atoms.array_length())
    if len(links) != len(starts) - 2 and not (len(starts) == 2 and len(links) == 0):
        raise ValueError(f"links: {len(links)} flags for {len(starts) - 1} residues (one per consecutive pair)")
    frozen = ~np.isin(atoms.res_name, list(standard))
    if fixed is not None:
        frozen |= np.asarray(fixed, dtype=bool)
    pairs, ideal, is_bond = structure_restraints(atoms, links, standard)
    start = atoms.coord.astype(np.float64)
    radii = van_der_waals_radii(atoms)
    sequence_position = chain_sequence_positions(atoms)
    anchor = torch.from_numpy(start)
    movable = torch.from_numpy(~frozen).unsqueeze(-1)
    x = anchor.clone().requires_grad_(True)
    p = torch.from_numpy(pairs)
    d0 = torch.from_numpy(ideal)
    k = torch.where(torch.from_numpy(is_bond), weights.bonds, weights.angles).double()
    names = atoms.atom_name.astype(str)
    side_chain = ~(np.isin(names[pairs[:, 0]], BACKBONE_AND_CB) & np.isin(names[pairs[:, 1]], BACKBONE_AND_CB))
    k = torch.where(torch.from_numpy(side_chain), k * weights.side_chains, k)
    quad_array, volume_array, planar = structure_volumes(atoms, standard)
    quads, v0 = torch.from_numpy(quad_array), torch.from_numpy(volume_array)
    # handedness always (a D-residue or a swapped Ile / Thr branch is never what was meant),
    # flatness of side-chain groups with the side chains' scale
    kv = torch.from_numpy(np.where(planar, weights.volumes * weights.side_chains, weights.volumes))

    def minimise(clash_pairs: np.ndarray, clash_limit: np.ndarray, iterations: int) -> None:
        cp, cl = torch.from_numpy(clash_pairs), torch.from_numpy(clash_limit)
        optimizer = torch.optim.LBFGS([x], lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe", tolerance_change=1e-12)

        def energy() -> torch.Tensor:
            optimizer.zero_grad()
            y = torch.where(movable, x, anchor)
            total = weights.tether * ((y - anchor) ** 2).sum()
            if len(p):
                d = _distance(y[p[:, 0]], y[p[:, 1]])
                total = total + (k * (d - d0) ** 2).sum()
            if len(quads):
                total = total + (kv * (_signed_volume(y, quads) - v0) ** 2).sum()
            if len(cp):
                d = _distance(y[cp[:, 0]], y[cp[:, 1]])
                total = total + weights.clashes * (torch.relu(cl + CLASH_MARGIN - d) ** 2).sum()
            total.backward()
            return total

        optimizer.step(energy)

    if weights.iterations > 0 and movable.any():
        # the clash candidates are found again from the moved atoms each round: idealising the
        # backbone can carry atoms into contacts that were out of reach at the start
        for _ in range(weights.rounds):
            current = torch.where(movable, x, anchor).detach().numpy()
            # 1 A of slack: pairs the minimisation's moves can bring into contact within the round
            candidates = clash_candidates(atoms, current, radii, sequence_position, slack=1.0)
            minimise(*candidates, max(1, weights.iterations // weights.rounds))
    refined = atoms.copy()
    refined.coord = torch.where(movable, x, anchor).detach().numpy().astype(np.float32)
    return refined
