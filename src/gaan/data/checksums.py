"""The checksum every data cache of the project stores beside its arrays."""

from __future__ import annotations

import hashlib

import numpy as np


def array_checksum(array: np.ndarray) -> str:
    """sha256 over dtype, shape and the C-ordered bytes of ``array``."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256()
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()
