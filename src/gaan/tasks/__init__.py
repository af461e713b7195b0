"""LightningModules for the task kinds; each combines any backbone with the task's head.

Every name is imported from its module on first use (PEP 562): importing one submodule, such as
the `gaan-backmap` command line, does not import Lightning and every task with it.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module that defines it; imported on first use (PEP 562)
_EXPORTS = {
    "ClassificationTask": "gaan.tasks.kinds",
    "EnergyForceTask": "gaan.tasks.energy_forces",
    "LabeledVectorTask": "gaan.tasks.kinds",
    "NonFiniteLossError": "gaan.tasks.base",
    "PointCloudTask": "gaan.tasks.base",
    "ScalarRegressionTask": "gaan.tasks.kinds",
    "VectorRegressionTask": "gaan.tasks.kinds",
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
