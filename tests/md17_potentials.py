"""A tiny trained md17 potential for the tests of the calculator, file evaluation and export:
toy ethanol frames (a bond-stretch energy on top of per-element energies of O(1000) eV, so a
wrong reference shows) written as extended XYZ, and a model trained on them by train.py
(task.datamodule.source=ase) for a few epochs in seconds."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

ETHANOL_NUMBERS = np.array([6, 6, 8, 1, 1, 1, 1, 1, 1])
ETHANOL_POSITIONS = np.array(
    [
        [-0.93, -0.08, 0.06],
        [0.55, 0.23, 0.03],
        [1.23, -0.99, 0.06],
        [-1.28, -0.42, -0.92],
        [-1.48, 0.83, 0.31],
        [-1.15, -0.85, 0.81],
        [0.85, 0.79, 0.92],
        [0.84, 0.82, -0.86],
        [2.18, -0.77, 0.04],
    ]
)
ELEMENT_ENERGIES = {1: -13.6, 6: -1029.0, 8: -2041.0}  # eV: absolute energies near -4200 eV, like DFT ethanol


def toy_frames(count: int, seed: int = 0, numbers=ETHANOL_NUMBERS) -> list[Atoms]:
    """Distorted ethanol with energy sum_i E(Z_i) + sum over bonds 5 (|r_ij| - |r0_ij|)^2 and its forces."""
    rng = np.random.default_rng(seed)
    reference = ETHANOL_POSITIONS
    bonds = [(i, j) for i in range(len(reference)) for j in range(i) if np.linalg.norm(reference[i] - reference[j]) < 1.6]
    frames = []
    for _ in range(count):
        x = reference + rng.normal(scale=0.05, size=reference.shape)
        energy = sum(ELEMENT_ENERGIES.get(int(z), -100.0) for z in numbers)
        forces = np.zeros_like(x)
        for i, j in bonds:
            d = x[i] - x[j]
            r, r0 = np.linalg.norm(d), np.linalg.norm(reference[i] - reference[j])
            energy += 5.0 * (r - r0) ** 2
            forces[i] -= 10.0 * (r - r0) * d / r
            forces[j] += 10.0 * (r - r0) * d / r
        atoms = Atoms(numbers=numbers, positions=x)
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        frames.append(atoms)
    return frames


def write_frames(path: Path, frames: list[Atoms]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ase.io.write(path, frames)
    return path


def train_tiny_potential(root: Path, seed: int = 0, epochs: int = 3) -> tuple[Path, dict, Path]:
    """(best checkpoint, the run's metrics, the training data file) of a tiny md17 model."""
    from gaan.train import compose_config, run

    data = write_frames(root / "toy_ethanol.extxyz", toy_frames(60, seed=0))
    overrides = [
        "task=md17",
        "task.datamodule.source=ase",
        f"task.datamodule.path={data}",
        "task.datamodule.num_train=30",
        "task.datamodule.num_val=10",
        "task.module.nve_steps=0",
        "model.width=8",
        "model.depth=1",
        f"trainer.max_epochs={epochs}",
        f"seed={seed}",
        "logger=csv",
        "callbacks.rich_progress_bar=null",
        "callbacks.model_summary=null",
        "trainer.enable_progress_bar=false",
        f"paths.output_dir={root}/out{seed}",
        f"paths.data_dir={root}/data",
        f"paths.log_dir={root}/logs",
    ]
    metrics = run(compose_config(overrides))
    best = next((root / f"out{seed}" / "checkpoints").glob("best-epoch*.ckpt"))
    return best, metrics, data
