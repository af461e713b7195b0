"""The cached heavy-atom names of the standard residues (`RESIDUE_ATOMS`) are the wwPDB chemical
component dictionary's, in its order: the cache only saves building them at import."""

import pytest

from gaan.tasks.protein.residues import RESIDUE_ATOMS, STANDARD_RESIDUES, ccd_heavy_atoms


@pytest.mark.parametrize("residue", STANDARD_RESIDUES)
def test_cached_atom_names_are_the_ccd_ones(residue):
    assert RESIDUE_ATOMS[residue] == ccd_heavy_atoms(residue)


def test_every_standard_residue_and_nothing_else():
    assert tuple(RESIDUE_ATOMS) == STANDARD_RESIDUES
    assert all(atoms[:4] == ("N", "CA", "C", "O") for atoms in RESIDUE_ATOMS.values())


@pytest.mark.parametrize("residue", STANDARD_RESIDUES)
def test_cached_ccd_residue_is_biotites(residue):
    """`ccd_residue` (the refinement's ideal residues without decoding the CCD) gives biotite's
    AtomArray: names, elements, charges, ideal coordinates and bonds with their orders."""
    import biotite.structure.info as structure_info
    import numpy as np

    from gaan.tasks.protein.ccd_cache import ccd_residue

    cached, ccd = ccd_residue(residue), structure_info.residue(residue)
    for annotation in ("atom_name", "element", "charge", "res_name"):
        np.testing.assert_array_equal(cached.get_annotation(annotation), ccd.get_annotation(annotation))
    np.testing.assert_allclose(cached.coord, ccd.coord, atol=1e-4)
    np.testing.assert_array_equal(cached.bonds.as_array(), ccd.bonds.as_array())
