"""LightningModules for the task kinds; each combines any backbone with the task's head.

The shared pieces (task kinds, callbacks, run records, figure helpers) are modules here; everything
specific to one task lives in its package `gaan.tasks.<name>`, named after `conf/task/<name>.yaml`
(README, "Adding a task")."""

from gaan.tasks.base import NonFiniteLossError, PointCloudTask
from gaan.tasks.kinds import (
    ClassificationTask,
    LabeledVectorTask,
    ScalarRegressionTask,
    VectorRegressionTask,
)

__all__ = [
    "ClassificationTask",
    "LabeledVectorTask",
    "NonFiniteLossError",
    "PointCloudTask",
    "ScalarRegressionTask",
    "VectorRegressionTask",
]
