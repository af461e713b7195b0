"""The geometry report of one protein structure, with or without a reference: is it chemically
valid? The same code scores gaan-backmap's output (printed by the tool, bead-only input too) and
its peers' (`bench/backmap_peers.py`).

Definitions (ideal values: `gaan.tasks.protein.ideal_residues`, Engh & Huber 1991 for the
backbone and C-beta, the wwPDB chemical component dictionary's ideal coordinates beyond):

- bond outliers: every covalent heavy-atom bond of a standard residue, and the peptide bond
  C(i)-N(i+1) where the residues are linked, more than 0.1 A from its ideal length; counted over
  all bonds and over the side-chain bonds beyond C-beta alone;
- angle outliers: every bond angle of those bonds (and CA-C-N, O-C-N, C-N-CA across each peptide
  bond) more than 10 degrees from ideal;
- chirality errors: C-alpha (N, C, CB) and C-beta of Ile and Thr whose signed volume has the
  wrong sign (a D-amino acid or a swapped Ile / Thr branch) or vanishes (|V| < 0.1 A^3, flat);
- non-planar groups: aromatic rings (with C-beta; Tyr with OH), amides, carboxylates and the
  guanidinium group, any of whose atoms lies more than 0.1 A from the group's least-squares plane;
- clashes: heavy-atom pairs more than four covalent bonds apart (so i / i+1 neighbours count,
  e.g. CB(i) with CB(i+1) or N(i+1) with CG(i)), or not bonded at all, closer than the sum of their van der Waals radii
  (Bondi) minus 0.4 A (MolProbity's serious-overlap cut-off; without hydrogens, pairs four bonds apart such as
  O(i)-C(i+1) and O(i)-CB(i+1) touch in native structures, so they are excluded); bonds are the residues' own,
  the peptide bonds and disulfides (SG-SG < 2.5 A); per 1,000 atoms.

Links (which consecutive residues are peptide-bonded) come from the caller, or from the
structure itself (`metrics.peptide_links`: C-N <= 2 A, or CA-CA <= 4.2 A without them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

import biotite.structure as struc
import numpy as np

from gaan.tasks.protein.atom_index import residue_atom_indices
from gaan.tasks.protein.clashes import CLASH_OVERLAP, van_der_waals_radii
from gaan.tasks.protein.ideal_geometry import C_N_CA_ANGLE, CA_C_N_ANGLE, O_C_N_ANGLE, ideal_bond_length
from gaan.tasks.protein.ideal_residues import ideal_residue, signed_volume
from gaan.tasks.protein.metrics import peptide_links
from gaan.tasks.protein.neighbours import pairs_within
from gaan.tasks.protein.residues import RESIDUE_ATOMS

BOND_TOLERANCE = 0.1  # A
ANGLE_TOLERANCE = 10.0  # degrees
PLANARITY_TOLERANCE = 0.1  # A
FLAT_VOLUME = 0.1  # A^3
DISULFIDE_MAX = 2.5  # A
BONDS_APART = 4  # pairs within this many bonds are never clashes


@dataclass
class GeometrySums:
    """Counts that pool over models and proteins; `summary()` turns them into the report."""

    bonds: int = 0
    bond_outliers: int = 0
    side_chain_bonds: int = 0
    side_chain_bond_outliers: int = 0
    angles: int = 0
    angle_outliers: int = 0
    chiral_centres: int = 0
    chirality_errors: int = 0
    planar_groups: int = 0
    non_planar_groups: int = 0
    clashes: int = 0
    atoms: int = 0

    def merge(self, other: GeometrySums) -> GeometrySums:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def summary(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)} | {
            "clashes_per_1000_atoms": 1000.0 * self.clashes / self.atoms if self.atoms else float("nan")
        }

    def cells(self) -> list[str]:
        """The report's cells, in `GEOMETRY_COLUMNS` order."""
        return [
            f"{self.bond_outliers}/{self.bonds}",
            f"{self.side_chain_bond_outliers}/{self.side_chain_bonds}",
            f"{self.angle_outliers}/{self.angles}",
            f"{self.chirality_errors}/{self.chiral_centres}",
            f"{self.non_planar_groups}/{self.planar_groups}",
            f"{self.summary()['clashes_per_1000_atoms']:.1f}",
        ]


