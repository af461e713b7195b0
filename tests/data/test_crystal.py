"""Crystal prototypes and their noisy 12-neighbour environments."""

import time

import numpy as np
import pytest
import torch

from gaan.data.geometry import random_rotations
from gaan.models.steinhardt import steinhardt_features
from gaan.tasks.crystal.cells import (
    CRYSTAL_CLASSES,
    ELEMENTS,
    build_supercell,
    build_unit_cell,
    coordination_numbers,
    nearest_neighbor_distances,
)
from gaan.tasks.crystal.datamodule import CrystalDataModule, generate_crystal_environments, generate_crystal_splits

ATOMS_PER_CELL = {
    "hP2-Mg": 2,
    "cI2-W": 2,
    "cF4-Cu": 4,
    "cF8-C": 8,
    "cF8-SZn": 8,
    "cP2-ClCs": 2,
    "cP46-Si": 46,
    "cF136-Si": 136,
}
COORDINATION = {
    "hP2-Mg": 12,
    "cI2-W": 8,
    "cF4-Cu": 12,
    "cF8-C": 4,
    "cF8-SZn": 4,
    "cP2-ClCs": 8,
    "cP46-Si": 4,
    "cF136-Si": 4,
}
CLATHRATES = ("cP46-Si", "cF136-Si")


@pytest.mark.parametrize("name", CRYSTAL_CLASSES)
def test_unit_cells_have_the_right_atoms_and_coordination(name):
    atoms = build_unit_cell(name)
    assert len(atoms) == ATOMS_PER_CELL[name]
    np.testing.assert_array_equal(coordination_numbers(atoms), COORDINATION[name])
    # sanity of the lattice constants: Si-Si bonds in the clathrates are 2.35-2.42 A
    if name in CLATHRATES:
        assert 2.3 < nearest_neighbor_distances(atoms).min() < 2.45


