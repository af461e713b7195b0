"""The charged N-body generator: original draw order, exact integration, energy, cache."""

import json
import time

import numpy as np
import pytest

from gaan.data.checksums import CacheError
from gaan.tasks.nbody.cache import load_or_generate_nbody_small
from gaan.tasks.nbody.datamodule import NBodyDataModule, nbody_task_arrays
from gaan.tasks.nbody.forces import charged_energy, coulomb_forces
from gaan.tasks.nbody.simulation import (
    NBodySmallRecipe,
    draw_charged_initial_conditions,
    generate_nbody_small,
    simulate_charged_particles,
)

# a short recipe keeps the default tests fast; the full recipe runs under -m slow
SHORT = NBodySmallRecipe(num_steps=1000, num_train=6, num_valid=3, num_test=3)


def reference_trajectory(rng, recipe=NBodySmallRecipe()):
    """One simulation written the way the original ChargedParticlesSim.sample_trajectory is.

    Layout (3, n) per frame, numpy.dot for the squared distances, one numpy.sum per force.
    """
    n, dt, box = recipe.num_particles, recipe.dt, recipe.box_size
    num_frames = recipe.num_steps // recipe.sample_freq - 1
    charges = rng.choice(np.array([-1.0, 0.0, 1.0]), size=(n, 1), p=[0.5, 0, 0.5])
    edges = charges.dot(charges.T)
    loc = np.zeros((num_frames, 3, n))
    vel = np.zeros((num_frames, 3, n))
    x = rng.randn(3, n) * recipe.loc_std
    v = rng.randn(3, n)
    v = v * recipe.vel_norm / np.sqrt((v**2).sum(axis=0)).reshape(1, -1)
    over = x > box
    x[over] = 2 * box - x[over]
    v[over] = -np.abs(v[over])
    under = x < -box
    x[under] = -2 * box - x[under]
    v[under] = np.abs(v[under])
    loc[0], vel[0] = x, v
    max_force = 0.1 / dt

    def force(x):
        a = x.T
        sq = (a**2).sum(axis=1)
        dist_sq = sq.reshape(n, 1) + sq.reshape(1, n) - 2 * a.dot(a.T)
        with np.errstate(divide="ignore", invalid="ignore"):
            size = recipe.interaction_strength * edges / np.power(dist_sq, 1.5)
        np.fill_diagonal(size, 0)
        diff = np.stack([np.subtract.outer(x[d], x[d]) for d in range(3)])
        f = (size.reshape(1, n, n) * diff).sum(axis=-1)
        f[f > max_force] = max_force
        f[f < -max_force] = -max_force
        return f

    v += dt * force(x)
    counter = 0
    for step in range(1, recipe.num_steps):
        x += dt * v
        if step % recipe.sample_freq == 0:
            loc[counter], vel[counter] = x, v
            counter += 1
        v += dt * force(x)
    rng.randn(num_frames, 3, n)  # observation noise, times zero
    rng.randn(num_frames, 3, n)
    return loc.transpose(0, 2, 1), vel.transpose(0, 2, 1), charges[:, 0]


def _blas_dot_is_fused():
    """Whether numpy.dot here rounds 3-term dot products like a fused multiply-add chain."""
    from fractions import Fraction

    rng = np.random.RandomState(1)
    for _ in range(200):
        x = rng.randn(3, 5)
        gram = x.T.dot(x)
        for i, j in ((0, 1), (2, 4), (3, 3)):
            acc = 0.0
            for d in range(3):
                acc = float(Fraction(x[d, i]) * Fraction(x[d, j]) + Fraction(acc))
            if gram[i, j] != acc:
                return False
    return True


