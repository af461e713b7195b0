"""Bond-stretch scans: the geometry moves one atom only, GFN2-xTB holds ethanol's C-H bond together
(the reference the scan is read against), and a trained potential runs through the same code."""

import numpy as np
import pytest

from gaan.tasks.md17.bond_stretch import bond_stretch_energies, stretched_positions
from gaan.tasks.md17.xtb_dynamics import XTBDynamicsRecipe, embed_smiles, xtb_calculator


def ethanol_c_h():
    numbers, positions = embed_smiles("CCO", seed=7)
    hydrogens = np.flatnonzero(numbers == 1)
    carbon = int(np.flatnonzero(numbers == 6)[0])
    h = int(hydrogens[np.argmin(np.linalg.norm(positions[hydrogens] - positions[carbon], axis=1))])
    return numbers, positions, carbon, h


def test_the_moved_atom_lands_at_each_distance_along_its_bond_and_nothing_else_moves():
    numbers, positions, carbon, h = ethanol_c_h()
    distances = [0.9, 1.5, 3.0]
    frames = stretched_positions(positions, carbon, h, distances)
    assert frames.shape == (3, len(numbers), 3)
    np.testing.assert_allclose(np.linalg.norm(frames[:, h] - positions[carbon], axis=1), distances)
    bond = (positions[h] - positions[carbon]) / np.linalg.norm(positions[h] - positions[carbon])
    np.testing.assert_allclose((frames[:, h] - positions[carbon]) / np.array(distances)[:, None], np.repeat(bond[None], 3, 0))
    others = np.arange(len(numbers)) != h
    np.testing.assert_array_equal(frames[:, others], np.repeat(positions[None, others], 3, 0))
    with pytest.raises(ValueError, match="--atoms needs two different atom indices"):
        stretched_positions(positions, carbon, carbon, distances)


def test_xtb_holds_the_c_h_bond_and_a_shipped_potential_scans_through_the_same_code():
    from gaan.ase import GAANCalculator

    numbers, positions, carbon, h = ethanol_c_h()
    start = float(np.linalg.norm(positions[h] - positions[carbon]))
    distances = [start, 1.4, 2.0, 3.0]
    energies = bond_stretch_energies(
        {"xtb": xtb_calculator(), "shipped": GAANCalculator("ethanol")}, numbers, positions, carbon, h, distances
    )
    xtb = energies["xtb"]
    assert xtb[0] == pytest.approx(0.0, abs=1e-6)  # the frame's own bond length: no change
    assert np.all(np.diff(xtb) > 0) and xtb[-1] > 3.0  # a bond: several eV to pull the H away
    assert energies["shipped"].shape == (4,) and np.all(np.isfinite(energies["shipped"]))
    assert energies["shipped"][0] == pytest.approx(0.0, abs=1e-4)


def test_the_command_prints_each_potential_beside_xtb(monkeypatch, capsys):
    """`python -m gaan.tasks.md17.bond_stretch` on a frame served as the md17 data module serves it."""
    import gaan.tasks.md17.datamodule as datamodule
    from gaan.tasks.md17.bond_stretch import main

    numbers, positions, carbon, h = ethanol_c_h()

    class OneFrame:  # the data module's interface the command uses
        recipe = XTBDynamicsRecipe()

        def __init__(self, data_dir, molecule):
            self.arrays = {"val": {"numbers": numbers, "positions": positions[None]}}

        def prepare_data(self):
            pass

        def setup(self, stage):
            pass

    monkeypatch.setattr(datamodule, "MD17DataModule", OneFrame)
    main(["ethanol", "ethanol", "--split", "val", "--frame", "0", "--atoms", str(carbon), str(h), "--distances", "1.4", "3.0"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "distance (A) | ethanol | GFN2-xTB"
    rows = [[float(x) for x in line.split(" | ")] for line in lines[2:]]
    assert [row[0] for row in rows] == [1.4, 3.0] and rows[1][2] > 3.0  # xTB: the bond holds
    with pytest.raises(SystemExit, match="--frame 5: the val split has 1 frames"):
        main(["ethanol", "ethanol", "--frame", "5", "--atoms", "0", "1"])
