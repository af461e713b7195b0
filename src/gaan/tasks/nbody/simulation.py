"""Charged-particle N-body data ("nbody_small" of EGNN / SEGNN / CGENN), regenerated offline.

The recipe follows ``ChargedParticlesSim`` / ``generate_dataset.py`` of the EGNN repository
(itself derived from the NRI simulator):

* one legacy ``numpy.random.RandomState(43)`` stream; per simulation, in this order:
  charges (``choice([-1, 0, 1], p=[1/2, 0, 1/2])``), positions ``randn(3, n)``, velocities
  ``randn(3, n)`` rescaled to norm 0.5, then two ``randn(frames, 3, n)`` observation-noise draws
  that are multiplied by zero (drawn anyway, so later simulations see the same stream);
* 10,000 train, then 2,000 valid, then 2,000 test simulations from that one stream;
* the initial state is reflected once at the box walls (+-5); no walls afterwards;
* force on i: ``sum_j q_i q_j (x_i - x_j) / |x_i - x_j|^3``, each component clipped to +-100;
* a velocity kick with the initial force, then per step: drift, (save), force, kick;
  dt = 0.001, 5,000 steps, a frame every 100 steps. The frame array has 49 slots: the initial
  state is written to slot 0 and overwritten by the first save (step 100), so frame k is the
  state after step 100 (k + 1) and the saved velocity is the one used for that step's drift.

The integration is vectorised across simulations; the floating-point operations are ordered
as in the original (squared distances as ``|a|^2 + |b|^2 - 2 a.b``, ``power(., 1.5)``,
sequential sums over neighbours), so a per-simulation loop written like the original gives
the same numbers up to the rounding of the BLAS dot product (see ``simulate_charged_particles``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from gaan.data.progress import ProgressLog
from gaan.tasks.nbody.forces import clipped_forces, pair_indices

__all__ = [
    "NBODY_SPLITS",
    "NBodySmallRecipe",
    "draw_charged_initial_conditions",
    "generate_nbody_small",
    "simulate_charged_particles",
]

log = logging.getLogger(__name__)

NBODY_SPLITS = ("train", "valid", "test")
_CHARGE_TYPES = np.array([-1.0, 0.0, 1.0])


@dataclass(frozen=True)
class NBodySmallRecipe:
    """Parameters of the published "nbody_small" recipe (defaults = the published values)."""

    num_particles: int = 5
    box_size: float = 5.0
    loc_std: float = 1.0
    vel_norm: float = 0.5
    interaction_strength: float = 1.0
    dt: float = 0.001
    # the original writes the clip as 0.1 / dt
    max_force: float = 0.1 / 0.001
    num_steps: int = 5000
    sample_freq: int = 100
    seed: int = 43
    num_train: int = 10000
    num_valid: int = 2000
    num_test: int = 2000

    @property
    def num_frames(self) -> int:
        return self.num_steps // self.sample_freq - 1

    def num_sims(self, split: str) -> int:
        _check_split(split)
        return {"train": self.num_train, "valid": self.num_valid, "test": self.num_test}[split]

    def digest(self) -> str:
        payload = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:12]


def _check_split(split: str) -> None:
    if split not in NBODY_SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {NBODY_SPLITS}")


# --------------------------------------------------------------------------------------------
# random initial conditions, drawn in the original order
# --------------------------------------------------------------------------------------------


def _reflect_at_walls(loc: np.ndarray, vel: np.ndarray, box_size: float) -> None:
    """In place: the original ``_clamp`` (one elastic reflection at +-box_size)."""
    if not (np.all(loc < 3 * box_size) and np.all(loc > -3 * box_size)):
        raise ValueError(f"initial position beyond 3 * box_size = {3 * box_size}")
    over = loc > box_size
    loc[over] = 2 * box_size - loc[over]
    vel[over] = -np.abs(vel[over])
    under = loc < -box_size
    loc[under] = -2 * box_size - loc[under]
    vel[under] = np.abs(vel[under])


def draw_charged_initial_conditions(
    rng: np.random.RandomState,
    num_sims: int,
    recipe: NBodySmallRecipe = NBodySmallRecipe(),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``num_sims`` simulations' initial conditions from ``rng`` in the original order.

    Consumes exactly what ``num_sims`` calls of the original ``sample_trajectory`` consume
    (including the zero-weighted observation-noise draws made after integration).

    Returns ``charges`` (S, n) float64 in {-1, +1}, ``loc`` (S, n, 3) and ``vel`` (S, n, 3)
    float64: the state after the initial wall reflection.
    """
    if not isinstance(rng, np.random.RandomState):
        raise TypeError("rng must be a legacy numpy.random.RandomState (the recipe's stream)")
    n = recipe.num_particles
    # the original scales loc_std with (n / 5)^(1/3); a no-op for 5 particles
    loc_std = recipe.loc_std * (float(n) / 5.0) ** (1 / 3)
    charge_prob = [1.0 / 2, 0, 1.0 / 2]
    charges = np.empty((num_sims, n))
    loc = np.empty((num_sims, 3, n))
    vel = np.empty((num_sims, 3, n))
    for s in range(num_sims):
        charges[s] = rng.choice(_CHARGE_TYPES, size=(n, 1), p=charge_prob)[:, 0]
        loc_s = rng.randn(3, n) * loc_std
        vel_s = rng.randn(3, n)
        v_norm = np.sqrt((vel_s**2).sum(axis=0)).reshape(1, -1)
        vel_s = vel_s * recipe.vel_norm / v_norm
        _reflect_at_walls(loc_s, vel_s, recipe.box_size)
        loc[s], vel[s] = loc_s, vel_s
        # observation noise for loc and vel (times noise_var = 0 in the recipe)
        rng.randn(recipe.num_frames, 3, n)
        rng.randn(recipe.num_frames, 3, n)
    return charges, loc.transpose(0, 2, 1).copy(), vel.transpose(0, 2, 1).copy()


