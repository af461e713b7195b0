"""GFN2-xTB Langevin data: forces are the energy's gradient, trajectories are separate and
seeded, the cache verifies its checksums and records provenance."""

import json

import numpy as np
import pytest

from gaan.data.checksums import CacheError
from gaan.tasks.md17.xtb_dynamics import (
    XTBDynamicsRecipe,
    embed_smiles,
    load_or_generate_xtb_dynamics,
    xtb_energy_and_forces,
)

TINY = XTBDynamicsRecipe(molecule="ethanol", equilibration_steps=10, frames={"train": 3, "val": 2, "test": 2})


def test_xtb_forces_are_minus_the_energy_gradient():
    """Central finite differences of the xTB energy (eV) match its forces (eV/A) on a distorted
    ethanol, for every component of three atoms (C, O and an H)."""
    numbers, positions = embed_smiles("CCO", seed=7)
    positions = positions + np.random.default_rng(0).normal(scale=0.05, size=positions.shape)
    _, forces = xtb_energy_and_forces(numbers, positions)
    h = 1e-3
    for atom in (0, 2, 5):
        for axis in range(3):
            plus, minus = positions.copy(), positions.copy()
            plus[atom, axis] += h
            minus[atom, axis] -= h
            numeric = -(xtb_energy_and_forces(numbers, plus)[0] - xtb_energy_and_forces(numbers, minus)[0]) / (2 * h)
            assert numeric == pytest.approx(forces[atom, axis], abs=2e-3), (atom, axis)
    assert np.abs(forces).max() > 0.1  # a distorted molecule: the check is not on zeros


def test_generated_splits_are_separate_seeded_trajectories_and_physical(tmp_path):
    data = load_or_generate_xtb_dynamics(tmp_path, TINY, log_every=1)
    assert {split: len(a["energies"]) for split, a in data.items()} == {"train": 3, "val": 2, "test": 2}
    train, val = data["train"], data["val"]
    assert list(train["numbers"]) == list(val["numbers"]) and sorted(set(train["numbers"])) == [1, 6, 8]
    assert not np.allclose(train["positions"][:2], val["positions"])  # different trajectories
    # recorded forces are xTB's at the recorded positions (not the constrained ones), up to the
    # SCF convergence of a fresh calculation (measured: 1e-4 eV/A = 0.1 meV/A)
    _, forces = xtb_energy_and_forces(train["numbers"], train["positions"][1])
    np.testing.assert_allclose(train["forces"][1], forces, atol=1e-3)
    # a molecule, not a gas: every bond stays shorter than 2 A
    distances = np.linalg.norm(train["positions"][:, :, None] - train["positions"][:, None], axis=-1)
    assert np.sort(distances, axis=-1)[:, :, 1].max() < 2.0
    # same recipe + seeds -> the same numbers (the generation is reproducible)
    again = load_or_generate_xtb_dynamics(tmp_path / "again", TINY)
    np.testing.assert_allclose(again["train"]["energies"], train["energies"], rtol=0, atol=1e-9)


def test_cache_reloads_records_provenance_and_names_a_corrupt_file(tmp_path):
    first = load_or_generate_xtb_dynamics(tmp_path, TINY, splits=("val",))
    folder = next((tmp_path / "xtb_md").iterdir())
    meta = json.loads((folder / "val.json").read_text())
    assert meta["recipe"]["temperature_K"] == 500.0 and meta["recipe"]["timestep_fs"] == 0.5
    assert meta["seed"] == TINY.seeds["val"] and set(meta["versions"]) >= {"tblite", "ase", "rdkit"}
    assert meta["units"]["energies"] == "eV" and len(meta["checksums"]["energies"]) == 64
    assert not (folder / "train.json").exists()  # only the split asked for was generated
    again = load_or_generate_xtb_dynamics(tmp_path, TINY, splits=("val",))
    np.testing.assert_array_equal(again["val"]["forces"], first["val"]["forces"])
    arrays = dict(np.load(folder / "val.npz"))
    arrays["energies"] = arrays["energies"] + 1e-6
    np.savez(folder / "val.npz", **arrays)
    with pytest.raises(CacheError, match=r"val\.npz.*'energies'.*sha256"):
        load_or_generate_xtb_dynamics(tmp_path, TINY, splits=("val",))


def test_recipe_rejects_bad_input():
    with pytest.raises(ValueError, match="neither a known name"):
        XTBDynamicsRecipe(molecule="not-a-molecule((")
    with pytest.raises(ValueError, match="seeds must differ"):
        XTBDynamicsRecipe(seeds={"train": 1, "val": 1, "test": 2})
    assert XTBDynamicsRecipe(molecule="CC(=O)O").label == "smiles"  # any SMILES works
