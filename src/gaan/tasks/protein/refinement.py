"""Valid covalent geometry for a backmapped protein: a short restrained minimisation with
flat-bottom restraints over every heavy atom.

The network predicts each residue's atoms from that residue's own environment, so nothing ties
the atoms of a residue, or of two bonded residues, to ideal bond lengths and angles; where it is
unsure of a side chain it predicts something between the rotamers, with bonds too short. This
step moves the predicted atoms only as far as validity needs, restraining

- every covalent bond of a standard residue and the peptide bond C(i)-N(i+1) to within
  `bond_tolerance` of its ideal length, and every bond angle (including CA-C-N, O-C-N and C-N-CA
  across the peptide bond) to within `angle_tolerance` of its ideal value: flat-bottom terms, zero
  inside the tolerance, harmonic beyond it (ideal values: `gaan.tasks.protein.ideal_residues`, the
  tables the geometry report `gaan.tasks.protein.structure_geometry` checks against 0.1 A and 10
  degrees; Engh & Huber 1991 for the backbone and C-beta);
- each chiral centre (C-alpha; C-beta of Ile and Thr) to its ideal signed volume, and each flat
  group (rings, amides, carboxylates, guanidinium, and every peptide unit C(i), CA(i), O(i),
  N(i+1)) to within `plane_tolerance` of zero signed volume and of its ideal internal distances
  (`gaan.tasks.protein.side_chains.ideal_volumes`, `planar_group_distances`: distances alone
  barely resist bending out of a plane);
- each trans peptide (not before a proline) to its 1-4 distances CA(i)-CA(i+1) and O(i)-CA(i+1);
- atoms of residues at least two apart (or on different chains) out of van der Waals overlap
  (the clash definition of `gaan.tasks.protein.clashes`),

with a harmonic tether of every atom to its starting position, weighted per atom group (`tether`
for N, C and O, `beta_tether` for C-beta, `side_chain_tether` beyond it). Fixed atoms (the input's
C-alphas, exact for C-alpha beads) and residues not in `standard` do not move. The clash wall sits
`CLASH_MARGIN` past the clash distance and the contacts are searched again each round. The energy
is minimised with L-BFGS in float64; restraints are distances, angles and signed volumes, so the
result is as rotation- and translation-equivariant as its input (volumes flip under a mirror, as
chirality does).

`gaan-backmap` starts it from the network's side chains, the peptide planes read off the trace
(`gaan.tasks.protein.peptide_planes`) and C-beta at its ideal place on that backbone
(`refine_backmapped`). The weights were chosen there, on the validation proteins (3enl, 1pwc,
6yfy; shipped C-alpha checkpoint; all-heavy / backbone RMSD in A, clashes per 1,000 atoms as the
geometry report counts them): tethers 1 / 1 / 1 (N, C, O / C-beta / beyond) 1.336 / 0.492, 35.7
clashes; N, C, O at 2 / 5 / 10: 1.338 / 1.336 / 1.335; C-beta at 0.3 / 3: 1.338 / 1.334; beyond
C-beta at 0.5: 1.334, 28.0 clashes; clashes 30: 1.333, 17.9 clashes; bonds 3000 and angles 0.3
(stiffer): 1.338. Together (5 / 3 / 0.5, clashes 30): 1.327 / 0.487, 16.3 clashes, and 2 bond and
3 angle outliers at 3enl's cis peptide Asn264-Pro265, whose native C-alphas (3.16 A apart) need a
C-N-CA angle 12 degrees off ideal (the native has it); clashes 100: 1.330 / 0.491, 13.2 clashes,
no outlier at all, which is the default (the fewest outliers and clashes within 0.005 A of the
best RMSD). Before the peptide planes, the same restraints on the old backbone refinement's output
gave 1.368 A (rebuilding every side chain from ideal internal coordinates: 1.384; the network's
side chains left as predicted: 1.313, with 2,053 of 2,208 side-chain bonds off).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import biotite.structure as struc
import numpy as np
import torch

from gaan.tasks.protein import lbfgs
from gaan.tasks.protein.atom_index import complete_peptides, residue_atom_indices
from gaan.tasks.protein.clashes import chain_sequence_positions, clash_candidates, van_der_waals_radii
from gaan.tasks.protein.ideal_geometry import C_N_CA_ANGLE, CA_C_N_ANGLE, O_C_N_ANGLE, ideal_bond_length
from gaan.tasks.protein.ideal_residues import ideal_residue
from gaan.tasks.protein.residues import RESIDUE_ATOMS
from gaan.tasks.protein.restraint_energy import RestraintEnergy, Wells
from gaan.tasks.protein.side_chains import ideal_volumes, planar_group_distances
from gaan.tasks.protein.structure_geometry import ANGLE_TOLERANCE, BOND_TOLERANCE, PLANARITY_TOLERANCE, angle_degrees

# a planar trans peptide: CA(i)-CA(i+1) and O(i)-CA(i+1) (medians of the training entries 6flr and
# 7pbl: 2.78 and 2.75 A); not before a proline, whose peptide bond is often cis
TRANS_CA_CA, TRANS_O_CA = 3.80, 2.76
BACKBONE_AND_CB = ["N", "CA", "C", "O", "CB"]
# the clash wall sits this far past the clash distance (refine_geometry)
CLASH_MARGIN = 0.1


@dataclass(frozen=True)
class RefinementWeights:
    """Force constants of the restraint energy and the flat-bottom tolerances."""

    bonds: float = 1000.0  # per A^2 beyond bond_tolerance
    bond_tolerance: float = 0.05  # A (the report's outliers: 0.1)
    angles: float = 0.1  # per degree^2 beyond angle_tolerance
    angle_tolerance: float = 5.0  # degrees (the report's outliers: 10)
    planes: float = 30.0  # flat groups' internal distances (per A^2) and signed volumes (per A^6) beyond plane_tolerance
    plane_tolerance: float = 0.05
    chirality: float = 30.0  # per A^6 off the ideal signed volume
    trans: float = 30.0  # per A^2: the trans peptide's 1-4 distances
    clashes: float = 100.0  # per A^2 of overlap
    tether: float = 5.0  # per A^2: N, C, O
    beta_tether: float = 3.0  # C-beta
    side_chain_tether: float = 0.5  # beyond C-beta
    iterations: int = 200  # L-BFGS iterations in all, split over the rounds
    rounds: int = 3  # clash candidates are searched again at the start of each round


@dataclass
class Restraints:
    """Every restraint of one structure, as atom indices (`structure_restraints`)."""

    bonds: np.ndarray  # (B, 2)
    bond_lengths: np.ndarray  # (B,)
    angles: np.ndarray  # (A, 3) outer, centre, outer
    angle_values: np.ndarray  # (A,) degrees
    plane_pairs: np.ndarray  # (P, 2) within a flat group, not bonded nor 1-3
    plane_distances: np.ndarray  # (P,)
    volumes: np.ndarray  # (Q, 4) centre (or first atom) and three more
    volume_values: np.ndarray  # (Q,)
    flat: np.ndarray  # (Q,) True for flat groups, False for chiral centres
    trans: np.ndarray  # (T, 2)
    trans_distances: np.ndarray  # (T,)


@cache
def residue_restraints(res_name: str, atom_names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """The restraints within one standard residue as indices into `atom_names`: (bonds (B, 2),
    lengths (B,), angles (A, 3), values (A,), plane pairs (P, 2), distances (P,), volumes (Q, 4),
    values (Q,), flat (Q,))."""
    ideal = ideal_residue(res_name)
    index = {name: i for i, name in enumerate(atom_names)}
    bonds = [(index[a], index[b], d) for a, b, d in ideal.bonds if a in index and b in index]
    angles = [(index[a], index[c], index[b], v) for a, c, b, v in ideal.angles if a in index and c in index and b in index]
    near = {frozenset((a, b)) for a, b, _ in bonds} | {frozenset((a, b)) for a, _, b, _ in angles}
    planes = []
    for a, b, distance in planar_group_distances(res_name):
        if a in index and b in index and frozenset((index[a], index[b])) not in near:
            planes.append((index[a], index[b], distance))
    volumes = [([index[n] for n in four], v, flat) for *four, v, flat in ideal_volumes(res_name) if all(n in index for n in four)]
    return (
        np.array([b[:2] for b in bonds], dtype=np.int64).reshape(-1, 2),
        np.array([b[2] for b in bonds]),
        np.array([a[:3] for a in angles], dtype=np.int64).reshape(-1, 3),
        np.array([a[3] for a in angles]),
        np.array([p[:2] for p in planes], dtype=np.int64).reshape(-1, 2),
        np.array([p[2] for p in planes]),
        np.array([v[0] for v in volumes], dtype=np.int64).reshape(-1, 4),
        np.array([v[1] for v in volumes]),
        np.array([v[2] for v in volumes], dtype=bool),
    )


def structure_restraints(atoms: struc.AtomArray, links: np.ndarray, standard: set[str]) -> Restraints:
    """Every restraint of a structure: residues whose name is in `standard` get their own, and
    each pair with `links[r]` (residue r peptide-bonded to r + 1) the peptide bond, its three
    angles, its flatness and (not before a proline) its trans 1-4 distances."""
    starts = np.append(struc.get_residue_starts(atoms), atoms.array_length())
    names = atoms.atom_name.astype(str)
    parts: list[list[np.ndarray]] = [[] for _ in range(9)]
    atom_index = residue_atom_indices(atoms)
    for r in range(len(starts) - 1):
        lo, hi = starts[r], starts[r + 1]
        res_name = str(atoms.res_name[lo])
        if res_name in standard and res_name in RESIDUE_ATOMS:
            for k, array in enumerate(residue_restraints(res_name, tuple(names[lo:hi]))):
                parts[k].append(array + lo if k in (0, 2, 4, 6) else array)
    trans, trans_distances = [], []
    for r in complete_peptides(atom_index, links):
        here, after = atom_index[r], atom_index[r + 1]
        next_name = str(atoms.res_name[starts[r + 1]])
        parts[0].append(np.array([[here["C"], after["N"]]]))
        parts[1].append(np.array([ideal_bond_length(next_name, "C", "N+1")]))
        parts[2].append(
            np.array([[here["CA"], here["C"], after["N"]], [here["O"], here["C"], after["N"]], [here["C"], after["N"], after["CA"]]])
        )
        parts[3].append(np.array([CA_C_N_ANGLE, O_C_N_ANGLE, C_N_CA_ANGLE]))
        parts[6].append(np.array([[here["C"], here["CA"], here["O"], after["N"]]]))
        parts[7].append(np.zeros(1))
        parts[8].append(np.ones(1, dtype=bool))
        if next_name != "PRO":
            trans += [(here["CA"], after["CA"]), (here["O"], after["CA"])]
            trans_distances += [TRANS_CA_CA, TRANS_O_CA]
    empty = (np.zeros((0, 2), np.int64), np.zeros(0), np.zeros((0, 3), np.int64), np.zeros(0), np.zeros((0, 2), np.int64), np.zeros(0))
    empty += (np.zeros((0, 4), np.int64), np.zeros(0), np.zeros(0, dtype=bool))
    joined = [np.concatenate(p) if p else e for p, e in zip(parts, empty)]
    return Restraints(
        *joined,
        trans=np.array(trans, dtype=np.int64).reshape(-1, 2),
        trans_distances=np.array(trans_distances),
    )


def refine_geometry(
    atoms: struc.AtomArray,
    links: np.ndarray,
    standard: set[str],
    fixed: np.ndarray | None = None,
    weights: RefinementWeights = RefinementWeights(),
    restraints: Restraints | None = None,
) -> struc.AtomArray:
    """A copy of `atoms` with valid covalent geometry and fewer clashes (module docstring).

    :param atoms: one model, residues in chain order (as `gaan-backmap` predicts them)
    :param links: (R - 1,) whether residue r is peptide-bonded to r + 1
    :param standard: residue names whose atoms were predicted (others are left as they are)
    :param fixed: (N,) atoms that must not move (default: only residues not in `standard`)
    :param weights: the force constants, tolerances and the number of L-BFGS iterations
    :param restraints: `structure_restraints(atoms, links, standard)` when the caller has them
        (they depend on atom names and links only, not on coordinates)
    """
    starts = np.append(struc.get_residue_starts(atoms), atoms.array_length())
    if len(links) != len(starts) - 2 and not (len(starts) == 2 and len(links) == 0):
        raise ValueError(f"links: {len(links)} flags for {len(starts) - 1} residues (one per consecutive pair)")
    frozen = ~np.isin(atoms.res_name, list(standard))
    if fixed is not None:
        frozen |= np.asarray(fixed, dtype=bool)
    restraints = structure_restraints(atoms, links, standard) if restraints is None else restraints
    start = atoms.coord.astype(np.float64)
    radii = van_der_waals_radii(atoms)
    sequence_position = chain_sequence_positions(atoms)
    anchor = torch.from_numpy(start)
    movable = torch.from_numpy(~frozen).unsqueeze(-1)
    names = atoms.atom_name.astype(str)
    tether = np.where(np.isin(names, BACKBONE_AND_CB), weights.tether, weights.side_chain_tether)
    tether = torch.from_numpy(np.where(names == "CB", weights.beta_tether, tether)).unsqueeze(-1)
    x = anchor.clone()
    flat = restraints.flat
    plane_tolerance = np.where(flat, weights.plane_tolerance, 0.0)  # flat groups: volume 0 +- the tolerance; chiral centres: ideal
    # restraints among fixed atoms only are constant: left out (most of them when only a few
    # strained residues are refined again, `refine_backmapped`)
    energy = RestraintEnergy(
        anchor,
        tether,
        distance_wells=(
            Wells.around(restraints.bonds, restraints.bond_lengths, weights.bond_tolerance, weights.bonds)
            + Wells.around(restraints.plane_pairs, restraints.plane_distances, weights.plane_tolerance, weights.planes)
            + Wells.around(restraints.trans, restraints.trans_distances, 0.0, weights.trans)
        ).touching(~frozen),
        angle_wells=Wells.around(restraints.angles, restraints.angle_values, weights.angle_tolerance, weights.angles).touching(~frozen),
        volume_wells=Wells.between(
            restraints.volumes,
            np.where(flat, 0.0, restraints.volume_values) - plane_tolerance,
            np.where(flat, 0.0, restraints.volume_values) + plane_tolerance,
            np.where(flat, weights.planes, weights.chirality),
        ).touching(~frozen),
    )

    def minimise(clash_pairs: np.ndarray, clash_limit: np.ndarray, iterations: int) -> None:
        # a harmonic wall stops atoms at its edge, where the metric still counts them: aim past it
        moving = ~frozen[clash_pairs].all(1)
        round_energy = energy.with_clashes(clash_pairs[moving], clash_limit[moving] + CLASH_MARGIN, weights.clashes)

        def energy_and_gradient(flat_x: torch.Tensor) -> tuple[float, torch.Tensor]:
            x = flat_x.detach().view(-1, 3).requires_grad_(True)
            total = round_energy(torch.where(movable, x, anchor))
            (gradient,) = torch.autograd.grad(total, x)
            return float(total.detach()), gradient.view(-1)

        nonlocal x
        x = lbfgs.minimise(energy_and_gradient, x.view(-1), iterations).x.view(-1, 3)

    if weights.iterations > 0 and movable.any():
        # the clash candidates are found again from the moved atoms each round: idealising the
        # geometry can carry atoms into contacts that were out of reach at the start
        for _ in range(weights.rounds):
            current = torch.where(movable, x, anchor).numpy()
            # 1 A of slack: pairs the minimisation's moves can bring into contact within the round
            candidates = clash_candidates(atoms, current, radii, sequence_position, slack=1.0)
            minimise(*candidates, max(1, weights.iterations // weights.rounds))
    refined = atoms.copy()
    refined.coord = torch.where(movable, x, anchor).numpy().astype(np.float32)
    return refined


def strained_residues(atoms: struc.AtomArray, links: np.ndarray, standard: set[str], restraints: Restraints | None = None) -> np.ndarray:
    """(R,) True for residues with a bond more than 0.1 A or an angle more than 10 degrees off
    ideal, or a flat group with an atom more than 0.1 A off its plane: the outliers of the geometry
    report (`gaan.tasks.protein.structure_geometry`), per residue in `standard` (a peptide's to
    both)."""
    starts = np.append(struc.get_residue_starts(atoms), atoms.array_length())
    residue = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    restraints = structure_restraints(atoms, links, standard) if restraints is None else restraints
    coords = atoms.coord.astype(np.float64)
    bad = np.zeros(len(starts) - 1, dtype=bool)
    b = restraints.bonds
    off = np.abs(np.linalg.norm(coords[b[:, 0]] - coords[b[:, 1]], axis=-1) - restraints.bond_lengths) > BOND_TOLERANCE
    bad[residue[b[off].ravel()]] = True
    a = restraints.angles
    off = np.abs(angle_degrees(coords[a[:, 0]], coords[a[:, 1]], coords[a[:, 2]]) - restraints.angle_values) > ANGLE_TOLERANCE
    bad[residue[a[off].ravel()]] = True
    for r, index in enumerate(residue_atom_indices(atoms)):
        res_name = str(atoms.res_name[starts[r]])
        if res_name not in standard or res_name not in RESIDUE_ATOMS or bad[r]:
            continue
        for group in ideal_residue(res_name).planar_groups:
            if all(n in index for n in group):
                points = coords[[index[n] for n in group]]
                centred = points - points.mean(0)
                bad[r] |= bool(np.abs(centred @ np.linalg.svd(centred)[2][-1]).max() > PLANARITY_TOLERANCE)
    return bad & np.isin(atoms.res_name[starts[:-1]], list(standard))


def refine_backmapped(atoms: struc.AtomArray, links: np.ndarray, standard: set[str], fixed: np.ndarray | None = None) -> struc.AtomArray:
    """The network's atoms (one model, residues in chain order) made valid: each trans peptide's
    C, O, N from the trace (`gaan.tasks.protein.peptide_planes`), C-beta at its ideal place on
    that backbone (`side_chains.place_beta_carbons`), then `refine_geometry` with the default
    weights, tethered to those positions and the network's side chains. A side chain the
    minimisation cannot make valid (a ring predicted inside out, twisted into a local minimum) is
    rebuilt from ideal internal coordinates with its chis fitted to the network's atoms
    (`side_chains.build_side_chains`) and refined again, everything else held."""
    from gaan.tasks.protein.peptide_planes import place_peptide_planes
    from gaan.tasks.protein.side_chains import build_side_chains, place_beta_carbons

    placed = place_beta_carbons(place_peptide_planes(atoms, links))
    other = ~np.isin(atoms.res_name, list(standard))  # residues of unknown type keep their atoms
    placed.coord[other] = atoms.coord[other]
    restraints = structure_restraints(placed, links, standard)  # the same atoms throughout: built once
    refined = refine_geometry(placed, links, standard, fixed=fixed, restraints=restraints)
    strained = strained_residues(refined, links, standard, restraints)
    if not strained.any():
        return refined
    starts = np.append(struc.get_residue_starts(refined), refined.array_length())
    strained_atoms = np.repeat(strained, np.diff(starts))
    side_chain = ~np.isin(refined.atom_name, ["N", "CA", "C", "O"]) & strained_atoms
    rebuilt = build_side_chains(refined, atoms, residues=strained)
    refined.coord[side_chain] = rebuilt.coord[side_chain]
    held = ~strained_atoms if fixed is None else ~strained_atoms | np.asarray(fixed, dtype=bool)
    return refine_geometry(refined, links, standard, fixed=held, restraints=restraints)
