"""Data: the shared batch type, the base datamodule and the task datasets."""
from gaan.data.base import (
    MissingDataError,
    PointCloudDataModule,
    ResumableDataLoader,
    ResumableShardedSampler,
    require_path,
)
from gaan.data.batch import PointCloudBatch, collate_point_clouds
from gaan.data.synthetic import SyntheticCubicDataModule

__all__ = [
    "MissingDataError",
    "PointCloudBatch",
    "PointCloudDataModule",
    "ResumableDataLoader",
    "ResumableShardedSampler",
    "SyntheticCubicDataModule",
    "collate_point_clouds",
    "require_path",
]
