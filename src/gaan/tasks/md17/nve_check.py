"""Is a trained energy model usable for dynamics? A constant-energy (NVE) run with its forces.

`nve_energy_drift` runs ase's velocity Verlet from a given frame with an ASE calculator and
reports how far the total energy drifts: a model's (`float64_calculator`: the core of
`gaan.ase.GAANCalculator` on a float64 copy, so the drift measures the model, not float32
rounding), or the reference method's (bench/md17_reference_drift.py), so a model's drift can be
read against the integrator's error on the true surface. A conservative, smooth model keeps the
total energy constant up to the integrator's O(dt^2) oscillation; a rough one heats or explodes.
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation
from ase.md.verlet import VelocityVerlet

from gaan.models.molecular_potential import MolecularPotential
from gaan.models.potential_calculator import PotentialCalculator


class NVEBlowUp(RuntimeError):
    """The NVE run's total energy became non-finite: the forces drove the atoms apart."""

    def __init__(self, step: int, energy: float):
        super().__init__(f"NVE run: the total energy became {energy} at step {step}; the forces blew up")
        self.step = step


def float64_calculator(energy_model: torch.nn.Module) -> PotentialCalculator:
    """The ASE calculator of `energy_model` (a `gaan.models.molecular_energy.MolecularEnergy`, e.g.
    `EnergyForceTask.molecular_energy()`) on a float64 copy, so a drift measures the model, not
    float32 rounding."""
    return PotentialCalculator(MolecularPotential([energy_model], dtype=torch.float64))


def nve_energy_drift(
    calculator: Calculator,
    numbers: np.ndarray,
    positions: np.ndarray,
    *,
    steps: int,
    timestep_fs: float,
    temperature_K: float,
    seed: int = 0,
) -> dict:
    """Velocity-Verlet run of `steps` x `timestep_fs` with the forces of an ASE `calculator` (a
    model's: `float64_calculator`) from `positions` (velocities drawn at `temperature_K`, no net
    momentum or rotation).

    Returns the total energy per step (eV), its drift (slope of a least-squares line, in meV
    per atom per ps), the largest deviation from the start (meV per atom) and the final
    temperature. A non-finite energy raises `NVEBlowUp` (the run exploded).
    """
    atoms = Atoms(numbers=np.asarray(numbers), positions=np.asarray(positions, dtype=np.float64))
    atoms.calc = calculator
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=np.random.RandomState(seed))
    Stationary(atoms)
    ZeroRotation(atoms)
    dynamics = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    totals = [atoms.get_total_energy()]
    for step in range(steps):
        dynamics.run(1)
        totals.append(atoms.get_total_energy())
        if not np.isfinite(totals[-1]):
            raise NVEBlowUp(step + 1, totals[-1])
    totals = np.array(totals)
    times_ps = np.arange(len(totals)) * timestep_fs / 1000.0
    slope = np.polyfit(times_ps, totals, 1)[0] if steps else 0.0
    n = len(atoms)
    return {
        "total_energy_ev": totals,
        "drift_mev_per_atom_per_ps": float(slope * 1000.0 / n),
        "max_deviation_mev_per_atom": float(np.abs(totals - totals[0]).max() * 1000.0 / n),
        "final_temperature_K": float(atoms.get_temperature()),
    }
