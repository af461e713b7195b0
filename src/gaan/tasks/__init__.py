"""LightningModules for the task kinds; each combines any backbone with the task's head."""

from gaan.tasks.base import NonFiniteLossError, PointCloudTask
from gaan.tasks.energy_forces import EnergyForceTask
from gaan.tasks.kinds import (
    ClassificationTask,
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
