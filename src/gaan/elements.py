"""Elements by atomic number: a model's per-atom input features are the one-hot of each atom's
element over the atomic numbers the model was trained on (stored with it), never over the
order in which a data file happens to list its elements."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase.data import chemical_symbols

MAX_ATOMIC_NUMBER = 118


class UnknownElementError(ValueError):
    """An atom of an element the model was never trained on; the message names it."""


def element_names(atomic_numbers: Sequence[int]) -> str:
    """'H, C, O' for (1, 6, 8)."""
    return ", ".join(chemical_symbols[int(z)] if 0 < int(z) <= MAX_ATOMIC_NUMBER else f"Z={int(z)}" for z in atomic_numbers)


def element_one_hot(numbers: Sequence[int], atomic_numbers: Sequence[int], where: str = "") -> np.ndarray:
    """(n, len(atomic_numbers)) float32 one-hot rows of each atom's element; an element outside
    `atomic_numbers` is an `UnknownElementError` naming it (and `where`, e.g. the file)."""
    lookup = {int(z): i for i, z in enumerate(atomic_numbers)}
    numbers = [int(z) for z in np.asarray(numbers).reshape(-1)]
    unknown = sorted(set(numbers) - set(lookup))
    if unknown:
        prefix = f"{where}: " if where else ""
        raise UnknownElementError(
            f"{prefix}element {element_names(unknown)} (atomic number {', '.join(map(str, unknown))}) is not one the model "
            f"was trained on ({element_names(atomic_numbers)})"
        )
    out = np.zeros((len(numbers), len(lookup)), dtype=np.float32)
    out[np.arange(len(numbers)), [lookup[z] for z in numbers]] = 1.0
    return out
