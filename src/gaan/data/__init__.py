"""Data: the shared batch type, the base datamodule and the task datasets."""

from gaan.data.base import (
    MissingDataError,
    PointCloudDataModule,
    ResumableDataLoader,
    ResumableShardedSampler,
    require_path,
)
from gaan.data.batch import PointCloudBatch, collate_point_clouds
from gaan.data.checksums import array_checksum
from gaan.data.corrupt_files import CorruptCacheWarning, move_aside_corrupt
from gaan.data.geometry import random_rotations
from gaan.data.nbody_cache import NBodyCacheError
from gaan.data.progress import ProgressLog
from gaan.data.synthetic import SyntheticCubicDataModule

__all__ = [
    "CorruptCacheWarning",
    "MissingDataError",
    "NBodyCacheError",
    "PointCloudBatch",
    "PointCloudDataModule",
    "ProgressLog",
    "ResumableDataLoader",
    "ResumableShardedSampler",
    "SyntheticCubicDataModule",
    "array_checksum",
    "collate_point_clouds",
    "move_aside_corrupt",
    "random_rotations",
    "require_path",
]
