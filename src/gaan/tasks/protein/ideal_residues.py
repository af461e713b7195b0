"""Ideal covalent geometry of each standard amino acid: bonds, angles, chiral centres, planar
groups, side-chain torsions (chi) and the internal coordinates that build a side chain.

The backbone and C-beta values, the bond lengths of the charged side-chain groups and Leu's
CA-CB-CG angle are Engh & Huber (1991) (`gaan.tasks.protein.ideal_geometry`); everything else
beyond C-beta comes from the ideal coordinates of the wwPDB chemical component dictionary (CCD)
that biotite ships. The side-chain builder (`gaan.tasks.protein.side_chains`), the refinement
and the geometry report (`gaan.tasks.protein.structure_geometry`) read the same tables, so a side chain
built from them has no outliers by construction, and what the report calls ideal is what the
builder builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import biotite.structure as struc
import numpy as np

from gaan.tasks.protein.ccd_cache import ccd_residue
from gaan.tasks.protein.ideal_geometry import BACKBONE_ANGLES, SIDE_CHAIN_ANGLES, SIDE_CHAIN_BOND_LENGTHS, ideal_bond_length
from gaan.tasks.protein.residues import RESIDUE_ATOMS

# side-chain torsions (IUPAC-IUB 1970): each chi as its four atoms (proline's below)
CHI_ATOMS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "ARG": (("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD"), ("CB", "CG", "CD", "NE"), ("CG", "CD", "NE", "CZ")),
    "ASN": (("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "OD1")),
    "ASP": (("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "OD1")),
    "CYS": (("N", "CA", "CB", "SG"),),
    "GLN": (("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD"), ("CB", "CG", "CD", "OE1")),
    "GLU": (("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD"), ("CB", "CG", "CD", "OE1")),
    "HIS": (("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "ND1")),
    "ILE": (("N", "CA", "CB", "CG1"), ("CA", "CB", "CG1", "CD1")),
    "LEU": (("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD1")),
    "LYS": (("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD"), ("CB", "CG", "CD", "CE"), ("CG", "CD", "CE", "NZ")),
    "MET": (("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "SD"), ("CB", "CG", "SD", "CE")),
    "PHE": (("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD1")),
    "SER": (("N", "CA", "CB", "OG"),),
    "THR": (("N", "CA", "CB", "OG1"),),
    "TRP": (("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD1")),
    "TYR": (("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD1")),
    "VAL": (("N", "CA", "CB", "CG1"),),
}
# proline's ring torsions: set by ring closure on N (`side_chains.proline_chis`), not fitted freely
PROLINE_CHI_ATOMS = (("N", "CA", "CB", "CG"), ("CA", "CB", "CG", "CD"))
# tetrahedral centres whose handedness is fixed in L-amino acids: (centre, three neighbours)
CHIRAL_CENTRES: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "ILE": (("CB", "CA", "CG1", "CG2"),),
    "THR": (("CB", "CA", "OG1", "CG2"),),
}
CA_CHIRAL_CENTRE = ("CA", "N", "C", "CB")
# biotite's bond types that make an atom trigonal (sp2): double and aromatic bonds
_PLANAR_BOND_TYPES = {
    struc.BondType.DOUBLE,
    struc.BondType.AROMATIC_SINGLE,
    struc.BondType.AROMATIC_DOUBLE,
    struc.BondType.AROMATIC,
}
SIDE_CHAIN_START = "CB"
BACKBONE = ("N", "CA", "C", "O")


@dataclass(frozen=True)
class BuildStep:
    """Place atom `atom` from three placed atoms (grand-grandparent, grandparent, parent): bond
    parent-atom `length` (A), angle grandparent-parent-atom `angle` (degrees) and dihedral
    `dihedral` (degrees; added to chi `chi` (0-based) when `chi` >= 0)."""

    atom: str
    references: tuple[str, str, str]
    length: float
    angle: float
    dihedral: float
    chi: int = -1


@dataclass(frozen=True)
class IdealResidue:
    name: str
    atoms: tuple[str, ...]
    bonds: tuple[tuple[str, str, float], ...]  # (a, b, ideal length)
    angles: tuple[tuple[str, str, str, float], ...]  # (a, centre, b, ideal degrees)
    chiral_centres: tuple[tuple[str, str, str, str, float], ...]  # (centre, a, b, c, sign of the ideal signed volume)
    planar_groups: tuple[tuple[str, ...], ...]
    chis: tuple[tuple[str, str, str, str], ...]
    cb_angles: tuple[float, float]  # ideal N-CA-CB and C-CA-CB
    build: tuple[BuildStep, ...]  # side-chain atoms beyond C-beta, in building order


def _angle_degrees(a: np.ndarray, centre: np.ndarray, b: np.ndarray) -> float:
    u, v = a - centre, b - centre
    return float(np.degrees(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1.0, 1.0))))


def dihedral(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray) -> np.ndarray:
    """Dihedral angles p0-p1-p2-p3 in degrees, (..., 3) arrays -> (...)."""
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1 = b1 / np.linalg.norm(b1, axis=-1, keepdims=True)
    v = b0 - (b0 * b1).sum(-1, keepdims=True) * b1
    w = b2 - (b2 * b1).sum(-1, keepdims=True) * b1
    x = (v * w).sum(-1)
    y = (np.cross(b1, v) * w).sum(-1)
    return np.degrees(np.arctan2(y, x))


def signed_volume(centre: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(a - centre) . ((b - centre) x (c - centre)): its sign is the centre's handedness."""
    return np.einsum("...i,...i->...", a - centre, np.cross(b - centre, c - centre))


