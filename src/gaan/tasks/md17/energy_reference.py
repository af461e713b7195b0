"""What an energy model stores besides its weights, fitted once on the training frames: the
per-element reference energies (by least squares over the frames' compositions), the mean
energy left after them and the energy scale (the RMS training force component). The task
(`EnergyForceTask`) keeps them as buffers, so a checkpoint predicts absolute energies whatever
file it is later evaluated on."""

from __future__ import annotations

import numpy as np

from gaan.elements import MAX_ATOMIC_NUMBER


def fit_element_reference(counts: np.ndarray, energies: np.ndarray) -> np.ndarray:
    """Per-element energies e minimising |counts @ e - energies|^2 (minimum norm when the
    compositions do not determine them, e.g. one molecule: then counts @ e is the mean energy).

    counts: (frames, elements) how many atoms of each element a frame has; energies (frames,).
    """
    counts = np.asarray(counts, dtype=np.float64)
    energies = np.asarray(energies, dtype=np.float64)
    reference, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return reference


def fit_energy_reference(numbers: np.ndarray, atomic_numbers: tuple[int, ...], energies: np.ndarray, forces: np.ndarray) -> dict:
    """From training frames of one molecule (`numbers` (n,), energies (frames,) eV, forces
    (frames, n, 3) eV/A): `element_energies` (MAX_ATOMIC_NUMBER + 1,) keyed by atomic number,
    zero for elements outside `atomic_numbers`; `energy_mean`, the mean energy left after them;
    `energy_scale`, the RMS force component (1 when there are no forces)."""
    numbers = np.asarray(numbers).reshape(-1)
    energies = np.asarray(energies, dtype=np.float64).reshape(-1)
    if not len(energies):
        raise ValueError("fitting the reference energies needs at least one training frame")
    composition = np.array([[np.sum(numbers == z) for z in atomic_numbers]], dtype=np.float64)
    reference = fit_element_reference(np.repeat(composition, len(energies), 0), energies)
    element_energies = np.zeros(MAX_ATOMIC_NUMBER + 1)
    element_energies[list(atomic_numbers)] = reference
    rms_force = float(np.sqrt(np.mean(np.asarray(forces, dtype=np.float64) ** 2))) if np.size(forces) else 0.0
    return {
        "element_energies": element_energies,
        "energy_mean": float(np.mean(energies - composition[0] @ reference)),
        "energy_scale": rms_force if rms_force > 0 else 1.0,
    }
