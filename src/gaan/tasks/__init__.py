"""LightningModules for the task kinds; each combines any backbone with the task's head.

The shared pieces (task kinds, callbacks, run records, figure helpers) are modules here; everything
specific to one task lives in its package `gaan.tasks.<name>`, named after `conf/task/<name>.yaml`
(README, "Adding a task"). Names are imported on first use (`gaan.lazy_exports`).
"""

from __future__ import annotations

from gaan.lazy_exports import lazy_exports

# name -> the module that defines it
_EXPORTS = {
    "ClassificationTask": "gaan.tasks.kinds",
    "LabeledVectorTask": "gaan.tasks.kinds",
    "NonFiniteLossError": "gaan.tasks.base",
    "PointCloudTask": "gaan.tasks.base",
    "ScalarRegressionTask": "gaan.tasks.kinds",
    "VectorRegressionTask": "gaan.tasks.kinds",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