def _planar_groups(names: list[str], bonds: list[tuple[str, str, int]]) -> tuple[tuple[str, ...], ...]:
    """Side-chain trigonal atoms (a double or aromatic bond) joined into connected groups, each
    with every atom bonded to it: aromatic rings with C-beta, amides, carboxylates, guanidinium."""
    neighbours: dict[str, set[str]] = {n: set() for n in names}
    trigonal: set[str] = set()
    for a, b, order in bonds:
        neighbours[a].add(b)
        neighbours[b].add(a)
        if order in _PLANAR_BOND_TYPES:
            trigonal.update(x for x in (a, b) if x not in BACKBONE)
    groups, seen = [], set()
    for start in names:
        if start not in trigonal or start in seen:
            continue
        component, frontier = set(), [start]
        while frontier:
            atom = frontier.pop()
            if atom in component:
                continue
            component.add(atom)
            frontier.extend(n for n in neighbours[atom] if n in trigonal)
        seen |= component
        members = component | {n for atom in component for n in neighbours[atom]}
        groups.append(tuple(n for n in names if n in members))
    return tuple(groups)


@cache
def ideal_residue(name: str) -> IdealResidue:
    """The ideal geometry of standard residue `name` (module docstring)."""
    atoms = RESIDUE_ATOMS[name]
    ccd = ccd_residue(name)  # the CCD's, cached (gaan.tasks.protein.ccd_cache)
    ccd = ccd[np.isin(ccd.atom_name, atoms)]
    coords = {str(n): c.astype(np.float64) for n, c in zip(ccd.atom_name, ccd.coord)}
    bond_list = [(str(ccd.atom_name[i]), str(ccd.atom_name[j]), int(order)) for i, j, order in ccd.bonds.as_array()]
    lengths: dict[frozenset, float] = {}
    neighbours: dict[str, list[str]] = {n: [] for n in atoms}
    for a, b, _ in bond_list:
        try:
            lengths[frozenset((a, b))] = ideal_bond_length(name, a, b)
        except KeyError:  # beyond C-beta: the dictionary's ideal coordinates, charged groups aside
            charged = SIDE_CHAIN_BOND_LENGTHS.get((name, a, b), SIDE_CHAIN_BOND_LENGTHS.get((name, b, a)))
            lengths[frozenset((a, b))] = charged if charged is not None else float(np.linalg.norm(coords[a] - coords[b]))
        neighbours[a].append(b)
        neighbours[b].append(a)
    angles = []
    for centre in atoms:
        around = neighbours[centre]
        for x in range(len(around)):
            for y in range(x + 1, len(around)):
                a, b = around[x], around[y]
                value = BACKBONE_ANGLES.get((a, centre, b), BACKBONE_ANGLES.get((b, centre, a)))
                if value is None:
                    value = SIDE_CHAIN_ANGLES.get((name, a, centre, b), SIDE_CHAIN_ANGLES.get((name, b, centre, a)))
                if value is None:
                    value = _angle_degrees(coords[a], coords[centre], coords[b])
                angles.append((a, centre, b, value))
    angle_of = {(a, c, b): v for a, c, b, v in angles} | {(b, c, a): v for a, c, b, v in angles}
    centres = []
    if "CB" in atoms:
        for centre, a, b, c in (CA_CHIRAL_CENTRE, *CHIRAL_CENTRES.get(name, ())):
            sign = float(np.sign(signed_volume(coords[centre], coords[a], coords[b], coords[c])))
            centres.append((centre, a, b, c, sign))
    chis = PROLINE_CHI_ATOMS if name == "PRO" else CHI_ATOMS.get(name, ())
    # building order: breadth first from C-alpha through the side chain; each atom hangs on the
    # placed neighbour nearest to C-alpha, the reference frame continues towards N (then C)
    parent: dict[str, str] = {"CA": "N", "N": "C"}
    order, frontier = [], ["CB"] if "CB" in atoms else []
    if frontier:
        parent["CB"] = "CA"
    while frontier:
        atom = frontier.pop(0)
        order.append(atom)
        for n in sorted(neighbours[atom], key=atoms.index):
            if n not in parent and n not in BACKBONE:
                parent[n] = atom
                frontier.append(n)
    chi_of = {chi[1:3]: k for k, chi in enumerate(chis)}  # rotatable bond (grandparent, parent) -> chi
    chi_atom = {chi: chis[k][3] for chi, k in chi_of.items()}
    steps = []
    for atom in order[1:]:
        p = parent[atom]
        g = parent[p]
        gg = parent[g]
        value = float(dihedral(coords[gg], coords[g], coords[p], coords[atom]))
        chi = chi_of.get((g, p), -1)
        if chi >= 0:
            # the chi atom takes the chi itself, its siblings keep their ideal offset from it
            anchor = chi_atom[(g, p)]
            value -= float(dihedral(coords[gg], coords[g], coords[p], coords[anchor]))
        steps.append(BuildStep(atom, (gg, g, p), lengths[frozenset((p, atom))], angle_of[(g, p, atom)], value, chi))
    cb_angles = (angle_of[("N", "CA", "CB")], angle_of[("C", "CA", "CB")]) if "CB" in atoms else (float("nan"), float("nan"))
    return IdealResidue(
        name=name,
        atoms=atoms,
        bonds=tuple((*sorted(key, key=atoms.index), value) for key, value in lengths.items()),
        angles=tuple(angles),
        chiral_centres=tuple(centres),
        planar_groups=_planar_groups(list(atoms), bond_list),
        chis=chis,
        cb_angles=cb_angles,
        build=tuple(steps),
    )
