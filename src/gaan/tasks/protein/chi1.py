"""Chi1 (the N-CA-CB-gamma dihedral, the gamma atom per residue type from `CHI1_GAMMA_ATOM`):
the dihedral and the difference on the circle, written once, and chi1 of labeled-site batches.

The backmapping task scores chi1 on each sample's predicted and true atoms (one residue per
sample, its atoms as labeled vectors), the same criterion as the whole-structure metric of
`metrics.chi1_sums` (within `CHI1_TOLERANCE_DEGREES`). The four atoms are found by their label
ids, so the order of the labels in a sample does not matter.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from gaan.tasks.protein.residues import ATOM_LABELS

# the gamma atom of chi1 = N-CA-CB-gamma (GLY and ALA have no chi1)
CHI1_GAMMA_ATOM: dict[str, str] = {
    **{name: "CG" for name in ("ARG", "ASN", "ASP", "GLN", "GLU", "HIS", "LEU", "LYS", "MET", "PHE", "PRO", "TRP", "TYR")},
    "CYS": "SG",
    "SER": "OG",
    "THR": "OG1",
    "VAL": "CG1",
    "ILE": "CG1",
}
CHI1_TOLERANCE_DEGREES = 40.0

CHI1_ATOMS = ("N", "CA", "CB", "gamma")


def dihedral_degrees(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray) -> np.ndarray:
    """Dihedral angles p0-p1-p2-p3 in degrees, (..., 3) arrays -> (...)."""
    points = (torch.as_tensor(np.asarray(p, dtype=np.float64)) for p in (p0, p1, p2, p3))
    return dihedral_degrees_tensor(*points).numpy()


def dihedral_degrees_tensor(p0: Tensor, p1: Tensor, p2: Tensor, p3: Tensor) -> Tensor:
    """`dihedral_degrees` on tensors (any device), the one formula both use; coincident atoms
    give NaN, which every tolerance test counts as wrong."""
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1 = b1 / b1.norm(dim=-1, keepdim=True)
    v = b0 - (b0 * b1).sum(-1, keepdim=True) * b1
    w = b2 - (b2 * b1).sum(-1, keepdim=True) * b1
    x = (v * w).sum(-1)
    y = (torch.linalg.cross(b1, v) * w).sum(-1)
    return torch.rad2deg(torch.atan2(y, x))


def wrap_degrees(angle: np.ndarray | Tensor) -> np.ndarray | Tensor:
    """An angle (degrees) in [-180, 180): numpy arrays (or numbers) or tensors alike."""
    return (angle + 180.0) % 360.0 - 180.0


def angle_difference_degrees(a: np.ndarray | Tensor, b: np.ndarray | Tensor) -> np.ndarray | Tensor:
    """|a - b| on the circle, in [0, 180]: numpy arrays (or numbers) or tensors alike."""
    if not isinstance(a, Tensor):
        a, b = np.asarray(a), np.asarray(b)
    return abs(wrap_degrees(a - b))


def _chi1_roles() -> np.ndarray:
    """Per label id, the position of its atom in `CHI1_ATOMS` (-1: not a chi1 atom, and every
    atom of GLY and ALA, which have no chi1)."""
    roles = np.full(len(ATOM_LABELS), -1, dtype=np.int64)
    for label, (residue, atom) in enumerate(ATOM_LABELS):
        gamma = CHI1_GAMMA_ATOM.get(residue)
        if gamma is not None:
            named = ("N", "CA", "CB", gamma)
            roles[label] = named.index(atom) if atom in named else -1
    return roles


LABEL_CHI1_ROLE = _chi1_roles()


def chi1_atoms(vectors: Tensor, labels: Tensor, label_mask: Tensor, roles: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The N, CA, CB and gamma atoms of each sample.

    :param vectors: (B, L, 3) atom positions (any common origin), one per label.
    :param labels: (B, L) label ids.
    :param label_mask: (B, L) True for real labels.
    :param roles: `LABEL_CHI1_ROLE` as a tensor on the batch's device (built when omitted).
    :return: (B, 4, 3) the four atoms in `CHI1_ATOMS` order (zero where missing) and (B,) True
        for the samples that have each of the four exactly once (a residue with a chi1).
    """
    if roles is None:
        roles = torch.as_tensor(LABEL_CHI1_ROLE, device=labels.device)
    role = torch.where(label_mask, roles[labels], -1)
    one_hot = (role.unsqueeze(-1) == torch.arange(len(CHI1_ATOMS), device=labels.device)).to(vectors.dtype)  # (B, L, 4)
    atoms = torch.einsum("blr,blx->brx", one_hot, vectors)
    has_chi1 = (one_hot.sum(1) == 1).all(-1)
    return atoms, has_chi1


def chi1_within_tolerance(
    predicted: Tensor, target: Tensor, labels: Tensor, label_mask: Tensor, roles: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Whether each sample's predicted chi1 is within `CHI1_TOLERANCE_DEGREES` of its target's.

    :param predicted: (B, L, 3) predicted atoms.
    :param target: (B, L, 3) true atoms, in the same frame.
    :param labels: (B, L) label ids.
    :param label_mask: (B, L) True for real labels.
    :param roles: `LABEL_CHI1_ROLE` as a tensor on the batch's device (built when omitted).
    :return: (B,) correct (False where the prediction's dihedral is undefined) and (B,) True for
        the samples whose residue has a chi1 (only those count).
    """
    predicted_atoms, has_chi1 = chi1_atoms(predicted, labels, label_mask, roles)
    target_atoms, _ = chi1_atoms(target, labels, label_mask, roles)
    predicted_angle = dihedral_degrees_tensor(*predicted_atoms.unbind(1))
    target_angle = dihedral_degrees_tensor(*target_atoms.unbind(1))
    return angle_difference_degrees(predicted_angle, target_angle) <= CHI1_TOLERANCE_DEGREES, has_chi1


__all__ = ["CHI1_ATOMS", "LABEL_CHI1_ROLE", "chi1_atoms", "chi1_within_tolerance"]