# --------------------------------------------------------------------------------------------
# vectorised integration
# --------------------------------------------------------------------------------------------


def simulate_charged_particles(
    charges: np.ndarray,
    loc: np.ndarray,
    vel: np.ndarray,
    recipe: NBodySmallRecipe = NBodySmallRecipe(),
    *,
    chunk_size: int = 1024,
    num_threads: int = 1,
    return_clipped: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, ...]:
    """Integrate many simulations at once with the original's kick-drift scheme.

    Args:
        charges: (S, n) charges.
        loc, vel: (S, n, 3) initial state (already reflected at the walls).
        recipe: dt, steps, sample frequency, force clip and interaction strength.
        chunk_size: at most this many simulations are integrated together.
        num_threads: threads integrating chunks in parallel; the result does not depend on
            it. Helps on idle multi-core machines only (numpy's GIL-free loops are short).
        return_clipped: also return an (S,) bool array, True where any force component of
            the simulation exceeded the clip at some step.
        on_progress: called with the number of simulation steps just integrated (a chunk's
            simulations times ``sample_freq``, at every saved frame), from worker threads
            when ``num_threads > 1``; for progress reports.

    Returns:
        ``loc_frames``, ``vel_frames``: (S, F, n, 3) float64 with F = num_steps // sample_freq
        - 1 (49); frame k holds the state after step sample_freq * (k + 1). Plus ``clipped``
        when requested.

    Rounding: the original gets ``a.b`` from BLAS (``numpy.dot``), whose rounding depends on
    the BLAS build. Here it is a chain of (emulated) fused multiply-adds, which equals
    OpenBLAS on AVX2 machines bit for bit; with a BLAS that rounds otherwise, the per-step
    difference is ~1e-16 relative, and close encounters amplify it over 5,000 steps
    (measured on 40 simulations: up to ~4e-8 at frame 40, ~1e-6 at frame 48).
    """
    charges = np.asarray(charges, dtype=np.float64)
    loc = np.asarray(loc, dtype=np.float64)
    vel = np.asarray(vel, dtype=np.float64)
    if charges.ndim != 2 or loc.shape != charges.shape + (3,) or vel.shape != loc.shape:
        raise ValueError(f"expected charges (S, n) and loc, vel (S, n, 3); got charges {charges.shape}, loc {loc.shape}, vel {vel.shape}")
    if recipe.num_steps % recipe.sample_freq != 0:
        raise ValueError(f"num_steps ({recipe.num_steps}) must be a multiple of sample_freq ({recipe.sample_freq})")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if num_threads < 1:
        raise ValueError(f"num_threads must be positive, got {num_threads}")
    num_sims, n = charges.shape
    num_frames = recipe.num_frames
    loc_frames = np.empty((num_sims, num_frames, n, 3))
    vel_frames = np.empty((num_sims, num_frames, n, 3))
    clipped = np.zeros(num_sims, dtype=bool)
    pair_i, pair_j = pair_indices(n)
    dt, max_force, strength = recipe.dt, recipe.max_force, recipe.interaction_strength
    # nothing after the last saved step is observable
    last_step = num_frames * recipe.sample_freq

    def integrate(start: int, stop: int) -> None:
        # (3, n, S): the simulation axis innermost, so every operation is one long vector op
        x = np.ascontiguousarray(loc[start:stop].transpose(2, 1, 0))
        v = np.ascontiguousarray(vel[start:stop].transpose(2, 1, 0))
        q = charges[start:stop].T
        qq = q[pair_i] * q[pair_j]  # the original's "edges", per pair
        peak_all = np.zeros(stop - start)
        force, peak = clipped_forces(x, qq, pair_i, pair_j, strength, max_force)
        np.maximum(peak_all, peak, out=peak_all)
        v += dt * force
        frame = 0
        for step in range(1, last_step + 1):
            x += dt * v
            if step % recipe.sample_freq == 0:
                loc_frames[start:stop, frame] = x.transpose(2, 1, 0)
                vel_frames[start:stop, frame] = v.transpose(2, 1, 0)
                frame += 1
                if on_progress is not None:
                    on_progress((stop - start) * recipe.sample_freq)
                if frame == num_frames:
                    break
            force, peak = clipped_forces(x, qq, pair_i, pair_j, strength, max_force)
            np.maximum(peak_all, peak, out=peak_all)
            v += dt * force
        clipped[start:stop] = peak_all > max_force

    workers = max(1, min(num_threads, num_sims))
    # equal chunks, at most chunk_size each, their number a multiple of the thread count
    num_chunks = -(-max(-(-num_sims // chunk_size), workers) // workers) * workers
    size = max(1, -(-num_sims // num_chunks))
    bounds = [(a, min(a + size, num_sims)) for a in range(0, num_sims, size)]
    if workers == 1:
        for start, stop in bounds:
            integrate(start, stop)
    else:
        # numpy releases the GIL inside its loops; chunks write disjoint output slices
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(integrate, a, b) for a, b in bounds]
            for future in futures:
                future.result()
    if return_clipped:
        return loc_frames, vel_frames, clipped
    return loc_frames, vel_frames


# --------------------------------------------------------------------------------------------
# the dataset: generation (its cache is `cache`)
# --------------------------------------------------------------------------------------------


def generate_nbody_small(
    recipe: NBodySmallRecipe = NBodySmallRecipe(),
    num_train_used: int | None = 3000,
    *,
    num_valid_used: int | None = None,
    num_test_used: int | None = None,
    chunk_size: int = 1024,
    num_threads: int = 1,
) -> dict[str, dict[str, np.ndarray]]:
    """Generate the three splits from one seeded stream, in the order train, valid, test.

    All simulations' random draws are made (to keep the stream), but only the first
    ``num_*_used`` of each split are integrated (None: all). Returns
    ``{split: {"loc": (S, F, n, 3), "vel": (S, F, n, 3), "charges": (S, n)}}``, float64.
    """
    rng = np.random.RandomState(recipe.seed)
    used = {"train": num_train_used, "valid": num_valid_used, "test": num_test_used}
    kept = {}
    for split in NBODY_SPLITS:
        total = recipe.num_sims(split)
        kept[split] = total if used[split] is None else int(used[split])
        if not 0 <= kept[split] <= total:
            raise ValueError(f"num_{split}_used must be in [0, {total}], got {used[split]}")
    progress = ProgressLog(
        log,
        f"nbody_small: integrating {sum(kept.values())} simulations x {recipe.num_frames * recipe.sample_freq} steps",
        sum(kept.values()) * recipe.num_frames * recipe.sample_freq,
    )
    out: dict[str, dict[str, np.ndarray]] = {}
    for split in NBODY_SPLITS:
        keep = kept[split]
        charges, loc0, vel0 = draw_charged_initial_conditions(rng, recipe.num_sims(split), recipe)
        loc, vel = simulate_charged_particles(
            charges[:keep],
            loc0[:keep],
            vel0[:keep],
            recipe,
            chunk_size=chunk_size,
            num_threads=num_threads,
            on_progress=progress.advance,
        )
        out[split] = {"loc": loc, "vel": vel, "charges": charges[:keep]}
    return out
