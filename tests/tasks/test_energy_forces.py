"""EnergyForceTask with the md17 preset's backbone: forces are -dE/dx and rotate with the
molecule; energies are invariant to rotations, translations and permutations of same-element
atoms; the loss falls; the NVE check runs; metrics and the parity figure."""

import functools

import numpy as np
import pytest
import torch
from geometry_helpers import random_orthogonal
from md17_potentials import ETHANOL_NUMBERS, ETHANOL_POSITIONS

from gaan.data import collate_point_clouds
from gaan.models import GAAttentionBackbone, ScalarHead
from gaan.models.pair_inputs import RadialBasis
from gaan.models.views import Neighbourhoods
from gaan.tasks.md17.energy_forces import EnergyForceTask, energy_force_metrics, energy_force_parity_figure, update_energy_force_metrics
from gaan.tasks.md17.nve_check import NVEBlowUp, float64_calculator, nve_energy_drift

pytestmark = pytest.mark.usefixtures("float64_default_dtype")

# ethanol: C C O H H H H H H, one-hot over (H, C, O)
NUMBERS, ETHANOL = ETHANOL_NUMBERS, ETHANOL_POSITIONS
FEATURES = torch.tensor(np.eye(3)[[{1: 0, 6: 1, 8: 2}[z] for z in NUMBERS]])


def make_task(**kwargs):
    torch.manual_seed(0)
    backbone = functools.partial(GAAttentionBackbone, width=16, depth=2, view=Neighbourhoods(k=5), pair_inputs=[RadialBasis(8, 2.5)])
    return EnergyForceTask(
        backbone=backbone,
        head=ScalarHead,
        in_features=3,
        optimizer=functools.partial(torch.optim.Adam, lr=3e-3),
        energy_scale=0.7,
        energy_mean=0.1,
        **kwargs,
    )


def fitted(task, seed=0):
    """The task with its elements (H, C, O) and reference energies fitted on toy frames."""
    batch = molecules(8, seed=seed)
    task.fit_energy_reference((1, 6, 8), NUMBERS, batch.targets["energy"].numpy(), batch.targets["forces"].numpy())
    return task


def molecules(count, seed=0, positions=ETHANOL):
    """Thermal-like distortions of ethanol; targets from a toy bond-stretch energy
    sum 10 (|r_ij| - |r0_ij|)^2 over the pairs closer than 1.6 A (invariant, like a real one)."""
    rng = np.random.default_rng(seed)
    reference = torch.tensor(positions)
    bonds = [(i, j) for i in range(len(positions)) for j in range(i) if (reference[i] - reference[j]).norm() < 1.6]
    samples = []
    for _ in range(count):
        x = torch.tensor(positions + rng.normal(scale=0.05, size=positions.shape)).requires_grad_(True)
        energy = sum(10.0 * ((x[i] - x[j]).norm() - (reference[i] - reference[j]).norm()) ** 2 for i, j in bonds)
        (grad,) = torch.autograd.grad(energy, x)
        samples.append({"positions": x.detach(), "features": FEATURES.clone(), "targets": {"energy": energy.detach(), "forces": -grad}})
    return collate_point_clouds(samples, per_point_targets=("forces",))


def test_forces_are_minus_the_energy_gradient():
    task = make_task().eval()
    batch = molecules(2)
    forces = task.predict_batch(batch)["forces"]
    eps = 1e-6
    for atom, axis in [(0, 0), (2, 1), (7, 2)]:
        plus, minus = batch.positions.clone(), batch.positions.clone()
        plus[1, atom, axis] += eps
        minus[1, atom, axis] -= eps
        batch.positions = plus
        e_plus = task.predict_batch(batch)["energy"][1]
        batch.positions = minus
        e_minus = task.predict_batch(batch)["energy"][1]
        torch.testing.assert_close(forces[1, atom, axis], -(e_plus - e_minus) / (2 * eps), atol=1e-7, rtol=1e-6)
    assert forces.abs().max() > 1e-3