def test_vectorised_simulator_equals_reference_loop():
    recipe = NBodySmallRecipe(num_steps=2000)
    num_sims = 6
    rng = np.random.RandomState(43)
    reference = [reference_trajectory(rng, recipe) for _ in range(num_sims)]
    rng = np.random.RandomState(43)
    charges, loc0, vel0 = draw_charged_initial_conditions(rng, num_sims, recipe)
    # chunk_size 4 also exercises a ragged last chunk, threads must not change a bit
    loc, vel, clipped = simulate_charged_particles(charges, loc0, vel0, recipe, chunk_size=4, return_clipped=True)
    threaded = simulate_charged_particles(charges, loc0, vel0, recipe, chunk_size=2, num_threads=2)
    np.testing.assert_array_equal(threaded[0], loc)
    np.testing.assert_array_equal(threaded[1], vel)
    assert loc.shape == vel.shape == (num_sims, 19, 5, 3)
    assert clipped.any(), "the check should cover clipped trajectories too"
    exact = _blas_dot_is_fused()
    for s, (ref_loc, ref_vel, ref_charges) in enumerate(reference):
        np.testing.assert_array_equal(charges[s], ref_charges)
        if exact:
            np.testing.assert_array_equal(loc[s], ref_loc)
            np.testing.assert_array_equal(vel[s], ref_vel)
        else:
            # another BLAS rounds a.b differently; close encounters amplify the ulps
            np.testing.assert_allclose(loc[s], ref_loc, rtol=0, atol=1e-6)
            np.testing.assert_allclose(vel[s], ref_vel, rtol=0, atol=1e-5)
    # the stream continues where the original's would: the next draw agrees too
    rng_ref = np.random.RandomState(43)
    for _ in range(num_sims):
        reference_trajectory(rng_ref, NBodySmallRecipe(num_steps=2000))
    assert rng.random_sample() == rng_ref.random_sample()


def test_initial_conditions_follow_the_recipe():
    rng = np.random.RandomState(0)
    charges, loc, vel = draw_charged_initial_conditions(rng, 200)
    assert charges.shape == (200, 5) and loc.shape == vel.shape == (200, 5, 3)
    assert set(np.unique(charges)) == {-1.0, 1.0}
    np.testing.assert_allclose(np.linalg.norm(vel, axis=-1), 0.5)
    assert np.all(np.abs(loc) <= 5.0)
    with pytest.raises(TypeError, match="RandomState"):
        draw_charged_initial_conditions(np.random.default_rng(0), 2)


def test_generation_is_deterministic():
    first = generate_nbody_small(SHORT, num_train_used=4)
    second = generate_nbody_small(SHORT, num_train_used=4)
    for split in ("train", "valid", "test"):
        for name in ("loc", "vel", "charges"):
            np.testing.assert_array_equal(first[split][name], second[split][name])
    assert first["train"]["loc"].shape == (4, 9, 5, 3)
    assert first["valid"]["loc"].shape == (3, 9, 5, 3)
    # valid continues the stream after all six train draws, used or not
    all_train = generate_nbody_small(SHORT, num_train_used=None)
    np.testing.assert_array_equal(all_train["valid"]["loc"], first["valid"]["loc"])
    np.testing.assert_array_equal(all_train["train"]["loc"][:4], first["train"]["loc"])


def _synchronised_energy(loc, vel, charges, dt):
    # saved velocities lag the positions by half a step; add the missing half kick
    vel_at_loc = vel + 0.5 * dt * coulomb_forces(loc, charges[:, None, :])
    return charged_energy(loc, vel_at_loc, charges[:, None, :])


