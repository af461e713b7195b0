"""The geometry report (gaan.tasks.protein.structure_geometry) on real structures and known defects."""

from __future__ import annotations

import numpy as np

from gaan.tasks.protein.metrics import count_clashes, peptide_links
from gaan.tasks.protein.structure_geometry import format_geometry_table, geometry_sums, pooled_geometry


def atom(atoms, res_id, name):
    return np.flatnonzero((atoms.res_id == res_id) & (atoms.atom_name == name))[0]


def test_a_native_structure_has_no_outliers(ubiquitin):
    sums = geometry_sums(ubiquitin)
    assert sums.bonds > 600 and sums.side_chain_bonds > 200 and sums.angles > 800
    assert sums.bond_outliers == 0
    assert sums.angle_outliers == 0
    assert sums.chirality_errors == 0 and sums.chiral_centres == 84  # 70 C-alphas with C-beta + 7 ILE + 7 THR
    assert sums.non_planar_groups == 0 and sums.planar_groups > 20
    assert sums.summary()["clashes_per_1000_atoms"] < 10


def test_a_stretched_side_chain_bond_and_a_bent_ring_are_outliers(ubiquitin):
    moved = ubiquitin.copy()
    phe = np.unique(moved.res_id[moved.res_name == "PHE"])[0]
    cz = atom(moved, phe, "CZ")
    cg, ce1, ce2 = (moved.coord[atom(moved, phe, name)] for name in ("CG", "CE1", "CE2"))
    normal = np.cross(ce1 - cg, ce2 - cg)
    moved.coord[cz] += 0.3 * normal / np.linalg.norm(normal)  # a ring atom pulled out of the plane
    lys = np.unique(moved.res_id[moved.res_name == "LYS"])[0]
    ce, nz = atom(moved, lys, "CE"), atom(moved, lys, "NZ")
    moved.coord[nz] += 0.3 * (moved.coord[nz] - moved.coord[ce]) / np.linalg.norm(moved.coord[nz] - moved.coord[ce])  # CE-NZ stretched
    sums = geometry_sums(moved)
    assert sums.side_chain_bond_outliers == 1 and sums.bond_outliers == 1
    assert sums.non_planar_groups == 1


def test_mirror_image_has_every_centre_wrong(ubiquitin):
    mirrored = ubiquitin.copy()
    mirrored.coord[:, 0] *= -1
    sums = geometry_sums(mirrored)
    assert sums.chirality_errors == sums.chiral_centres
    assert sums.bond_outliers == 0 and sums.non_planar_groups == 0  # lengths and flatness survive a mirror


def test_neighbouring_residues_clash_too(ubiquitin):
    # CB of residue 3 carried next to CB of residue 2: five bonds apart, one residue apart
    moved = ubiquitin.copy()
    cb2, cb3 = atom(moved, 2, "CB"), atom(moved, 3, "CB")
    direction = moved.coord[cb3] - moved.coord[cb2]
    moved.coord[cb3] = moved.coord[cb2] + 2.0 * direction / np.linalg.norm(direction)
    assert count_clashes(moved) == count_clashes(ubiquitin)  # the old count skips i, i+1
    assert geometry_sums(moved).clashes > geometry_sums(ubiquitin).clashes


def test_a_stretched_peptide_bond_counts_only_where_linked(ubiquitin):
    moved = ubiquitin.copy()
    moved.coord[moved.res_id > 30] += np.array([0.5, 0.0, 0.0], dtype=np.float32)
    links = peptide_links(ubiquitin)
    assert geometry_sums(moved, links).bond_outliers == 1
    unlinked = links.copy()
    unlinked[29] = False
    assert geometry_sums(moved, unlinked).bond_outliers == 0


def test_pooling_and_the_table(ubiquitin):
    one = geometry_sums(ubiquitin)
    both = pooled_geometry([one, one])
    assert both.bonds == 2 * one.bonds and both.atoms == 2 * one.atoms
    table = format_geometry_table({"native": both})
    assert f"0/{2 * one.bonds}" in table and "chirality errors" in table
