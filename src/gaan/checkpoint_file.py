"""Reading a checkpoint file written by train.py: torch only, so a tool that predicts (gaan-backmap)
reads it without importing Hydra or Lightning; `gaan.checkpoints` builds modules from what it holds."""

from __future__ import annotations

from pathlib import Path

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
    return checkpoint