GEOMETRY_COLUMNS = (
    "bond outliers (> 0.1 A)",
    "side-chain bond outliers",
    "angle outliers (> 10 deg)",
    "chirality errors",
    "non-planar groups",
    "clashes /1000 atoms (i, i+1 included)",
)


def pooled_geometry(parts: Iterable[GeometrySums]) -> GeometrySums:
    total = GeometrySums()
    for part in parts:
        total.merge(part)
    return total


def format_geometry_table(rows: dict[str, GeometrySums]) -> str:
    """A markdown table, one row per named structure or tool."""
    lines = ["| | " + " | ".join(GEOMETRY_COLUMNS) + " |", "|" + "---|" * (len(GEOMETRY_COLUMNS) + 1)]
    lines += [f"| {name} | " + " | ".join(sums.cells()) + " |" for name, sums in rows.items()]
    return "\n".join(lines)


def angle_degrees(a: np.ndarray, centre: np.ndarray, b: np.ndarray) -> np.ndarray:
    u, v = a - centre, b - centre
    cosine = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def geometry_sums(atoms: struc.AtomArray, links: np.ndarray | None = None) -> GeometrySums:
    """The geometry report of one model (module docstring). `links`: one flag per consecutive
    residue pair, True where they are peptide-bonded (default: read off the structure)."""
    sums = GeometrySums(atoms=atoms.array_length())
    starts = struc.get_residue_starts(atoms, add_exclusive_stop=True)
    if links is None:
        links = peptide_links(atoms)
    coords = atoms.coord.astype(np.float64)
    residue_index = residue_atom_indices(atoms)
    bond_pairs: list[tuple[int, int]] = []
    bond_rows, angle_rows = [], []  # (i, j, ideal, side chain) / (i, centre, j, ideal)
    for lo, index in zip(starts[:-1], residue_index):
        res_name = str(atoms.res_name[lo])
        if res_name not in RESIDUE_ATOMS:
            # unknown residue types: their own atoms are not scored against each other
            members = list(index.values())
            bond_pairs += [(a, b) for x, a in enumerate(members) for b in members[x + 1 :]]
            continue
        ideal = ideal_residue(res_name)
        for a, b, length in ideal.bonds:
            if a in index and b in index:
                bond_pairs.append((index[a], index[b]))
                bond_rows.append((index[a], index[b], length, a not in ("N", "CA", "C", "O") and b not in ("N", "CA", "C", "O", "CB")))
        if "OXT" in index and "C" in index:
            bond_pairs.append((index["C"], index["OXT"]))
        for a, centre, b, value in ideal.angles:
            if a in index and centre in index and b in index:
                angle_rows.append((index[a], index[centre], index[b], value))
        for centre, a, b, c, sign in ideal.chiral_centres:
            if all(n in index for n in (centre, a, b, c)):
                volume = signed_volume(*(coords[index[n]] for n in (centre, a, b, c)))
                sums.chiral_centres += 1
                sums.chirality_errors += int(np.sign(volume) != sign or abs(volume) < FLAT_VOLUME)
        for group in ideal.planar_groups:
            if all(n in index for n in group):
                points = coords[[index[n] for n in group]]
                centred = points - points.mean(0)
                normal = np.linalg.svd(centred)[2][-1]
                sums.planar_groups += 1
                sums.non_planar_groups += int(np.abs(centred @ normal).max() > PLANARITY_TOLERANCE)
    for r in np.flatnonzero(np.asarray(links, dtype=bool)):
        here, after = residue_index[r], residue_index[r + 1]
        if "C" not in here or "N" not in after:
            continue
        next_name = str(atoms.res_name[starts[r + 1]])
        bond_pairs.append((here["C"], after["N"]))
        bond_rows.append((here["C"], after["N"], ideal_bond_length(next_name, "C", "N+1"), False))
        for a, centre, b, value in (
            (here.get("CA"), here["C"], after["N"], CA_C_N_ANGLE),
            (here.get("O"), here["C"], after["N"], O_C_N_ANGLE),
            (here["C"], after["N"], after.get("CA"), C_N_CA_ANGLE),
        ):
            if a is not None and b is not None:
                angle_rows.append((a, centre, b, value))
    if bond_rows:
        i, j, ideal_length, side = (np.array(column) for column in zip(*bond_rows))
        outlier = np.abs(np.linalg.norm(coords[i] - coords[j], axis=-1) - ideal_length) > BOND_TOLERANCE
        side = side.astype(bool)
        sums.bonds, sums.bond_outliers = len(outlier), int(outlier.sum())
        sums.side_chain_bonds, sums.side_chain_bond_outliers = int(side.sum()), int(outlier[side].sum())
    if angle_rows:
        a, centre, b, value = (np.array(column) for column in zip(*angle_rows))
        a, centre, b = a.astype(int), centre.astype(int), b.astype(int)
        outlier = np.abs(angle_degrees(coords[a], coords[centre], coords[b]) - value) > ANGLE_TOLERANCE
        sums.angles, sums.angle_outliers = len(outlier), int(outlier.sum())
    sums.clashes = count_nonbonded_clashes(atoms, coords, bond_pairs)
    return sums


