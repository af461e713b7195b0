"""The backmapping network alone (backbone + head) from a checkpoint, without Lightning.

`gaan-backmap` predicts with `BackmapNetwork`: the trained task's backbone and head rebuilt from
the checkpoint's stored config (`gaan_config`) and loaded from its state dict, with the forward
pass of training (`backmap_vectors`, which `BackmappingTask.predict_batch` calls too). Building
the Lightning task module instead (`gaan.checkpoints.load_trained_module`) imports Lightning,
torchmetrics and every task: seconds of CPU time per call of a command-line tool. Here only
torch and the model classes named in the config are imported. Errors name the flag (`--ckpt`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from gaan.checkpoint_file import load_checkpoint
from gaan.models.config_migration import migrate_model_config
from gaan.tasks.protein.sidechain_points import environment_feature_count

TASK_NAME = "protein"
DEFAULT_LENGTH_SCALE = 5.0  # BackmappingTask's default (Angstrom)


class NetworkError(ValueError):
    """A checkpoint that gives no backmapping network; the message names the file (`--ckpt`)."""


def scaled_encoding(backbone: nn.Module, batch, length_scale: float):
    """The backbone's encoding of a batch of residue environments: positions are in bead i's
    frame already (not re-centred) and divided by `length_scale`."""
    mask = batch.mask
    positions = batch.positions / length_scale * mask.unsqueeze(-1).to(batch.positions.dtype)
    return backbone.encode(positions, batch.features, mask)


def backmap_vectors(backbone: nn.Module, head: nn.Module, batch, length_scale: float) -> Tensor:
    """(B, L, 3) predicted atom - bead vectors in Angstrom, zero on padded labels."""
    vectors = head(scaled_encoding(backbone, batch, length_scale), batch.labels, batch.label_mask) * length_scale
    return vectors * batch.label_mask.unsqueeze(-1).to(vectors.dtype)


class BackmapNetwork(nn.Module):
    """Backbone + head of a trained backmapping task, predicting like the task does."""

    def __init__(self, backbone: nn.Module, head: nn.Module, length_scale: float = DEFAULT_LENGTH_SCALE):
        super().__init__()
        self.backbone, self.head, self.length_scale = backbone, head, float(length_scale)

    def forward(self, batch) -> Tensor:
        return backmap_vectors(self.backbone, self.head, batch, self.length_scale)


def read_checkpoint(path: str | Path) -> dict:
    """A checkpoint written by train.py as a dict; unreadable files and other tasks are named."""
    try:
        checkpoint = load_checkpoint(path, named=f"--ckpt {path}")
    except ValueError as error:
        raise NetworkError(str(error)) from error
    stored = checkpoint.get("gaan_config") or {}
    task = (stored.get("task") or {}).get("name")
    if task != TASK_NAME:
        raise NetworkError(f"--ckpt {path}: not a protein backmapping checkpoint (trained on task={task}); train one with task=protein")
    return checkpoint


def _build(config: Any, path: Path) -> Any:
    """Nested `_target_` configs instantiated (as hydra does), plain values as they are."""
    if isinstance(config, list):
        return [_build(item, path) for item in config]
    if not isinstance(config, Mapping):
        return config
    kwargs = {key: _build(value, path) for key, value in config.items() if key != "_target_"}
    if "_target_" not in config:
        return kwargs
    return _target_class(config["_target_"], path)(**kwargs)


def _target_class(target: str, path: Path) -> type:
    module_name, _, name = str(target).rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as error:
        raise NetworkError(f"--ckpt {path}: its model class {target} does not exist in this version of gaan ({error})") from error


def _construct(config: Mapping, path: Path, **extra: Any) -> nn.Module:
    cls = _target_class(config["_target_"], path)
    kwargs = {key: _build(value, path) for key, value in config.items() if key != "_target_"}
    try:
        return cls(**kwargs, **extra)
    except TypeError as error:  # an option this version no longer has
        raise NetworkError(f"--ckpt {path}: cannot build {config['_target_']} with its stored options ({error})") from error


def load_network(path: str | Path, checkpoint: dict | None = None) -> BackmapNetwork:
    """The backmapping network of a protein checkpoint, in eval mode on the CPU."""
    path = Path(path)
    checkpoint = read_checkpoint(path) if checkpoint is None else checkpoint
    stored = checkpoint["gaan_config"]
    sidechain_beads = bool((stored["task"].get("datamodule") or {}).get("sidechain_beads", False))
    in_features = environment_feature_count(sidechain_beads)
    backbone = _construct(migrate_model_config(stored["model"]), path, in_features=in_features)
    head = _construct(stored["task"]["head"], path, width=backbone.width)
    length_scale = (stored["task"].get("module") or {}).get("length_scale", DEFAULT_LENGTH_SCALE)
    network = BackmapNetwork(backbone, head, length_scale)
    state = {key: value for key, value in checkpoint["state_dict"].items() if key.startswith(("backbone.", "head."))}
    try:
        missing, unexpected = network.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shapes differ
        raise NetworkError(f"--ckpt {path}: its weights do not fit the architecture it stores ({error})") from error
    if missing or unexpected:
        raise NetworkError(
            f"--ckpt {path}: its weights do not fit the architecture it stores "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
    return network.eval()
