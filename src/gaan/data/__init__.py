"""Data pieces every task shares: the batch type, the base datamodule, checksums, progress logs and
augmentation. Each task's own data module and file formats live in its package, `gaan.tasks.<name>`.

Every name is imported from its module on first use (PEP 562): importing one submodule, such as
the `gaan-backmap` command line, does not import Lightning with it.
"""

from __future__ import annotations

from gaan.lazy_exports import lazy_exports

# name -> the module that defines it; imported on first use (PEP 562)
_EXPORTS = {
    "CacheError": "gaan.data.checksums",
    "CorruptCacheWarning": "gaan.data.corrupt_files",
    "MissingDataError": "gaan.data.base",
    "PointCloudBatch": "gaan.data.batch",
    "PointCloudDataModule": "gaan.data.base",
    "ProgressLog": "gaan.data.progress",
    "ResumableDataLoader": "gaan.data.base",
    "ResumableShardedSampler": "gaan.data.base",
    "array_checksum": "gaan.data.checksums",
    "collate_point_clouds": "gaan.data.batch",
    "move_aside_corrupt": "gaan.data.corrupt_files",
    "random_rotations": "gaan.data.geometry",
    "require_path": "gaan.data.base",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