def count_nonbonded_clashes(atoms: struc.AtomArray, coords: np.ndarray, bond_pairs: list[tuple[int, int]]) -> int:
    """Clashing pairs (module docstring) given the covalent bonds; disulfides are added here."""
    n = len(coords)
    if n < 2:
        return 0
    radii = van_der_waals_radii(atoms)
    sulfur = np.flatnonzero((atoms.atom_name == "SG") & (atoms.res_name == "CYS"))
    bonds = list(bond_pairs)
    if len(sulfur) > 1:
        bonds += [(int(sulfur[a]), int(sulfur[b])) for a, b in pairs_within(coords[sulfur], DISULFIDE_MAX)]
    pairs = pairs_within(coords, 2 * radii.max() - CLASH_OVERLAP)
    if len(pairs) == 0:
        return 0
    a, b = pairs.T
    close = np.linalg.norm(coords[a] - coords[b], axis=-1) < radii[a] + radii[b] - CLASH_OVERLAP
    a, b = a[close], b[close]
    bonded = within_bonds(n, np.array(bonds, dtype=np.int64).reshape(-1, 2), a, b, BONDS_APART)
    return int((~bonded).sum())


def within_bonds(n: int, bonds: np.ndarray, a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """(P,) whether atom b[p] is at most `steps` bonds from atom a[p] (or is a[p]), over the
    (B, 2) `bonds` of `n` atoms: a breadth-first walk from the a atoms only."""
    ends = np.concatenate([bonds, bonds[:, ::-1]])  # both directions
    ends = ends[np.argsort(ends[:, 0], kind="stable")]
    offsets = np.searchsorted(ends[:, 0], np.arange(n + 1))  # neighbours of atom i: ends[offsets[i]:offsets[i + 1], 1]
    starts = np.unique(a)
    reached = frontier = starts * n + starts  # (start, atom) pairs as start * n + atom
    for _ in range(steps):
        start, atom = np.divmod(frontier, n)
        degree = offsets[atom + 1] - offsets[atom]
        within = np.arange(degree.sum()) - np.repeat(np.cumsum(degree) - degree, degree)
        step = np.repeat(start, degree) * n + ends[np.repeat(offsets[atom], degree) + within, 1]
        frontier = np.setdiff1d(step, reached)
        reached = np.union1d(reached, frontier)
    return np.isin(a * n + b, reached)
