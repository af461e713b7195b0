"""md17 data: the public rMD17 / MD17 file formats (small files written here), official rMD17
splits, unit conversion, clear errors, and the per-element reference fitted on training frames."""

import numpy as np
import pytest
import torch

from gaan.data import MissingDataError
from gaan.tasks.md17.datamodule import (
    KCAL_PER_MOL_IN_EV,
    MD17DataModule,
    MD17FormatError,
    load_md17,
    load_rmd17,
)
from gaan.tasks.md17.energy_reference import fit_element_reference

ETHANOL_Z = np.array([6, 6, 8, 1, 1, 1, 1, 1, 1])


def fake_frames(count, seed=0):
    rng = np.random.default_rng(seed)
    coords = rng.normal(size=(count, len(ETHANOL_Z), 3))
    energies = -97000.0 + rng.normal(scale=3.0, size=count)  # kcal/mol, like rMD17 ethanol
    forces = rng.normal(scale=30.0, size=(count, len(ETHANOL_Z), 3))  # kcal/mol/A
    return coords, energies, forces


def write_rmd17(root, count=60, with_splits=True):
    """The archive's layout: rmd17/npz_data/rmd17_ethanol.npz and rmd17/splits/index_*_0K.csv."""
    coords, energies, forces = fake_frames(count)
    npz = root / "rmd17" / "npz_data"
    npz.mkdir(parents=True)
    np.savez(
        npz / "rmd17_ethanol.npz",
        nuclear_charges=ETHANOL_Z,
        coords=coords,
        energies=energies,
        forces=forces,
        old_indices=np.arange(count),
        old_energies=energies,
        old_forces=forces,
    )
    if with_splits:
        splits = root / "rmd17" / "splits"
        splits.mkdir()
        order = np.random.default_rng(5).permutation(count)
        for k in range(1, 6):
            (splits / f"index_train_0{k}.csv").write_text("\n".join(str(i) for i in order[:10]) + "\n")
            (splits / f"index_test_0{k}.csv").write_text("\n".join(str(i) for i in order[10:30]) + "\n")
    return npz / "rmd17_ethanol.npz", coords, energies, forces, (order[:10], order[10:30]) if with_splits else None


def test_rmd17_loader_converts_kcal_per_mol_to_ev(tmp_path):
    path, coords, energies, forces, _ = write_rmd17(tmp_path)
    data = load_rmd17(path)
    assert KCAL_PER_MOL_IN_EV == pytest.approx(0.0433641, rel=1e-5)
    np.testing.assert_array_equal(data["numbers"], ETHANOL_Z)
    np.testing.assert_allclose(data["positions"], coords)
    np.testing.assert_allclose(data["energies"], energies * KCAL_PER_MOL_IN_EV)
    np.testing.assert_allclose(data["forces"], forces * KCAL_PER_MOL_IN_EV)


def test_rmd17_datamodule_uses_the_official_split_and_draws_validation_from_the_rest(tmp_path):
    path, _, energies, forces, (train, test) = write_rmd17(tmp_path)
    dm = MD17DataModule(str(tmp_path), source="rmd17", molecule="ethanol", num_val=15, rmd17_split=2)
    assert dm.path == path and dm.num_features == 3  # H, C, O one-hot
    dm.setup()
    sizes = {split: len(dataset) for split, dataset in dm.splits.items()}
    assert sizes == {"train": 10, "val": 15, "test": 20}
    train_forces = np.stack([s["targets"]["forces"].numpy() for s in dm.splits["train"]])
    np.testing.assert_allclose(train_forces, forces[train] * KCAL_PER_MOL_IN_EV, rtol=1e-6)  # in the official order
    used = {tuple(np.round(s["positions"].numpy()[0], 5)) for split in ("train", "test") for s in dm.splits[split]}
    assert not any(tuple(np.round(s["positions"].numpy()[0], 5)) in used for s in dm.splits["val"])
    # absolute energies in float64, nothing subtracted (the task keeps the reference)
    absolute = np.array([float(s["targets"]["energy"]) for s in dm.splits["train"]])
    assert dm.splits["train"][0]["targets"]["energy"].dtype == torch.float64
    np.testing.assert_allclose(absolute, energies[train] * KCAL_PER_MOL_IN_EV, rtol=1e-12)


