"""Martini side-chain beads as input points of a residue environment, so the network sees where
residue i's side chain points.

Each sample of `residue_environments` (points relative to bead i; features: residue type,
chain position, frame flag last) gets residue i's own side-chain beads SC1..SC5 as extra points,
relative to its BB bead like every other point, so they turn with the input (rotation-covariant).
Each carries residue i's features (its type, chain offset 0) and a one-hot of which bead it is
(SC1..SC5), in MAX_SIDECHAIN_BEADS columns inserted before the frame flag (which stays last,
as `BackmappingTask` reads it). A residue without side-chain beads (glycine, or beads missing
from the input) simply has fewer points; batches pad and mask them like any point cloud.
"""

from __future__ import annotations

import numpy as np
import torch

from gaan.tasks.protein.environments import NUM_ENVIRONMENT_FEATURES
from gaan.tasks.protein.martini_sidechains import MAX_SIDECHAIN_BEADS

NUM_SIDECHAIN_FEATURES = NUM_ENVIRONMENT_FEATURES + MAX_SIDECHAIN_BEADS


def environment_feature_count(sidechain_beads: bool) -> int:
    """Features per input point of a backmapping network with or without side-chain bead points."""
    return NUM_SIDECHAIN_FEATURES if sidechain_beads else NUM_ENVIRONMENT_FEATURES


def add_sidechain_points(samples: list[dict], sidechain_beads: np.ndarray, bead_positions: np.ndarray) -> list[dict]:
    """The samples with residue i's finite side-chain beads (`sidechain_beads` (R, MAX_SIDECHAIN_BEADS, 3),
    `martini_sidechains`) appended as points relative to its bead (`bead_positions` (R, 3)), and
    the bead one-hot columns inserted before the frame flag; changed in place and returned."""
    bead_positions = np.asarray(bead_positions, dtype=np.float64)
    for sample in samples:
        r = sample["residue_index"]
        features = sample["features"].numpy()
        widened = np.concatenate([features[:, :-1], np.zeros((len(features), MAX_SIDECHAIN_BEADS), np.float32), features[:, -1:]], axis=1)
        slots = np.flatnonzero(np.isfinite(sidechain_beads[r]).all(1))
        points = np.zeros((len(slots), NUM_SIDECHAIN_FEATURES), np.float32)
        points[:] = widened[0]  # residue i's own features (type, chain offset 0; no frame flag)
        points[np.arange(len(slots)), NUM_ENVIRONMENT_FEATURES - 1 + slots] = 1.0
        offsets = (sidechain_beads[r, slots] - bead_positions[r]).astype(np.float32)
        sample["positions"] = torch.cat([sample["positions"], torch.from_numpy(offsets)])
        sample["features"] = torch.from_numpy(np.concatenate([widened, points]))
    return samples


def sidechain_point_mask(features: torch.Tensor) -> torch.Tensor:
    """(..., N) True at the side-chain bead points (their bead one-hot is set)."""
    return features[..., NUM_ENVIRONMENT_FEATURES - 1 : NUM_ENVIRONMENT_FEATURES - 1 + MAX_SIDECHAIN_BEADS].sum(-1) > 0.5


def drop_sidechain_points(batch, fraction: float, generator: torch.Generator | None = None):
    """The batch with every side-chain point of a random `fraction` of its samples masked out, as if
    the input lacked that residue's side-chain beads (bench/martini_hidden_sidechains.py scores
    checkpoints so; training with it, a fifth hidden, made both cases worse: docs/protein-data.md)."""
    if fraction <= 0:
        return batch
    dropped = torch.rand(batch.mask.shape[0], generator=generator).to(batch.mask.device) < fraction
    keep = batch.mask & ~(dropped[:, None] & sidechain_point_mask(batch.features))
    # zeroed like padding, so a dropped point is exactly an absent one
    batch.positions = batch.positions * keep.unsqueeze(-1).to(batch.positions.dtype)
    batch.features = batch.features * keep.unsqueeze(-1).to(batch.features.dtype)
    batch.mask = keep
    return batch
