"""Reading checkpoints written by train.py, with errors that name the file and what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml

ARCHITECTURE_KEYS = ("model", "task.head")  # the stored config entries that fix the weights' shapes


def load_checkpoint(path: str | Path) -> dict:
    """A Lightning checkpoint as a dict; a truncated file, a non-torch file or a bare state dict
    is named."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # truncated or not a torch file: say which one
        raise ValueError(f"ckpt_path={path}: not a readable checkpoint ({type(error).__name__}: {error})") from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"ckpt_path={path}: no 'state_dict' in it; pass a Lightning checkpoint written by train.py")
    return checkpoint


def stored_entry(stored: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        stored = (stored or {}).get(part)
    return stored


def architecture_differences(stored: dict, current: dict) -> list[str]:
    """`model.width: 16 in the checkpoint, 32 now` for every architecture key that differs
    between a checkpoint's stored config (`gaan_config`) and the current run's resolved one."""
    differences = []
    for entry in ARCHITECTURE_KEYS:
        old, new = stored_entry(stored, entry) or {}, stored_entry(current, entry) or {}
        for key in sorted(set(old) | set(new)):
            if (key in old) != (key in new) and (old.get(key) in (None, False) and new.get(key) in (None, False)):
                continue  # an option added or removed since, off on the side that has it: same function
            if old.get(key) != new.get(key):
                differences.append(f"{entry}.{key}: {old.get(key)!r} in the checkpoint, {new.get(key)!r} now")
    return differences


def run_overrides(ckpt_path: str | Path) -> list[str] | None:
    """The command-line overrides of the run that wrote `<run>/checkpoints/<file>.ckpt`."""
    overrides = Path(ckpt_path).resolve().parents[1] / ".hydra" / "overrides.yaml"
    if not overrides.is_file():
        return None
    return yaml.safe_load(overrides.read_text()) or []