def test_binary_prototypes_alternate_species():
    for name in ("cF8-SZn", "cP2-ClCs"):
        _, _, types = build_supercell(name)
        assert np.bincount(types).tolist() == [len(types) // 2] * 2
    _, _, elements = build_supercell("cF136-Si", type_encoding="element")
    assert set(elements.tolist()) == {ELEMENTS.index("Si")}


@pytest.fixture(scope="module")
def clean_environments():
    return generate_crystal_environments(8 * 40, seed=1, noise_levels=(0.0,))


def test_every_environment_has_twelve_neighbours_at_unit_distance(clean_environments):
    env = clean_environments
    assert env["vectors"].shape == (320, 12, 3) and env["vectors"].dtype == np.float32
    assert env["neighbor_types"].shape == (320, 12)
    assert np.bincount(env["label"]).tolist() == [40] * 8
    distances = np.linalg.norm(env["vectors"], axis=-1)
    assert np.all(np.diff(distances, axis=1) >= -1e-6), "neighbours sorted by distance"
    clathrate = np.isin(env["label"], [CRYSTAL_CLASSES.index(c) for c in CLATHRATES])
    # scaled so the shortest bond is 1; clathrate-I bonds spread up to 2.7 % longer
    np.testing.assert_allclose(distances[~clathrate, 0], 1.0, atol=1e-5)
    assert np.all(distances[clathrate, 0] > 1 - 1e-5) and np.all(distances[:, 0] < 1.03)
    # first shells: 12 (fcc, hcp), 8 (bcc, CsCl), 4 (diamond, zincblende, clathrates)
    for name, shell in COORDINATION.items():
        rows = distances[env["label"] == CRYSTAL_CLASSES.index(name)]
        assert np.all(rows[:, shell - 1] < 1.03), name
        if shell < 12:
            assert np.all(rows[:, shell] > 1.1), name


def test_types_mark_centre_and_neighbour_species(clean_environments):
    env = clean_environments
    zincblende = env["label"] == CRYSTAL_CLASSES.index("cF8-SZn")
    # the four bonded neighbours are the other species
    assert np.all(env["neighbor_types"][zincblende, :4] != env["center_type"][zincblende, None])
    unary = ~np.isin(env["label"], [CRYSTAL_CLASSES.index(c) for c in ("cF8-SZn", "cP2-ClCs")])
    assert np.all(env["center_type"][unary] == 0) and np.all(env["neighbor_types"][unary] == 0)


def test_generation_is_deterministic_and_seeded():
    kwargs = dict(noise_levels=(0.001, 0.05, 0.1))
    first = generate_crystal_environments(240, seed=5, **kwargs)
    second = generate_crystal_environments(240, seed=5, **kwargs)
    other = generate_crystal_environments(240, seed=6, **kwargs)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(first["vectors"], other["vectors"])
    counts = np.unique(np.stack([first["label"], first["noise"]]), axis=1, return_counts=True)[1]
    assert counts.tolist() == [10] * 24, "balanced over class x noise level"


def test_rotation_changes_vectors_not_geometry():
    rotated = generate_crystal_environments(64, seed=2, noise_levels=(0.05,))
    plain = generate_crystal_environments(64, seed=2, noise_levels=(0.05,), rotate=False)
    np.testing.assert_array_equal(rotated["label"], plain["label"])
    np.testing.assert_allclose(
        np.linalg.norm(rotated["vectors"], axis=-1),
        np.linalg.norm(plain["vectors"], axis=-1),
        atol=1e-5,
    )
    assert not np.allclose(rotated["vectors"], plain["vectors"], atol=1e-2)
    rotations = random_rotations(np.random.default_rng(0), 100)
    np.testing.assert_allclose(
        rotations @ rotations.transpose(0, 2, 1),
        np.broadcast_to(np.eye(3), (100, 3, 3)),
        atol=1e-12,
    )
    np.testing.assert_allclose(np.linalg.det(rotations), 1.0)


def test_splits_differ_and_repeat():
    sizes = {"train": 48, "valid": 16, "test": 16}
    splits = generate_crystal_splits(sizes, seed=3)
    again = generate_crystal_splits(sizes, seed=3)
    assert {k: len(v["label"]) for k, v in splits.items()} == sizes
    np.testing.assert_array_equal(splits["test"]["vectors"], again["test"]["vectors"])
    assert not np.array_equal(splits["valid"]["vectors"], splits["test"]["vectors"])


def _shell(directions):
    directions = np.asarray(directions, dtype=np.float64)
    return directions / np.linalg.norm(directions, axis=1, keepdims=True)


def test_steinhardt_matches_known_values():
    simple_cubic = _shell([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])
    bcc = _shell([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
    fcc = _shell([p for p in np.array(np.meshgrid(*[[-1, 0, 1]] * 3)).reshape(3, -1).T if np.abs(p).sum() == 2])
    # published q4, q6 of the perfect shells
    for shell, expected in ((simple_cubic, (0.76376, 0.35355)), (bcc, (0.50918, 0.62854)), (fcc, (0.19094, 0.57452))):
        rotated = np.einsum("mij,kj->mki", random_rotations(np.random.default_rng(0), 5), shell)
        features = steinhardt_features(rotated)
        assert features.shape == (5, 2) and features.dtype == np.float32
        np.testing.assert_allclose(features, np.broadcast_to(expected, (5, 2)), atol=2e-4)


def test_steinhardt_on_generated_environments(clean_environments):
    env = clean_environments
    features = steinhardt_features(env["vectors"], l_values=(4, 6, 8))
    assert features.shape == (320, 3) and np.isfinite(features).all()
    fcc = env["label"] == CRYSTAL_CLASSES.index("cF4-Cu")
    np.testing.assert_allclose(features[fcc, :2], np.broadcast_to((0.19094, 0.57452), (40, 2)), atol=2e-4)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown crystal class 'fcc'"):
        build_unit_cell("fcc")
    with pytest.raises(ValueError, match="unknown crystal class"):
        generate_crystal_environments(8, seed=0, classes=("cF4-Cu", "bogus"))
    for sigma in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="noise_levels"):
            generate_crystal_environments(8, seed=0, noise_levels=(0.05, sigma))
    with pytest.raises(ValueError, match="type_encoding"):
        generate_crystal_environments(8, seed=0, type_encoding="atomic_number")
    with pytest.raises(ValueError, match=r"shape \(M, K, 3\)"):
        steinhardt_features(np.zeros((4, 3)))


@pytest.mark.slow
def test_generation_speed_10k():
    started = time.perf_counter()
    env = generate_crystal_environments(10_000, seed=0)
    generate_seconds = time.perf_counter() - started
    started = time.perf_counter()
    steinhardt_features(env["vectors"])
    steinhardt_seconds = time.perf_counter() - started
    print(f"10k environments: {generate_seconds:.2f} s, q4/q6: {steinhardt_seconds:.2f} s")
    assert generate_seconds < 30


def test_datamodule_builds_padded_batches(tmp_path):
    dm = CrystalDataModule(str(tmp_path), num_samples=48, batch_size=8)
    dm.setup()
    assert sum(len(s) for s in dm.splits.values()) == 48
    batch = next(iter(dm.train_dataloader()))
    assert batch.positions.shape == (8, 13, 3)
    assert batch.features.shape == (8, 13, dm.num_features) == (8, 13, 5)
    # the centre sits at the origin and carries the is-centre flag
    assert torch.all(batch.positions[:, 0] == 0) and torch.all(batch.features[:, 0, -1] == 1)
    assert batch.targets["label"].dtype == torch.long and batch.targets["noise"].shape == (8,)
    with pytest.raises(ValueError, match="noise_levels"):
        CrystalDataModule(str(tmp_path), noise_levels=[-1.0])