def test_energy_is_conserved_without_clipping():
    recipe = NBodySmallRecipe()
    rng = np.random.RandomState(7)
    charges, loc0, vel0 = draw_charged_initial_conditions(rng, 64, recipe)
    loc, vel, clipped = simulate_charged_particles(charges, loc0, vel0, recipe, return_clipped=True)
    calm = ~clipped
    assert calm.sum() >= 10
    energy = _synchronised_energy(loc[calm], vel[calm], charges[calm], recipe.dt)
    # kick-drift = leapfrog: O(dt^2) energy error once velocities are synchronised.
    # Measured: relative drift median 6e-6, worst 6e-4 over these 34 clip-free runs
    # (unsynchronised velocities: worst 6e-2; clipped runs: up to ~1).
    drift = np.abs(energy - energy[:, :1]).max(axis=1) / np.abs(energy).max(axis=1).clip(1.0)
    assert drift.max() < 2e-3
    # the force is minus the gradient of the potential (like charges repel)
    x = loc[calm][0, 10]
    q = charges[calm][0]
    eps = 1e-6
    grad = np.zeros_like(x)
    for i in range(5):
        for d in range(3):
            step = np.zeros_like(x)
            step[i, d] = eps
            e_plus = charged_energy(x + step, np.zeros_like(x), q)
            e_minus = charged_energy(x - step, np.zeros_like(x), q)
            grad[i, d] = (e_plus - e_minus) / (2 * eps)
    np.testing.assert_allclose(coulomb_forces(x, q), -grad, rtol=1e-5, atol=1e-7)


def test_task_arrays_pick_frames_30_and_40():
    rng = np.random.default_rng(0)
    split = {
        "loc": rng.standard_normal((3, 49, 5, 3)),
        "vel": rng.standard_normal((3, 49, 5, 3)),
        "charges": np.sign(rng.standard_normal((3, 5))),
    }
    task = nbody_task_arrays(split)
    np.testing.assert_array_equal(task["pos"], split["loc"][:, 30])
    np.testing.assert_array_equal(task["vel"], split["vel"][:, 30])
    np.testing.assert_array_equal(task["target"], split["loc"][:, 40])
    assert task["charges"].shape == (3, 5)
    with pytest.raises(ValueError, match="frame_out"):
        nbody_task_arrays(split, frame_out=49)


def test_cache_roundtrip_and_tamper_detection(tmp_path):
    data = load_or_generate_nbody_small(tmp_path, SHORT, num_train_used=2)
    (cache,) = tmp_path.iterdir()
    manifest = json.loads((cache / "checksums.json").read_text())
    assert set(manifest["checksums"]) == {"train", "valid", "test"}
    again = load_or_generate_nbody_small(tmp_path, SHORT, num_train_used=2)
    np.testing.assert_array_equal(again["test"]["loc"], data["test"]["loc"])

    # a modified array (valid file, wrong content) is rejected with the file named
    tampered = dict(data["valid"])
    tampered["loc"] = tampered["loc"].copy()
    tampered["loc"][0, 0, 0, 0] += 1e-9
    np.savez(cache / "valid.npz", **tampered)
    with pytest.raises(CacheError, match=r"valid\.npz.*'loc'"):
        load_or_generate_nbody_small(tmp_path, SHORT, num_train_used=2)

    # a truncated file is rejected with the file named
    raw = (cache / "train.npz").read_bytes()
    (cache / "train.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CacheError, match=r"train\.npz"):
        load_or_generate_nbody_small(tmp_path, SHORT, num_train_used=2)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="num_train_used"):
        generate_nbody_small(SHORT, num_train_used=7)
    with pytest.raises(ValueError, match="sample_freq"):
        simulate_charged_particles(
            np.ones((1, 5)),
            np.zeros((1, 5, 3)),
            np.zeros((1, 5, 3)),
            NBodySmallRecipe(num_steps=150),
        )
    with pytest.raises(ValueError, match=r"charges \(S, n\)"):
        simulate_charged_particles(np.ones(5), np.zeros((5, 3)), np.zeros((5, 3)))


