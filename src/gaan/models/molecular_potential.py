"""Energies and forces of molecules from trained energy models, one or an ensemble: the core the
ASE calculator (`gaan.ase.GAANCalculator`), the NVE check and file evaluation share.

A member is any module that maps (positions (B, N, 3), one-hot features (B, N, E), mask (B, N))
to absolute energies (B,) and has an `atomic_numbers` buffer naming its feature columns
(`gaan.models.molecular_energy.MolecularEnergy`, or an exported one). Features are built for
each member from the atoms' atomic numbers; forces are -dE/dx by autograd. With several members
the prediction is their mean, and the spread is returned as an uncertainty.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from gaan.elements import element_one_hot


class MolecularPotential:
    """`predict(numbers, positions)` -> energy (frames,) eV, forces (frames, n, 3) eV/A, and for
    an ensemble `energy_std` (frames,) and `forces_std` (frames, n): the members' spread of each
    atom's force (root of the summed variances of its three components).

    :param members: energy modules (copied: casting them leaves the originals untouched)
    :param dtype: torch.float64 (default) or torch.float32
    :param device: where the members run ("cpu", "cuda", ...)
    """

    def __init__(self, members: Sequence[nn.Module], dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu"):
        if not members:
            raise ValueError("a potential needs at least one energy model")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.dtype, self.device = dtype, torch.device(device)
        self.members = [self._copy(member) for member in members]
        self.member_elements = [tuple(int(z) for z in member.atomic_numbers.tolist()) for member in self.members]

    def _copy(self, member: nn.Module) -> nn.Module:
        copied = copy.deepcopy(member)
        reference = getattr(copied, "element_energies", None)
        copied = copied.to(device=self.device, dtype=self.dtype).eval().requires_grad_(False)
        if isinstance(reference, torch.Tensor):
            # O(1000) eV per molecule: the reference stays float64 in a float32 model
            copied.element_energies = reference.to(device=self.device, dtype=torch.float64)
        return copied

    @property
    def elements(self) -> tuple[int, ...]:
        """Atomic numbers every member was trained on."""
        common = set(self.member_elements[0]).intersection(*self.member_elements[1:])
        return tuple(sorted(common))

    def predict(self, numbers: Sequence[int], positions, where: str = "", batch_size: int = 64) -> dict[str, np.ndarray]:
        """numbers (n,), positions (n, 3) or (frames, n, 3) in A; `where` names the input in errors."""
        positions = np.asarray(positions, dtype=np.float64)
        single = positions.ndim == 2
        frames = positions[None] if single else positions
        energies, forces = [], []
        for member, elements in zip(self.members, self.member_elements, strict=True):
            features = torch.from_numpy(element_one_hot(numbers, elements, where)).to(self.device, self.dtype)
            member_energies, member_forces = [], []
            for start in range(0, len(frames), batch_size):
                chunk = torch.as_tensor(frames[start : start + batch_size], dtype=self.dtype, device=self.device).requires_grad_(True)
                mask = torch.ones(chunk.shape[:2], dtype=torch.bool, device=self.device)
                with torch.enable_grad():
                    energy = member(chunk, features.expand(len(chunk), -1, -1), mask)
                    (gradient,) = torch.autograd.grad(energy.sum(), chunk)
                member_energies.append(energy.detach().double().cpu().numpy())
                member_forces.append(-gradient.detach().double().cpu().numpy())
            energies.append(np.concatenate(member_energies))
            forces.append(np.concatenate(member_forces))
        energies, forces = np.stack(energies), np.stack(forces)  # (members, frames, ...)
        out = {"energy": energies.mean(0), "forces": forces.mean(0)}
        if len(self.members) > 1:
            out["energy_std"] = energies.std(0)
            out["forces_std"] = np.sqrt(forces.var(0).sum(-1))
        return {key: value[0] for key, value in out.items()} if single else out
