"""Chemically equivalent atoms (ASP OD1/OD2, GLU OE1/OE2, ARG NH1/NH2, the PHE/TYR ring flip
CD1/CD2 + CE1/CE2): the assignment of a residue's atoms to the reference's that scores best.

`best_assignment` (numpy, whole structures) for the backmapping metrics and
`best_assignment_targets` (torch, labeled-site batches) for the task's loss and RMSD.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from gaan.tasks.protein.residues import EQUIVALENT_ATOM_PAIRS


def swap_partner_index(residue_names: Sequence[str], atom_names: Sequence[str], residue_index: np.ndarray) -> np.ndarray:
    """For each atom, the index of the atom it trades places with when its residue's equivalent
    atoms are swapped (itself for every other atom, and for pairs missing a partner)."""
    residue_names = np.asarray(residue_names)
    atom_names = np.asarray(atom_names)
    residue_index = np.asarray(residue_index)
    partner = np.arange(len(atom_names))
    lookup: dict[tuple[int, str], int] = {}
    candidates = np.flatnonzero(np.isin(residue_names, list(EQUIVALENT_ATOM_PAIRS)))
    for i in candidates:
        lookup[(int(residue_index[i]), str(atom_names[i]))] = int(i)
    for i in candidates:
        for a, b in EQUIVALENT_ATOM_PAIRS[str(residue_names[i])]:
            other = {a: b, b: a}.get(str(atom_names[i]))
            if other is not None:
                partner[i] = lookup.get((int(residue_index[i]), other), i)
    return partner


def best_assignment(predicted: np.ndarray, reference: np.ndarray, partner: np.ndarray, residue_index: np.ndarray) -> np.ndarray:
    """`reference` (n, 3) with each residue's equivalent atoms swapped where that lowers the
    residue's summed squared error to `predicted`."""
    swapped = reference[partner]
    straight_error = np.square(predicted - reference).sum(-1)
    swapped_error = np.square(predicted - swapped).sum(-1)
    _, residue = np.unique(residue_index, return_inverse=True)
    gain = np.bincount(residue, weights=straight_error - swapped_error)
    return np.where((gain[residue] > 0)[:, None], swapped, reference)


def best_assignment_targets(predicted: Tensor, target: Tensor, partner: Tensor, mask: Tensor | None = None) -> Tensor:
    """Torch version for labeled-site batches (one residue per sample): `target` (B, L, 3)
    reordered by `partner` (B, L; long indices into L, the label's swap partner or itself)
    in the samples where that lowers the summed squared error over real labels (`mask`)."""
    swapped = torch.gather(target, 1, partner.unsqueeze(-1).expand_as(target))
    straight_error = (predicted - target).square().sum(-1)
    swapped_error = (predicted - swapped).square().sum(-1)
    if mask is not None:
        straight_error = straight_error * mask
        swapped_error = swapped_error * mask
    better = swapped_error.sum(-1) < straight_error.sum(-1)
    return torch.where(better[:, None, None], swapped, target)
