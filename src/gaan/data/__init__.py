"""Data: the shared batch type, the base datamodule and the task datasets.

Every name is imported from its module on first use (PEP 562): importing one submodule, such as
the `gaan-backmap` command line, does not import Lightning and every task with it.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module that defines it; imported on first use (PEP 562)
_EXPORTS = {
    "CorruptCacheWarning": "gaan.data.corrupt_files",
    "MissingDataError": "gaan.data.base",
    "NBodyCacheError": "gaan.data.nbody_cache",
    "PointCloudBatch": "gaan.data.batch",
    "PointCloudDataModule": "gaan.data.base",
    "ProgressLog": "gaan.data.progress",
    "ResumableDataLoader": "gaan.data.base",
    "ResumableShardedSampler": "gaan.data.base",
    "SyntheticCubicDataModule": "gaan.data.synthetic",
    "array_checksum": "gaan.data.checksums",
    "collate_point_clouds": "gaan.data.batch",
    "move_aside_corrupt": "gaan.data.corrupt_files",
    "random_rotations": "gaan.data.geometry",
    "require_path": "gaan.data.base",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
