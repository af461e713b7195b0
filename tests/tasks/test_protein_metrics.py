"""Backmapping metrics on real structures (ProDy's test data, read with biotite): a native
structure scores perfectly against itself, known perturbations give the expected numbers, and
chemically equivalent atoms may trade places."""

import time
from pathlib import Path

import biotite.structure as struc
import numpy as np
import prody
import pytest
import torch
from biotite.structure.io import pdb

from gaan.tasks.protein.assignment import best_assignment_targets
from gaan.tasks.protein.chi1 import angle_difference_degrees, dihedral_degrees
from gaan.tasks.protein.metrics import (
    BackmapMetricSums,
    backmap_metric_sums,
    bond_length_deviations,
    chi1_angles,
    count_clashes,
    format_metrics_table,
    format_residue_type_table,
    pooled_metrics,
    residue_keys,
)

DATA = Path(prody.__file__).parent / "tests" / "datafiles"


def read_protein(name: str) -> struc.AtomArray:
    atoms = pdb.PDBFile.read(DATA / name).get_structure(model=1)
    return atoms[struc.filter_amino_acids(atoms) & ~atoms.hetero & (atoms.element != "H")]


@pytest.fixture(scope="module")
def ubiquitin() -> struc.AtomArray:
    return read_protein("pdb1ubi.pdb")


def test_native_structure_against_itself(ubiquitin):
    summary = backmap_metric_sums(ubiquitin, ubiquitin).summary()
    assert summary["rmsd"] == summary["rmsd_backbone"] == summary["rmsd_sidechain"] == 0.0
    assert summary["chi1_accuracy"] == 1.0
    assert summary["bond_outliers"] == 0
    assert summary["clashes_per_1000_atoms"] < 10  # a well-refined crystal structure: a few tight H-bonds


def test_known_displacement_gives_its_rmsd(ubiquitin):
    """Every side-chain atom moved by exactly 0.5 A in a random direction: side chain RMSD 0.5,
    backbone 0, all = 0.5 sqrt(side-chain fraction)."""
    rng = np.random.default_rng(0)
    moved = ubiquitin.copy()
    side_chain = ~np.isin(moved.atom_name, ["N", "CA", "C", "O"])
    directions = rng.normal(size=(int(side_chain.sum()), 3))
    moved.coord[side_chain] += 0.5 * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    summary = backmap_metric_sums(moved, ubiquitin).summary()
    scored = moved.atom_name != "OXT"  # the terminal OXT is not scored
    assert summary["rmsd_backbone"] == 0.0
    assert summary["rmsd_sidechain"] == pytest.approx(0.5, abs=1e-5)
    assert summary["rmsd"] == pytest.approx(0.5 * np.sqrt(side_chain[scored].mean()), abs=1e-5)


def swapped_names(atoms: struc.AtomArray, residue: str, pairs) -> struc.AtomArray:
    out = atoms.copy()
    names = out.atom_name.copy()
    for a, b in pairs:
        names[(out.res_name == residue) & (atoms.atom_name == a)] = b
        names[(out.res_name == residue) & (atoms.atom_name == b)] = a
    out.atom_name = names
    return out


@pytest.mark.parametrize(
    "residue, pairs",
    [
        ("ASP", [("OD1", "OD2")]),
        ("GLU", [("OE1", "OE2")]),
        ("ARG", [("NH1", "NH2")]),
        ("PHE", [("CD1", "CD2"), ("CE1", "CE2")]),
        ("TYR", [("CD1", "CD2"), ("CE1", "CE2")]),
    ],
)
def test_equivalent_atoms_swapped_give_zero(residue, pairs):
    native = read_protein("pdb3enl.pdb")  # has every residue type with equivalent atoms
    assert (native.res_name == residue).any()
    swapped = swapped_names(native, residue, pairs)
    assert not np.array_equal(swapped.atom_name, native.atom_name)
    assert backmap_metric_sums(swapped, native).summary()["rmsd"] == 0.0


def test_non_equivalent_swap_is_an_error(ubiquitin):
    swapped = swapped_names(ubiquitin, "LEU", [("CD1", "CD2")])  # LEU CD1/CD2 are not equivalent by IUPAC naming
    summary = backmap_metric_sums(swapped, ubiquitin).summary()
    assert summary["rmsd_sidechain"] > 0.5


def test_dihedral_matches_a_constructed_angle():
    angles = np.array([-170.0, -60.0, 0.0, 45.0, 179.0])
    radians = np.radians(angles)
    p0 = np.tile([1.0, 0.0, 0.0], (5, 1))
    p1 = np.zeros((5, 3))
    p2 = np.tile([0.0, 0.0, 1.5], (5, 1))
    p3 = np.stack([np.cos(radians), np.sin(radians), np.full(5, 1.5)], axis=1)
    np.testing.assert_allclose(dihedral_degrees(p0, p1, p2, p3), angles, atol=1e-9)
    assert angle_difference_degrees(170.0, -170.0) == pytest.approx(20.0)


