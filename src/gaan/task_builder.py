"""A task module from a composed config: the task's LightningModule with the model config's
backbone and the task config's head. Shared by training (`gaan.train`) and by every way of
loading a trained model (`gaan.checkpoints.load_trained_module`)."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

STORED_CONFIG_KEYS = ("task", "model", "optimizer", "scheduler")  # saved in every checkpoint as gaan_config


def build_task_module(cfg: DictConfig, in_features: int) -> Any:
    """Task module with `in_features` input features per point; optimizer and scheduler come
    from the top-level config (building needs them, predicting never calls them)."""
    backbone = hydra.utils.instantiate(cfg.model, _partial_=True)
    head = hydra.utils.instantiate(cfg.task.head, _partial_=True)
    optimizer = hydra.utils.instantiate(cfg.optimizer, _partial_=True)
    scheduler = hydra.utils.instantiate(cfg.scheduler, _partial_=True) if cfg.get("scheduler") else None
    module = hydra.utils.instantiate(cfg.task.module, _partial_=True)(
        backbone=backbone,
        head=head,
        in_features=int(in_features),
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval=cfg.get("scheduler_interval", "epoch"),
        compile=cfg.get("compile", False),
    )
    # stored in every checkpoint, so a loader rebuilds the same architecture
    module.run_config = {
        key: OmegaConf.to_container(cfg[key], resolve=True) if cfg.get(key) is not None else None for key in STORED_CONFIG_KEYS
    }
    return module
