"""Reading a checkpoint file written by train.py: torch only, so a tool that predicts (gaan-backmap)
reads it without importing Hydra or Lightning; `gaan.checkpoints` builds modules from what it holds.
Class paths stored under a module's old name are rewritten to today's on reading, once for every
reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def load_checkpoint(path: str | Path, named: str | None = None) -> dict:
    """A Lightning checkpoint as a dict; a truncated file, a non-torch file or a bare state dict
    is named (`named`: how the caller's user gave the path, default `ckpt_path=<path>`)."""
    named = named or f"ckpt_path={path}"
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # truncated or not a torch file: say which one
        raise ValueError(f"{named}: not a readable checkpoint ({type(error).__name__}: {error})") from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{named}: no 'state_dict' in it; pass a Lightning checkpoint written by train.py")
    if isinstance(checkpoint.get("gaan_config"), dict):
        checkpoint["gaan_config"] = migrate_class_paths(checkpoint["gaan_config"])
    return checkpoint


# Modules that moved since checkpoints were written (old dotted path -> new): a stored config's
# `_target_` under an old path is rewritten before it is built. Checkpoints pickle no gaan
# objects (only tensors and plain containers), so the class paths in `gaan_config` are all.
MOVED_MODULES = {
    "gaan.tasks.backmapping": "gaan.tasks.protein.backmapping",
    "gaan.data.protein": "gaan.tasks.protein",
    "gaan.tasks.EnergyForceTask": "gaan.tasks.md17.energy_forces.EnergyForceTask",
    "gaan.tasks.energy_forces": "gaan.tasks.md17.energy_forces",
    "gaan.data.md17": "gaan.tasks.md17.datamodule",
    "gaan.data.qm9": "gaan.tasks.qm9.datamodule",
    "gaan.tasks.molecular_property": "gaan.tasks.qm9.molecular_property",
    "gaan.data.nbody": "gaan.tasks.nbody.datamodule",
    "gaan.data.crystal": "gaan.tasks.crystal.datamodule",
    "gaan.data.SyntheticCubicDataModule": "gaan.tasks.synthetic_cubic.datamodule.SyntheticCubicDataModule",
}


def current_class_path(target: str) -> str:
    """`target` (a dotted class path) under today's module names."""
    for old, new in MOVED_MODULES.items():
        if target == old or target.startswith(old + "."):
            return new + target[len(old) :]
    return target


def migrate_class_paths(stored: Any) -> Any:
    """A copy of a stored config with every `_target_` under today's module names."""
    if isinstance(stored, dict):
        return {
            key: current_class_path(value) if key == "_target_" and isinstance(value, str) else migrate_class_paths(value)
            for key, value in stored.items()
        }
    if isinstance(stored, list):
        return [migrate_class_paths(value) for value in stored]
    return stored