def rotate_side_chain(atoms: struc.AtomArray, residue_index: int, degrees: float) -> struc.AtomArray:
    """Rotate the atoms of one residue beyond CB about the CA-CB axis (a pure chi1 change)."""
    out = atoms.copy()
    starts = struc.get_residue_starts(atoms)
    in_residue = np.zeros(atoms.array_length(), dtype=bool)
    in_residue[starts[residue_index] : (starts[residue_index + 1] if residue_index + 1 < len(starts) else None)] = True
    ca = atoms.coord[in_residue & (atoms.atom_name == "CA")][0].astype(float)
    cb = atoms.coord[in_residue & (atoms.atom_name == "CB")][0].astype(float)
    axis = (cb - ca) / np.linalg.norm(cb - ca)
    theta = np.radians(degrees)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(3) + np.sin(theta) * k + (1 - np.cos(theta)) * k @ k
    moving = in_residue & ~np.isin(atoms.atom_name, ["N", "CA", "C", "O", "CB"])
    out.coord[moving] = (atoms.coord[moving] - cb) @ rotation.T + cb
    return out


def test_chi1_counts_rotations_beyond_40_degrees(ubiquitin):
    starts = struc.get_residue_starts(ubiquitin)
    leucines = [i for i, s in enumerate(starts) if ubiquitin.res_name[s] == "LEU"]
    a, b = leucines[0], leucines[1]
    moved = rotate_side_chain(rotate_side_chain(ubiquitin, a, 30.0), b, 60.0)
    key_a, key_b = residue_keys(ubiquitin)[starts[a]], residue_keys(ubiquitin)[starts[b]]
    before, after = chi1_angles(ubiquitin), chi1_angles(moved)
    assert angle_difference_degrees(after[key_a][1], before[key_a][1]) == pytest.approx(30.0, abs=1e-3)
    assert angle_difference_degrees(after[key_b][1], before[key_b][1]) == pytest.approx(60.0, abs=1e-3)
    sums = backmap_metric_sums(moved, ubiquitin)
    assert sums.chi1_total == len(before)
    assert sums.chi1_correct == len(before) - 1
    assert sums.per_type_chi1["LEU"] == [sum(ubiquitin.res_name[starts] == "LEU") - 1, sum(ubiquitin.res_name[starts] == "LEU")]


def test_clash_between_distant_residues_is_counted_and_neighbours_are_not(ubiquitin):
    base = count_clashes(ubiquitin)
    starts = struc.get_residue_starts(ubiquitin)
    # put residue 40's CB 1.0 A from residue 10's CA: far apart in sequence -> a clash
    moved = ubiquitin.copy()
    target_ca = ubiquitin.coord[starts[10] : starts[11]][ubiquitin.atom_name[starts[10] : starts[11]] == "CA"][0]
    cb_40 = starts[40] + int(np.flatnonzero(ubiquitin.atom_name[starts[40] : starts[41]] == "CB")[0])
    moved.coord[cb_40] = target_ca + np.array([1.0, 0.0, 0.0])
    assert count_clashes(moved) >= base + 1
    # the same overlap with the next residue (sequence separation 1) is not a clash
    moved = ubiquitin.copy()
    cb_11 = starts[11] + int(np.flatnonzero(ubiquitin.atom_name[starts[11] : starts[12]] == "CB")[0])
    moved.coord[cb_11] = target_ca + np.array([1.0, 0.0, 0.0])
    near = moved.coord[cb_11]
    others = np.linalg.norm(moved.coord - near, axis=1)
    residue_of = np.searchsorted(starts, np.arange(moved.array_length()), side="right") - 1
    assert not ((others < 2.5) & (np.abs(residue_of - 11) >= 2)).any()  # nothing else near it
    assert count_clashes(moved) == base
    # other chains always count
    other_chain = ubiquitin.copy()
    other_chain.chain_id[:] = "B"
    pair = struc.concatenate([ubiquitin, other_chain])  # identical copies: every atom overlaps its twin
    assert count_clashes(pair) >= ubiquitin.array_length()