def test_rmd17_without_split_files_uses_the_seeded_protocol(tmp_path):
    write_rmd17(tmp_path, with_splits=False)
    first = MD17DataModule(str(tmp_path), source="rmd17", num_train=20, num_val=10, split_seed=3)
    second = MD17DataModule(str(tmp_path), source="rmd17", num_train=20, num_val=10, split_seed=3)
    first.setup(), second.setup()
    assert {s: len(d) for s, d in first.splits.items()} == {"train": 20, "val": 10, "test": 30}
    np.testing.assert_array_equal(first.splits["test"][0]["positions"].numpy(), second.splits["test"][0]["positions"].numpy())


def test_md17_loader_reads_z_r_e_f(tmp_path):
    coords, energies, forces = fake_frames(40, seed=1)
    folder = tmp_path / "md17"
    folder.mkdir()
    # the original files store E as (frames, 1)
    np.savez(folder / "ethanol_dft.npz", z=ETHANOL_Z, R=coords, E=energies[:, None], F=forces, name="ethanol", theory="DFT")
    data = load_md17(folder / "ethanol_dft.npz")
    np.testing.assert_allclose(data["energies"], energies * KCAL_PER_MOL_IN_EV)
    dm = MD17DataModule(str(tmp_path), source="md17", num_train=20, num_val=10)
    dm.setup()
    assert {s: len(d) for s, d in dm.splits.items()} == {"train": 20, "val": 10, "test": 10}


def test_missing_file_names_the_file_the_url_and_where_to_put_it(tmp_path):
    with pytest.raises(MissingDataError, match=r"rmd17_aspirin\.npz.*figshare.*rmd17/npz_data"):
        MD17DataModule(str(tmp_path), source="rmd17", molecule="aspirin")
    with pytest.raises(MissingDataError, match=r"md17/aspirin_dft\.npz.*sgdml"):
        MD17DataModule(str(tmp_path), source="md17", molecule="aspirin")


def test_bad_files_are_named(tmp_path):
    coords, energies, forces = fake_frames(5)
    np.savez(tmp_path / "no_forces.npz", nuclear_charges=ETHANOL_Z, coords=coords, energies=energies)
    with pytest.raises(MD17FormatError, match=r"no_forces\.npz.*'forces'"):
        load_rmd17(tmp_path / "no_forces.npz")
    np.savez(tmp_path / "shape.npz", nuclear_charges=ETHANOL_Z, coords=coords[:, :5], energies=energies, forces=forces)
    with pytest.raises(MD17FormatError, match=r"shape\.npz: coords has shape \(5, 5, 3\)"):
        load_rmd17(tmp_path / "shape.npz")
    path, *_ = write_rmd17(tmp_path / "bad_split")
    (path.parent.parent / "splits" / "index_test_01.csv").write_text("1\n2\nthree\n")
    dm = MD17DataModule(str(tmp_path / "bad_split"), source="rmd17")
    with pytest.raises(MD17FormatError, match=r"index_test_01\.csv, line 3: 'three'"):
        dm.setup()


def test_element_reference_fit_recovers_per_element_energies():
    """Frames of different compositions: least squares recovers the per-element energies; one
    composition: the fitted reference reproduces the mean energy."""
    rng = np.random.default_rng(0)
    true = np.array([-13.6, -1029.0, -2041.0])  # H, C, O (eV)
    counts = rng.integers(0, 7, size=(50, 3)).astype(float)
    energies = counts @ true + rng.normal(scale=1e-3, size=50)
    np.testing.assert_allclose(fit_element_reference(counts, energies), true, atol=1e-2)
    single = np.repeat([[6.0, 2.0, 1.0]], 10, 0)
    e = -4200.0 + rng.normal(size=10)
    assert single[0] @ fit_element_reference(single, e) == pytest.approx(e.mean())
