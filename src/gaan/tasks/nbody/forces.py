"""Coulomb forces of the charged-particle simulation (`simulation`).

`clipped_forces` is the integrator's force: ``sum_j q_i q_j (x_i - x_j) / |x_i - x_j|^3``, each
component clipped, with the floating-point operations ordered and rounded as the original
simulator's numpy / BLAS code does them (Dekker's split and an emulated fused multiply-add), so
the chaotic trajectories match the published data set. `coulomb_forces` and `charged_energy` are
the plain formulas the tests check the trajectories against (energy conservation, F = -dE/dx).
"""

from __future__ import annotations

import numpy as np

__all__ = ["charged_energy", "clipped_forces", "coulomb_forces", "pair_indices"]


def pair_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(n, k=1)
    return i, j


_DEKKER_SPLIT = 134217729.0  # 2^27 + 1


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dekker's split: a = high + low exactly, each half fitting 26 bits."""
    scaled = _DEKKER_SPLIT * a
    high = scaled - (scaled - a)
    return high, a - high


def _fused_multiply_add(
    a: tuple[np.ndarray, np.ndarray, np.ndarray],
    b: tuple[np.ndarray, np.ndarray, np.ndarray],
    c: np.ndarray,
) -> np.ndarray:
    """``a * b + c`` with one rounding, emulated with error-free transformations.

    ``a`` and ``b`` come as (value, high, low) from :func:`_split`. numpy has no fma; BLAS
    kernels on current CPUs accumulate dot products with fused multiply-adds, and matching
    that rounding keeps the chaotic trajectories equal to the original's ``numpy.dot``.
    Correct except in (astronomically rare) double-rounding ties.
    """
    a_val, a_high, a_low = a
    b_val, b_high, b_low = b
    product = a_val * b_val
    product_err = ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low
    total = product + c
    virtual = total - product
    sum_err = (product - (total - virtual)) + (c - virtual)
    return total + (sum_err + product_err)


def clipped_forces(
    x: np.ndarray,
    charge_products: np.ndarray,
    pair_i: np.ndarray,
    pair_j: np.ndarray,
    interaction_strength: float,
    max_force: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Forces for positions ``x`` laid out (3, n, S); returns (clipped, unclipped max |F|)."""
    # squared norms summed left to right, as numpy 2.x reduces a short axis
    x_sq = x * x
    sq_norm = x_sq[0] + x_sq[1] + x_sq[2]  # (n, S)
    xi = x[:, pair_i]  # (3, P, S)
    xj = x[:, pair_j]
    # a.b rounded like a BLAS kernel with fused multiply-adds (see simulation.simulate_charged_particles)
    high, low = _split(x[1:])
    parts_i = (xi[1:], high[:, pair_i], low[:, pair_i])
    parts_j = (xj[1:], high[:, pair_j], low[:, pair_j])
    dot = xi[0] * xj[0]
    for d in range(2):
        dot = _fused_multiply_add(tuple(p[d] for p in parts_i), tuple(p[d] for p in parts_j), dot)
    # the original's |a|^2 + |b|^2 - 2 a.b, symmetric in i, j
    dist_sq = sq_norm[pair_i] + sq_norm[pair_j]
    dist_sq -= 2 * dot
    with np.errstate(invalid="ignore", divide="ignore"):
        size = (interaction_strength * charge_products) / np.power(dist_sq, 1.5)
    terms = size * (xi - xj)  # (3, P, S): force on i from j; the force on j from i is -terms
    n = x.shape[1]
    full = np.zeros((3, n, n) + x.shape[2:])
    full[:, pair_i, pair_j] = terms
    full[:, pair_j, pair_i] = -terms
    # summed over j left to right, as numpy 2.x sums the original's (3, n, n) array
    force = full[:, :, 0].copy()
    for j in range(1, n):
        force += full[:, :, j]
    peak = np.abs(force).max(axis=(0, 1))
    np.clip(force, -max_force, max_force, out=force)
    return force, peak


def coulomb_forces(loc: np.ndarray, charges: np.ndarray) -> np.ndarray:
    """Unclipped forces ``sum_j q_i q_j (x_i - x_j) / |x_i - x_j|^3``; loc (..., n, 3)."""
    diff = loc[..., :, None, :] - loc[..., None, :, :]
    dist = np.linalg.norm(diff, axis=-1)
    n = loc.shape[-2]
    eye = np.eye(n, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        size = charges[..., :, None] * charges[..., None, :] / dist**3
    size = np.where(eye, 0.0, size)
    return (size[..., None] * diff).sum(axis=-2)


def charged_energy(loc: np.ndarray, vel: np.ndarray, charges: np.ndarray) -> np.ndarray:
    """Total energy, unit masses: ``sum_i |v_i|^2 / 2 + sum_{i<j} q_i q_j / r_ij``.

    Like charges repel (positive potential), the sign the simulator's force implies.
    loc, vel: (..., n, 3); charges broadcastable to (..., n). Returns (...,).
    """
    kinetic = 0.5 * (vel**2).sum(axis=(-1, -2))
    n = loc.shape[-2]
    i, j = pair_indices(n)
    dist = np.linalg.norm(loc[..., i, :] - loc[..., j, :], axis=-1)
    charges = np.broadcast_to(charges, loc.shape[:-1])
    potential = (charges[..., i] * charges[..., j] / dist).sum(axis=-1)
    return kinetic + potential