def test_clash_count_scales_to_ten_thousand_residues(ubiquitin):
    """130 copies of ubiquitin in separate chains, 50 A apart: ~9,900 residues; the count is
    130 times one copy's and takes seconds."""
    copies = []
    for k in range(130):
        copy = ubiquitin.copy()
        copy.coord += np.array([50.0 * (k % 10), 50.0 * (k // 10 % 13), 0.0])
        copy.chain_id[:] = f"C{k}"
        copies.append(copy)
    big = struc.concatenate(copies)
    start = time.perf_counter()
    count = count_clashes(big)
    seconds = time.perf_counter() - start
    assert count == 130 * count_clashes(ubiquitin)
    assert seconds < 20


def test_bond_outliers_count_a_stretched_bond_and_a_gap(ubiquitin):
    moved = ubiquitin.copy()
    starts = struc.get_residue_starts(ubiquitin)
    cb = starts[5] + int(np.flatnonzero(ubiquitin.atom_name[starts[5] : starts[6]] == "CB")[0])
    ca = starts[5] + int(np.flatnonzero(ubiquitin.atom_name[starts[5] : starts[6]] == "CA")[0])
    bond = moved.coord[cb] - moved.coord[ca]
    moved.coord[cb] += 0.2 * bond / np.linalg.norm(bond)  # CA-CB 0.2 A too long
    assert backmap_metric_sums(moved, ubiquitin).bond_outliers == 1
    # a gap the prediction opens inside a bonded stretch is a stretched peptide bond, not a break
    shifted = ubiquitin.copy()
    shifted.coord[starts[30] :] += np.array([3.0, 0.0, 0.0])
    assert backmap_metric_sums(shifted, ubiquitin).bond_outliers == 1
    deviations, _ = bond_length_deviations(ubiquitin)
    n_residues, n_cb = len(starts), int((ubiquitin.atom_name == "CB").sum())
    assert len(deviations) == 3 * n_residues + n_cb + (n_residues - 1)  # N-CA, CA-C, C-O; CA-CB; C-N


def test_per_type_tables_add_up_and_pool(ubiquitin):
    rng = np.random.default_rng(1)
    moved = ubiquitin.copy()
    moved.coord += rng.normal(scale=0.3, size=moved.coord.shape)
    sums = backmap_metric_sums(moved, ubiquitin)
    per_type = sums.per_residue_type()
    assert sum(row["atoms"] for row in per_type.values()) == sums.atoms["all"] == ubiquitin.array_length() - 1  # no OXT
    pooled = np.sqrt(sum(row["rmsd"] ** 2 * row["atoms"] for row in per_type.values()) / sums.atoms["all"])
    assert pooled == pytest.approx(sums.summary()["rmsd"])
    twice = pooled_metrics([sums, backmap_metric_sums(moved, ubiquitin)])
    assert twice.summary()["rmsd"] == pytest.approx(sums.summary()["rmsd"])
    assert twice.atoms["all"] == 2 * sums.atoms["all"] and twice.bonds == 2 * sums.bonds
    table = format_metrics_table({"noisy": sums}, {"noisy": {"s/protein": "0.1"}})
    assert "| noisy |" in table and "s/protein" in table
    assert "| LEU |" in format_residue_type_table(sums)
    assert np.isnan(BackmapMetricSums().summary()["rmsd"])


def test_terminal_carboxylate_oxygens_are_equivalent_and_oxt_is_not_scored(ubiquitin):
    assert (ubiquitin.atom_name == "OXT").sum() == 1
    swapped = swapped_names(ubiquitin, "GLY", [("O", "OXT")])  # only the C-terminal GLY 76 has an OXT
    assert backmap_metric_sums(swapped, ubiquitin).summary()["rmsd"] == 0.0
    without_oxt = ubiquitin[ubiquitin.atom_name != "OXT"]
    sums = backmap_metric_sums(without_oxt, ubiquitin)
    assert sums.atoms["all"] == ubiquitin.array_length() - 1 and sums.summary()["rmsd"] == 0.0
    # the terminal O placed on the reference's OXT scores 0, elsewhere it counts
    moved = without_oxt.copy()
    last_o = np.flatnonzero(moved.atom_name == "O")[-1]
    moved.coord[last_o] = ubiquitin.coord[ubiquitin.atom_name == "OXT"][0]
    assert backmap_metric_sums(moved, ubiquitin).summary()["rmsd"] == 0.0
    moved.coord[last_o] += np.array([0.0, 0.0, 1.0])
    assert backmap_metric_sums(moved, ubiquitin).squared_error["backbone"] == pytest.approx(1.0, abs=1e-4)


def test_torch_best_assignment_takes_the_better_order():
    target = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]], [[0.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]]])
    partner = torch.tensor([[0, 2, 1], [0, 2, 1]])  # labels 1 and 2 are equivalent
    predicted = torch.stack([target[0], target[1][[0, 2, 1]]])  # sample 0 as labelled, sample 1 swapped
    chosen = best_assignment_targets(predicted, target, partner, torch.ones(2, 3, dtype=torch.bool))
    torch.testing.assert_close(chosen, predicted)
    # a padded label does not decide the assignment
    mask = torch.tensor([[True, True, True], [True, True, False]])
    predicted_masked = predicted.clone()
    predicted_masked[1, 2] = torch.tensor([100.0, 0, 0])
    chosen = best_assignment_targets(predicted_masked, target, partner, mask)
    assert torch.equal(chosen[1, 1], target[1, 2])
