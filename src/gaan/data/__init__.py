"""Data pieces every task shares: the batch type, the base datamodule, checksums, progress logs and
augmentation. Each task's own data module and file formats live in its package, `gaan.tasks.<name>`."""

from gaan.data.base import (
    MissingDataError,
    PointCloudDataModule,
    ResumableDataLoader,
    ResumableShardedSampler,
    require_path,
)
from gaan.data.batch import PointCloudBatch, collate_point_clouds
from gaan.data.checksums import CacheError, array_checksum
from gaan.data.corrupt_files import CorruptCacheWarning, move_aside_corrupt
from gaan.data.geometry import random_rotations
from gaan.data.progress import ProgressLog

__all__ = [
    "CacheError",
    "CorruptCacheWarning",
    "MissingDataError",
    "PointCloudBatch",
    "PointCloudDataModule",
    "ProgressLog",
    "ResumableDataLoader",
    "ResumableShardedSampler",
    "array_checksum",
    "collate_point_clouds",
    "move_aside_corrupt",
    "random_rotations",
    "require_path",
]
