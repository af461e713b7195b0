"""LightningModules for the task kinds; each combines any backbone with the task's head."""
from gaan.tasks.base import NonFiniteLossError, PointCloudTask
from gaan.tasks.kinds import (
    ClassificationTask,
    EnergyForceTask,
    LabeledVectorTask,
    ScalarRegressionTask,
    VectorRegressionTask,
)

__all__ = [
    "ClassificationTask",
    "EnergyForceTask",
    "LabeledVectorTask",
    "NonFiniteLossError",
    "PointCloudTask",
    "ScalarRegressionTask",
    "VectorRegressionTask",
]
