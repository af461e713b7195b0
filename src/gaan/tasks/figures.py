"""Figures for the loggers: wandb/tensorboard get images, every run gets PNG files.

Figures are built as `matplotlib.figure.Figure` objects, not through pyplot: no global figure
state, nothing to close, and importing gaan never changes the user's matplotlib backend (a
notebook keeps showing its own plots). Such a figure renders itself to PNG on `savefig`, and
Jupyter displays it with `display(fig)`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def confusion_figure(predicted: np.ndarray, target: np.ndarray, num_classes: int, class_names=None) -> Figure:
    """The test confusion matrix, with the count in every cell.

    :param predicted: predicted class per sample
    :param target: true class per sample
    :param num_classes: number of classes (rows and columns)
    :param class_names: tick labels, or None for the class indices
    """
    matrix = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(matrix, (target, predicted), 1)
    size = 3.5 if class_names is None else max(3.5, 0.6 * num_classes + 1.5)
    fig = Figure(figsize=(size, size))
    ax = fig.add_subplot()
    if class_names is not None:
        ax.set_xticks(range(num_classes), class_names, rotation=90)
        ax.set_yticks(range(num_classes), class_names)
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("test confusion matrix")
    fig.tight_layout()
    return fig


def parity_figure(predicted: np.ndarray, target: np.ndarray, title: str = "test parity") -> Figure:
    """Prediction against target for every value (flattened), with the diagonal.

    :param predicted: predicted values, any shape
    :param target: target values, the same number of entries
    :param title: the panel's title
    """
    predicted, target = predicted.reshape(-1), target.reshape(-1)
    fig = Figure(figsize=(3.5, 3.5))
    ax = fig.add_subplot()
    ax.scatter(target, predicted, s=4, alpha=0.5)
    lo, hi = float(min(target.min(), predicted.min())), float(max(target.max(), predicted.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel("target")
    ax.set_ylabel("prediction")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def log_figure(trainer, key: str, fig: Figure) -> None:
    """Send `fig` to every logger that shows images; always also save a PNG in the run dir.

    :param trainer: the Lightning trainer (its loggers and `default_root_dir`)
    :param key: the image's name in the loggers; the file is `figures/<key with / as _>.png`
    :param fig: the figure
    """
    from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

    step = trainer.global_step
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            import wandb

            logger.experiment.log({key: wandb.Image(fig), "trainer/global_step": step})
        elif isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure(key, fig, global_step=step)
    root = Path(trainer.default_root_dir) / "figures"
    root.mkdir(parents=True, exist_ok=True)
    fig.savefig(root / f"{key.replace('/', '_')}.png", dpi=100)