def test_energy_invariant_and_forces_covariant_under_rotation_translation_and_permutation():
    task = make_task().eval()
    batch = molecules(3, seed=1)
    reference = task.predict_batch(batch)
    generator = torch.Generator().manual_seed(2)
    for _ in range(3):
        rotation = random_orthogonal(3, generator)
        shift = torch.randn(1, 1, 3, generator=generator) * 5
        moved = molecules(3, seed=1)
        moved.positions = batch.positions @ rotation.T + shift
        out = task.predict_batch(moved)
        torch.testing.assert_close(out["energy"], reference["energy"], atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(out["forces"], reference["forces"] @ rotation.T, atol=1e-10, rtol=1e-10)
    # swap two hydrogens (atoms 3 and 7) and the carbons' order is kept: same energy, swapped forces
    order = [0, 1, 2, 7, 4, 5, 6, 3, 8]
    permuted = molecules(3, seed=1)
    permuted.positions = batch.positions[:, order]
    permuted.features = batch.features[:, order]
    out = task.predict_batch(permuted)
    torch.testing.assert_close(out["energy"], reference["energy"], atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(out["forces"], reference["forces"][:, order], atol=1e-10, rtol=1e-10)
    # a different element at a position changes the energy (the features are used)
    swapped = molecules(3, seed=1)
    swapped.features = batch.features[:, [2, 1, 0, 3, 4, 5, 6, 7, 8]]
    assert (task.predict_batch(swapped)["energy"] - reference["energy"]).abs().max() > 1e-4


def training_losses(task, batch, steps=80):
    """The task's loss at each of `steps` optimizer steps on one batch."""
    optimizer = task.configure_optimizers()
    losses = []
    for _ in range(steps):
        loss = task.compute_loss(task.predict_batch(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_loss_falls_and_uses_both_weights():
    task = make_task(energy_weight=1.0, force_weight=10.0)
    batch = molecules(8, seed=3)
    losses = training_losses(task, batch)
    assert min(losses[-5:]) < 0.5 * losses[0]
    predictions = task.predict_batch(batch)
    energy_only = make_task(energy_weight=1.0, force_weight=0.0).compute_loss(predictions, batch)
    forces_only = make_task(energy_weight=0.0, force_weight=1.0).compute_loss(predictions, batch)
    torch.testing.assert_close(task.compute_loss(predictions, batch), energy_only + 10.0 * forces_only)


def test_metrics_are_in_milli_units_and_ignore_padding():
    batch = molecules(2)
    batch.mask[1, -2:] = False  # two padded atoms in the second molecule
    forces = batch.targets["forces"].clone()
    forces[batch.mask] += 0.002  # every real component off by 2 meV/A
    forces[~batch.mask] = 100.0  # padding must not count
    metrics = energy_force_metrics()
    update_energy_force_metrics(metrics, {"energy": batch.targets["energy"] + 0.003, "forces": forces}, batch)
    values = {k: float(v) for k, v in metrics.compute().items()}
    assert values["energy_mae"] == pytest.approx(3.0) and values["force_mae"] == pytest.approx(2.0)
    assert 0.9 < values["force_cosine"] <= 1.0
    figure = energy_force_parity_figure(np.array([0.1, 0.2]), np.array([0.1, 0.25]), (np.ones(6), np.ones(6) * 1.1))
    assert len(figure.axes) == 2


def test_nve_check_runs_a_tiny_model_and_reports_drift():
    task = make_task().eval()
    result = nve_energy_drift(
        float64_calculator(fitted(task).molecular_energy()), NUMBERS, ETHANOL, steps=40, timestep_fs=0.25, temperature_K=300.0
    )
    assert len(result["total_energy_ev"]) == 41 and np.isfinite(result["total_energy_ev"]).all()
    assert np.isfinite(result["drift_mev_per_atom_per_ps"]) and result["final_temperature_K"] > 0
    # velocity Verlet with conservative forces keeps the total energy: deviations far below the
    # kinetic energy (9 atoms at 300 K: ~0.35 eV)
    assert result["max_deviation_mev_per_atom"] < 5.0
    assert not task.training  # the run used a copy; the module is untouched


class BreaksAfterFiveCalls(torch.nn.Module):
    """An energy model whose energies stop being numbers after five calls, as in a run that flew apart."""

    def __init__(self, energy_model):
        super().__init__()
        self.energy_model = energy_model
        self.register_buffer("atomic_numbers", energy_model.atomic_numbers.clone())
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, positions, features, mask):
        self.calls += 1
        energy = self.energy_model(positions, features, mask)
        return energy * float("nan") if self.calls > 5 else energy


def test_an_exploding_nve_run_raises_a_named_error_with_its_step():
    task = fitted(make_task().eval())
    with pytest.raises(NVEBlowUp, match="at step") as raised:
        nve_energy_drift(
            float64_calculator(BreaksAfterFiveCalls(task.molecular_energy())),
            NUMBERS,
            ETHANOL,
            steps=40,
            timestep_fs=0.25,
            temperature_K=300.0,
        )
    assert 1 <= raised.value.step <= 6


def test_invalid_weights_are_named():
    with pytest.raises(ValueError, match="task.module.force_weight must be >= 0"):
        make_task(force_weight=-1.0)
    with pytest.raises(ValueError, match="both 0"):
        make_task(energy_weight=0.0, force_weight=0.0)
