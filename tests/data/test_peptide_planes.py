"""The backbone's peptide planes from the C-alpha trace (gaan.tasks.protein.peptide_planes)."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from gaan.tasks.protein.ideal_geometry import BACKBONE_ANGLES, C_N_CA_ANGLE, CA_C_N_ANGLE, IDEAL_BOND_LENGTHS, O_C_N_ANGLE
from gaan.tasks.protein.metrics import peptide_links
from gaan.tasks.protein.peptide_planes import CIS_CA_CA, PeptidePlaneTable, build_table, place_peptide_planes, shipped_table, trans_peptide


def angle(a, centre, b):
    u, v = a - centre, b - centre
    return np.degrees(np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v)))


def test_the_template_is_an_ideal_trans_peptide():
    c, o, n = (np.append(p, 0.0) for p in trans_peptide())
    half = np.linalg.norm(np.array([3.804, 0.0])) / 2  # CA(i) and CA(i+1) on the x axis around 0
    ca, ca_next = np.array([-half, 0.0, 0.0]), np.array([half, 0.0, 0.0])
    assert np.linalg.norm(c - ca) == pytest.approx(IDEAL_BOND_LENGTHS[("CA", "C")], abs=2e-3)
    assert np.linalg.norm(n - c) == pytest.approx(IDEAL_BOND_LENGTHS[("C", "N+1")], abs=2e-3)
    assert np.linalg.norm(n - ca_next) == pytest.approx(IDEAL_BOND_LENGTHS[("N", "CA")], abs=2e-3)
    assert np.linalg.norm(o - c) == pytest.approx(IDEAL_BOND_LENGTHS[("C", "O")], abs=1e-6)
    assert angle(ca, c, n) == pytest.approx(CA_C_N_ANGLE, abs=0.1)
    assert angle(c, n, ca_next) == pytest.approx(C_N_CA_ANGLE, abs=0.1)
    assert angle(ca, c, o) == pytest.approx(BACKBONE_ANGLES[("CA", "C", "O")], abs=0.1)
    assert angle(o, c, n) == pytest.approx(O_C_N_ANGLE, abs=0.1)
    assert np.linalg.norm(o - ca_next) == pytest.approx(2.76, abs=0.05)  # O cis to CA(i+1): trans peptide


def test_scrambled_peptides_come_back_from_the_trace(ubiquitin_without_oxt):
    """C, O and N thrown 1 A off: the trace's vote puts them back within a few tenths of an A of
    the native (an unseen protein), far closer than the scrambled atoms."""
    links = peptide_links(ubiquitin_without_oxt)
    backbone = np.isin(ubiquitin_without_oxt.atom_name, ["C", "O", "N"])
    scrambled = ubiquitin_without_oxt.copy()
    scrambled.coord[backbone] += np.random.default_rng(0).normal(0, 1.0, (int(backbone.sum()), 3)).astype(np.float32)
    placed = place_peptide_planes(scrambled, links)
    inner = backbone & (ubiquitin_without_oxt.res_id > 1) & (ubiquitin_without_oxt.res_id < 76)  # the chain ends keep their N / C, O

    def rmsd(atoms):
        return np.sqrt(((atoms.coord[inner] - ubiquitin_without_oxt.coord[inner]) ** 2).sum(-1).mean())

    assert rmsd(scrambled) > 1.5 and rmsd(placed) < 0.5
    untouched = ~np.isin(ubiquitin_without_oxt.atom_name, ["C", "O", "N"])
    np.testing.assert_array_equal(placed.coord[untouched], scrambled.coord[untouched])
    first_n = (ubiquitin_without_oxt.res_id == 1) & (ubiquitin_without_oxt.atom_name == "N")
    np.testing.assert_array_equal(placed.coord[first_n], scrambled.coord[first_n])


def test_placement_moves_with_a_rotated_and_translated_input(ubiquitin_without_oxt):
    links = peptide_links(ubiquitin_without_oxt)
    rotation = Rotation.random(random_state=5).as_matrix()
    moved = ubiquitin_without_oxt.copy()
    moved.coord = (ubiquitin_without_oxt.coord.astype(np.float64) @ rotation.T + np.array([3.0, -20.0, 7.0])).astype(np.float32)
    placed = place_peptide_planes(ubiquitin_without_oxt, links).coord.astype(np.float64)
    placed_moved = place_peptide_planes(moved, links).coord.astype(np.float64)
    assert np.abs(placed @ rotation.T + np.array([3.0, -20.0, 7.0]) - placed_moved).max() < 2e-3


def test_cis_peptides_and_chain_breaks_keep_their_atoms(ubiquitin_without_oxt):
    fragment = ubiquitin_without_oxt[ubiquitin_without_oxt.res_id <= 12].copy()
    links = peptide_links(fragment)
    # residue 6 -> 7 squeezed to a cis-like CA-CA distance, residue 9 -> 10 not linked
    shift = fragment.res_id >= 7
    ca6 = fragment.coord[(fragment.res_id == 6) & (fragment.atom_name == "CA")][0]
    ca7 = fragment.coord[(fragment.res_id == 7) & (fragment.atom_name == "CA")][0]
    fragment.coord[shift] -= (ca7 - ca6) * (1 - 0.9 * CIS_CA_CA / np.linalg.norm(ca7 - ca6))
    links[8] = False
    placed = place_peptide_planes(fragment, links)
    for residue, names in ((6, ["C", "O"]), (7, ["N"]), (9, ["C", "O"]), (10, ["N"])):
        keep = (fragment.res_id == residue) & np.isin(fragment.atom_name, names)
        np.testing.assert_array_equal(placed.coord[keep], fragment.coord[keep])
    moved = (fragment.res_id == 3) & (fragment.atom_name == "O")
    assert not np.array_equal(placed.coord[moved], fragment.coord[moved])


def test_the_table_round_trips_and_votes_for_its_own_peptides(ubiquitin_without_oxt, tmp_path):
    table = build_table([ubiquitin_without_oxt])
    assert len(table.features) > 60 and np.allclose(np.linalg.norm(table.directions, axis=-1), 1.0)
    table.save(tmp_path / "table.npz")
    loaded = PeptidePlaneTable.load(tmp_path / "table.npz")
    # each peptide's nearest neighbour is itself: its vote with k = 1 is its own rotation (float16 stored)
    vote = loaded.vote(loaded.features, k=1)
    assert np.abs(vote - loaded.directions).max() < 1e-6  # (the next neighbour is farther away)
    assert len(shipped_table().features) > 30_000  # the training split's peptides