@pytest.mark.slow
def test_full_nbody_small_generation(tmp_path):
    started = time.perf_counter()
    data = load_or_generate_nbody_small(tmp_path)
    seconds = time.perf_counter() - started
    print(f"nbody_small generation: {seconds:.1f} s")
    assert data["train"]["loc"].shape == (3000, 49, 5, 3)
    assert data["valid"]["loc"].shape == (2000, 49, 5, 3)
    assert data["test"]["loc"].shape == (2000, 49, 5, 3)
    assert np.isfinite(data["train"]["loc"]).all()
    # the first simulations equal the per-simulation reference loop
    rng = np.random.RandomState(43)
    for s in range(3):
        ref_loc, ref_vel, ref_charges = reference_trajectory(rng)
        np.testing.assert_allclose(data["train"]["loc"][s], ref_loc, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(data["train"]["charges"][s], ref_charges)
    started = time.perf_counter()
    load_or_generate_nbody_small(tmp_path)
    print(f"nbody_small cached load: {time.perf_counter() - started:.2f} s")


def test_datamodule_uses_the_recipe_splits(tmp_path):
    recipe = {"num_steps": 1000, "num_train": 6, "num_valid": 3, "num_test": 2}
    dm = NBodyDataModule(str(tmp_path), num_train=4, frame_in=3, frame_out=5, recipe=recipe, batch_size=2)
    dm.setup()
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 4, "val": 3, "test": 2}
    batch = next(iter(dm.val_dataloader()))
    assert batch.positions.shape == (2, 5, 3) and batch.features.shape == (2, 5, dm.num_features)
    assert batch.targets["vectors"].shape == (2, 5, 3)
    data = generate_nbody_small(NBodySmallRecipe(**recipe), num_train_used=4)
    task = nbody_task_arrays(data["valid"], 3, 5)
    np.testing.assert_allclose(batch.positions.numpy(), task["pos"][:2], rtol=1e-6)
    np.testing.assert_allclose(batch.targets["vectors"].numpy(), (task["target"] - task["pos"])[:2], rtol=1e-5, atol=1e-6)
    # velocities at frame_in are the covariant model input (B, N, 1, 3)
    assert batch.vectors.shape == (2, 5, 1, 3)
    np.testing.assert_allclose(batch.vectors[:, :, 0].numpy(), task["vel"][:2], rtol=1e-6)
    with pytest.raises(ValueError, match="frame_out"):
        NBodyDataModule(str(tmp_path), frame_out=49)
    with pytest.raises(ValueError, match="datamodule.recipe"):
        NBodyDataModule(str(tmp_path), recipe={"num_balls": 5})


def test_negating_every_charge_leaves_the_trajectories_unchanged():
    """The symmetry behind charge_flip_augmentation, checked on the simulator itself."""
    charges, loc, vel = draw_charged_initial_conditions(np.random.RandomState(7), 4, SHORT)
    loc_a, vel_a = simulate_charged_particles(charges, loc, vel, SHORT)
    loc_b, vel_b = simulate_charged_particles(-charges, loc, vel, SHORT)
    np.testing.assert_array_equal(loc_a, loc_b)
    np.testing.assert_array_equal(vel_a, vel_b)
    assert np.abs(loc_a[:, -1] - loc_a[:, 0]).max() > 0.1  # the bodies did move


def test_charge_flip_augmentation_doubles_only_the_training_split(tmp_path):
    recipe = {"num_steps": 1000, "num_train": 6, "num_valid": 3, "num_test": 2}
    plain = NBodyDataModule(str(tmp_path), num_train=4, frame_in=3, frame_out=5, recipe=recipe)
    flipped = NBodyDataModule(str(tmp_path), num_train=4, frame_in=3, frame_out=5, recipe=recipe, charge_flip_augmentation=True)
    plain.setup()
    flipped.setup()
    assert {k: len(v) for k, v in flipped.splits.items()} == {"train": 8, "val": 3, "test": 2}
    for i in range(4):
        original, copy = plain.splits["train"][i], flipped.splits["train"][4 + i]
        assert flipped.splits["train"][i]["features"].equal(original["features"])
        assert copy["features"][:, 0].equal(-original["features"][:, 0])
        assert copy["features"][:, 1].equal(original["features"][:, 1])
        assert copy["targets"]["vectors"].equal(original["targets"]["vectors"])
        assert copy["positions"].equal(original["positions"]) and copy["vectors"].equal(original["vectors"])
    assert original["features"][:, 0].abs().min() == 1  # charges are +-1
