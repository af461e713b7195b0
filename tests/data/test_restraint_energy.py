"""gaan.tasks.protein.restraint_energy: the joined wells give the energy of the restraints written
term by term (flat-bottom bonds, angles, flat groups; harmonic chirality and trans distances;
one-sided clashes), and a finite gradient."""

import numpy as np
import torch

from gaan.tasks.protein.restraint_energy import RestraintEnergy, Wells, distances


def term_by_term(y, anchor, tether, bonds, lengths, angles, angle_values, quads, volumes, flat, clashes, clash_lower):
    def distance(a, b):
        return (((y[a] - y[b]) ** 2).sum(-1) + 1e-12).sqrt()

    def flat_bottom(deviation, tolerance):
        return torch.relu(deviation.abs() - tolerance) ** 2

    u, v = y[angles[:, 0]] - y[angles[:, 1]], y[angles[:, 2]] - y[angles[:, 1]]
    angle = torch.rad2deg(torch.atan2((torch.linalg.cross(u, v) ** 2).sum(-1).add(1e-12).sqrt(), (u * v).sum(-1)))
    a, b, c = (y[quads[:, i]] - y[quads[:, 0]] for i in (1, 2, 3))
    volume = (a * torch.linalg.cross(b, c)).sum(-1)
    return (
        (tether * (y - anchor) ** 2).sum()
        + 1000 * flat_bottom(distance(bonds[:, 0], bonds[:, 1]) - lengths, 0.05).sum()
        + 0.1 * flat_bottom(angle - angle_values, 5.0).sum()
        + 30 * flat_bottom(volume[flat], 0.05).sum()
        + 30 * ((volume[~flat] - volumes[~flat]) ** 2).sum()
        + 100 * (torch.relu(clash_lower - distance(clashes[:, 0], clashes[:, 1])) ** 2).sum()
    )


def test_joined_wells_give_the_term_by_term_energy_and_a_finite_gradient():
    rng = np.random.default_rng(0)
    n = 40
    anchor = torch.from_numpy(rng.normal(0, 3, (n, 3)))
    y = (anchor + torch.from_numpy(rng.normal(0, 0.5, (n, 3)))).requires_grad_(True)
    tether = torch.from_numpy(rng.uniform(0.5, 5, (n, 1)))
    bonds = rng.integers(0, n, (30, 2))
    lengths = rng.uniform(1.2, 1.6, 30)
    angles = rng.integers(0, n, (25, 3))
    angle_values = rng.uniform(100, 125, 25)
    quads = rng.integers(0, n, (12, 4))
    volumes = rng.uniform(-3, 3, 12)
    flat = rng.random(12) < 0.5
    clashes = rng.integers(0, n, (50, 2))
    clash_lower = rng.uniform(2.5, 3.5, 50)
    plane_tolerance = np.where(flat, 0.05, 0.0)
    energy = RestraintEnergy(
        anchor,
        tether,
        distance_wells=Wells.around(bonds, lengths, 0.05, 1000),
        angle_wells=Wells.around(angles, angle_values, 5.0, 0.1),
        volume_wells=Wells.between(
            quads, np.where(flat, 0, volumes) - plane_tolerance, np.where(flat, 0, volumes) + plane_tolerance, np.where(flat, 30, 30)
        ),
    ).with_clashes(clashes, clash_lower, 100)
    ours = energy(y)
    as_tensors = [torch.from_numpy(a) for a in (bonds, lengths, angles, angle_values, quads, volumes, flat, clashes, clash_lower)]
    reference = term_by_term(y, anchor, tether, *as_tensors)
    assert reference.item() > 1.0  # every kind of term is active somewhere
    assert abs(ours.item() - reference.item()) < 1e-9 * reference.item()
    (gradient,) = torch.autograd.grad(ours, y)
    (expected,) = torch.autograd.grad(reference, y)
    assert torch.isfinite(gradient).all()
    assert (gradient - expected).abs().max() < 1e-8 * expected.abs().max()


def test_a_clash_well_has_no_upper_bound_and_trans_wells_are_harmonic():
    y = torch.tensor([[0.0, 0, 0], [5.0, 0, 0]], dtype=torch.float64)
    energy = RestraintEnergy(
        y.clone(),
        torch.zeros(2, 1, dtype=torch.float64),
        distance_wells=Wells.around(np.array([[0, 1]]), np.array([3.8]), 0.0, 2.0),  # a trans 1-4 distance
        angle_wells=Wells.around(np.zeros((0, 3)), np.zeros(0), 5.0, 0.1),
        volume_wells=Wells.around(np.zeros((0, 4)), np.zeros(0), 0.05, 30),
    )
    assert abs(energy(y).item() - 2.0 * 1.2**2) < 1e-9
    far_clash = energy.with_clashes(np.array([[0, 1]]), np.array([3.0]), 100)
    assert abs(far_clash(y).item() - energy(y).item()) < 1e-12  # 5 A apart: beyond the clash distance, no energy
    near_clash = energy.with_clashes(np.array([[0, 1]]), np.array([6.0]), 100)
    assert abs(near_clash(y).item() - energy(y).item() - 100 * 1.0**2) < 1e-9


def test_wells_touching_movable_atoms_keep_the_gradient():
    """Leaving out the wells among fixed atoms changes the energy by a constant only: the gradient
    on the movable atoms is the same, and only wells with a movable atom are kept."""
    rng = np.random.default_rng(1)
    y = torch.from_numpy(rng.normal(0, 2, (30, 3))).requires_grad_(True)
    wells = Wells.around(rng.integers(0, 30, (60, 2)), rng.uniform(1.0, 2.0, 60), 0.05, 1000)
    movable = np.zeros(30, dtype=bool)
    movable[:6] = True
    kept = wells.touching(movable)
    assert 0 < len(kept.index) < len(wells.index)
    assert movable[kept.index.numpy()].any(1).all()

    (full,) = torch.autograd.grad(wells.energy(distances(y, wells.index)), y)
    (part,) = torch.autograd.grad(kept.energy(distances(y, kept.index)), y)
    assert torch.allclose(full[:6], part[:6], rtol=1e-12, atol=1e-12)
