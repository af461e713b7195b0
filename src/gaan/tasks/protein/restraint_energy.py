"""The restraint energy of the refinement (`gaan.tasks.protein.refinement`) as few tensor operations.

Every restraint is a well on a distance, an angle or a signed volume: zero between a lower and an
upper bound, weight x (distance past the bound)^2 beyond. Bonds, flat groups' distances, bond
angles and flat groups' volumes have their ideal value +- the tolerance as bounds; chiral volumes
and the trans peptides' 1-4 distances their ideal value as both bounds (plain harmonic terms);
van der Waals overlaps the clash distance below and none above. All distances are one gather and
all volumes another, so an evaluation costs a few dozen tensor operations whatever the number of
restraint kinds: on a protein of a few thousand atoms the operations' overhead, not their size, is
what a minimisation step costs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch


@dataclass(frozen=True)
class Wells:
    """Restraints of one kind of value: atom indices, bounds and weights (float64)."""

    index: torch.Tensor  # (n, k): 2 atoms for a distance, 3 for an angle (outer, centre, outer), 4 for a volume
    lower: torch.Tensor  # (n,)
    upper: torch.Tensor  # (n,)
    weight: torch.Tensor  # (n,)

    @classmethod
    def around(cls, index: np.ndarray, ideal: np.ndarray, tolerance: float, weight: float) -> Wells:
        """Wells of `ideal` +- `tolerance` with one weight."""
        ideal = np.asarray(ideal, dtype=np.float64)
        return cls.between(index, ideal - tolerance, ideal + tolerance, np.full(len(ideal), float(weight)))

    @classmethod
    def between(cls, index: np.ndarray, lower: np.ndarray, upper: np.ndarray, weight: np.ndarray) -> Wells:
        as_tensor = lambda values: torch.as_tensor(np.asarray(values, dtype=np.float64))  # noqa: E731
        return cls(torch.as_tensor(np.asarray(index, dtype=np.int64)), as_tensor(lower), as_tensor(upper), as_tensor(weight))

    def __add__(self, other: Wells) -> Wells:
        return Wells(*(torch.cat([a, b]) for a, b in zip(self.fields(), other.fields())))

    def touching(self, movable: np.ndarray) -> Wells:
        """The wells with at least one atom in `movable` (N,) bool: the others are constant."""
        keep = torch.from_numpy(np.asarray(movable, dtype=bool))[self.index].any(1) if len(self.index) else torch.zeros(0, dtype=torch.bool)
        return Wells(*(field[keep] for field in self.fields()))

    def fields(self) -> tuple[torch.Tensor, ...]:
        return self.index, self.lower, self.upper, self.weight

    def energy(self, values: torch.Tensor) -> torch.Tensor:
        """The summed energy of the wells at `values` (n,)."""
        return (self.weight * (torch.relu(self.lower - values) ** 2 + torch.relu(values - self.upper) ** 2)).sum()


def gather(y: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(n, k, 3) the positions of the atoms `index` (n, k). index_select, not y[index]: its
    backward adds into one buffer (index_add), several times faster than advanced indexing's."""
    return torch.index_select(y, 0, index.reshape(-1)).view(*index.shape, 3)


def distances(y: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    # smooth at zero: atoms predicted on top of each other still get a finite push apart
    ends = gather(y, pairs)
    return (((ends[:, 0] - ends[:, 1]) ** 2).sum(-1) + 1e-12).sqrt()


def angles_degrees(y: torch.Tensor, triples: torch.Tensor) -> torch.Tensor:
    points = gather(y, triples)
    u, v = points[:, 0] - points[:, 1], points[:, 2] - points[:, 1]
    across = (torch.linalg.cross(u, v) ** 2).sum(-1).add(1e-12).sqrt()  # smooth at 0 and 180 degrees
    return torch.rad2deg(torch.atan2(across, (u * v).sum(-1)))


def signed_volumes(y: torch.Tensor, quads: torch.Tensor) -> torch.Tensor:
    points = gather(y, quads)
    edges = points[:, 1:] - points[:, :1]
    return (edges[:, 0] * torch.linalg.cross(edges[:, 1], edges[:, 2])).sum(-1)


@dataclass(frozen=True)
class RestraintEnergy:
    """Tether plus wells: distances (clash pairs are added per round), angles and volumes."""

    anchor: torch.Tensor  # (N, 3) the starting positions the tether pulls towards
    tether: torch.Tensor  # (N, 1) per atom, per A^2
    distance_wells: Wells
    angle_wells: Wells
    volume_wells: Wells

    def with_clashes(self, pairs: np.ndarray, lower: np.ndarray, weight: float) -> RestraintEnergy:
        """This energy plus van der Waals wells: `pairs` (P, 2) pushed apart below `lower` (P,)."""
        clashes = Wells.between(pairs, lower, np.full(len(pairs), np.inf), np.full(len(pairs), float(weight)))
        return replace(self, distance_wells=self.distance_wells + clashes)

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        """The energy of positions `y` (N, 3)."""
        total = (self.tether * (y - self.anchor) ** 2).sum()
        for wells, measure in ((self.distance_wells, distances), (self.angle_wells, angles_degrees), (self.volume_wells, signed_volumes)):
            if len(wells.index):
                total = total + wells.energy(measure(y, wells.index))
        return total
