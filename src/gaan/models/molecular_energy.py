"""A molecule's absolute energy from a trained backbone and head, with everything that turns
the network's O(1) output into eV stored as buffers (so checkpoints and exported files carry it):

    E = sum over atoms of element_energies[Z] + energy_mean + energy_scale * head(backbone(...))

`atomic_numbers` are the elements the model was trained on, in the order of the one-hot input
columns; `element_energies` is the per-element reference keyed by atomic number (an "atomref",
as TorchMD-Net's Atomref prior or NequIP's per-species shift), fitted once on the training
frames (`gaan.tasks.md17.energy_reference`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gaan.elements import MAX_ATOMIC_NUMBER


def reference_energy(features: Tensor, mask: Tensor, atomic_numbers: Tensor, element_energies: Tensor) -> Tensor:
    """(B,) float64 sum of the per-element reference energies of each cloud's real atoms, from
    one-hot features over `atomic_numbers`."""
    counts = (features.double() * mask.unsqueeze(-1).double()).sum(1)
    return counts @ element_energies.double()[atomic_numbers]


def absolute_energy(
    network: Tensor,
    features: Tensor,
    mask: Tensor,
    atomic_numbers: Tensor,
    element_energies: Tensor,
    energy_mean: Tensor,
    energy_scale: Tensor,
) -> Tensor:
    """(B,) float64 eV: the network's O(1) output (B,) scaled and shifted, plus the per-element
    reference of each cloud's atoms."""
    relative = network * energy_scale.to(network.dtype) + energy_mean.to(network.dtype)
    return relative.to(torch.float64) + reference_energy(features, mask, atomic_numbers, element_energies)


class MolecularEnergy(nn.Module):
    """Absolute energy (B,) of padded molecules: positions (B, N, 3), one-hot features (B, N, E)
    over `atomic_numbers`, mask (B, N). A plain module (no training machinery): what the ASE
    calculator runs and `gaan.export` exports."""

    def __init__(self, backbone: nn.Module, head: nn.Module, atomic_numbers: Tensor, element_energies: Tensor, energy_mean, energy_scale):
        super().__init__()
        self.backbone, self.head = backbone, head
        self.register_buffer("atomic_numbers", torch.as_tensor(atomic_numbers, dtype=torch.long).clone())
        self.register_buffer("element_energies", torch.as_tensor(element_energies, dtype=torch.float64).clone())
        self.register_buffer("energy_mean", torch.as_tensor(energy_mean).clone().reshape(()))
        self.register_buffer("energy_scale", torch.as_tensor(energy_scale).clone().reshape(()))
        if self.element_energies.shape != (MAX_ATOMIC_NUMBER + 1,):
            raise ValueError(
                f"element_energies must have {MAX_ATOMIC_NUMBER + 1} entries (one per atomic number), "
                f"got {tuple(self.element_energies.shape)}"
            )

    def forward(self, positions: Tensor, features: Tensor, mask: Tensor) -> Tensor:
        network = self.head(self.backbone(positions, features, mask))
        return absolute_energy(network, features, mask, self.atomic_numbers, self.element_energies, self.energy_mean, self.energy_scale)
