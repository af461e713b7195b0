"""Figures of a backmapping run: RMSD and chi1 accuracy per residue type, and one residue
environment in 3-D (beads, true atoms, predicted atoms).

Built as `matplotlib.figure.Figure` objects (no pyplot state, any backend) and logged with
`gaan.tasks.figures.log_figure` (a PNG under `<run dir>/figures/` and the image loggers); the 3-D
view also goes to wandb as an interactive `Object3D` when a WandbLogger is active.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from gaan.tasks.figures import log_figure

# RGB 0-255, as wandb's Object3D point clouds take them
BEAD_COLOUR = (128, 128, 128)
TRUE_ATOM_COLOUR = (0, 170, 0)
PREDICTED_ATOM_COLOUR = (220, 30, 30)
RMSD_PARTS = (("all", "all heavy"), ("backbone", "backbone"), ("side_chain", "side chain"))


def _seen(residues: Sequence[str], *series: np.ndarray) -> tuple[list[str], list[int]]:
    """The residue names (and their positions) with a finite value in any of `series`."""
    finite = np.any([np.isfinite(np.asarray(s, dtype=float)) for s in series], axis=0)
    positions = [i for i, keep in enumerate(finite) if keep]
    return [residues[i] for i in positions], positions


def rmsd_per_residue_figure(residues: Sequence[str], rmsd: Mapping[str, np.ndarray], title: str = "test RMSD per residue type") -> Figure:
    """Grouped bars of the heavy-atom RMSD per residue type: all atoms, backbone, side chain.

    :param residues: residue names, one per entry of each series.
    :param rmsd: "all", "backbone", "side_chain" -> RMSD per residue (Angstrom; NaN: none seen,
        a residue type without a side chain, GLY, has no side-chain bar).
    :param title: the axes title.
    """
    names, positions = _seen(residues, *(rmsd[part] for part, _ in RMSD_PARTS))
    fig = Figure(figsize=(max(4.0, 0.45 * len(names) + 1.5), 3.2))
    ax = fig.add_subplot()
    x = np.arange(len(names))
    width = 0.8 / len(RMSD_PARTS)
    for n, (part, label) in enumerate(RMSD_PARTS):
        values = np.asarray(rmsd[part], dtype=float)[positions]
        ax.bar(x + (n - 1) * width, np.nan_to_num(values, nan=0.0), width, label=label)
    ax.set_xticks(x, names, rotation=90)
    ax.set_ylabel("RMSD (A)")
    ax.set_title(title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def chi1_per_residue_figure(
    residues: Sequence[str], accuracy: np.ndarray, title: str = "test chi1 within 40 deg per residue type"
) -> Figure:
    """Bars of the fraction of residues whose chi1 is within 40 degrees, per residue type.

    :param residues: residue names, one per entry of `accuracy`.
    :param accuracy: fraction per residue (NaN: none seen, or no chi1 as for GLY and ALA).
    :param title: the axes title.
    """
    names, positions = _seen(residues, accuracy)
    fig = Figure(figsize=(max(4.0, 0.35 * len(names) + 1.5), 3.2))
    ax = fig.add_subplot()
    ax.bar(np.arange(len(names)), np.asarray(accuracy, dtype=float)[positions], color="tab:purple")
    ax.set_xticks(np.arange(len(names)), names, rotation=90)
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("chi1 within 40 deg")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def environment_points(beads: np.ndarray, true_atoms: np.ndarray, predicted_atoms: np.ndarray) -> np.ndarray:
    """One residue environment as a coloured point cloud, the array wandb's `Object3D` takes.

    :param beads: (K, 3) bead positions.
    :param true_atoms: (L, 3) the residue's true atoms.
    :param predicted_atoms: (L, 3) its predicted atoms.
    :return: (K + 2 L, 6) rows x, y, z, r, g, b (colours 0-255): beads grey, true atoms green,
        predicted atoms red.
    """
    parts = []
    for points, colour in ((beads, BEAD_COLOUR), (true_atoms, TRUE_ATOM_COLOUR), (predicted_atoms, PREDICTED_ATOM_COLOUR)):
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        parts.append(np.concatenate([points, np.broadcast_to(np.asarray(colour, dtype=np.float64), points.shape)], axis=1))
    return np.concatenate(parts)


def environment_figure(points: np.ndarray, title: str = "test residue environment") -> Figure:
    """A 3-D scatter of `environment_points` (the PNG twin of the wandb view).

    :param points: (N, 6) rows x, y, z, r, g, b.
    :param title: the axes title.
    """
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.add_subplot(projection="3d")
    legend = {BEAD_COLOUR: "beads", TRUE_ATOM_COLOUR: "true atoms", PREDICTED_ATOM_COLOUR: "predicted atoms"}
    for colour, label in legend.items():
        chosen = np.all(points[:, 3:] == colour, axis=1)
        size = 40 if colour == BEAD_COLOUR else 18
        ax.scatter(*points[chosen, :3].T, s=size, color=np.asarray(colour) / 255.0, label=label, depthshade=False)
    # equal scales on the three axes, so bond lengths and angles look as they are
    low, high = points[:, :3].min(0), points[:, :3].max(0)
    centre, half = (low + high) / 2, max(float((high - low).max()) / 2, 1.0)
    ax.set(xlim=(centre[0] - half, centre[0] + half), ylim=(centre[1] - half, centre[1] + half), zlim=(centre[2] - half, centre[2] + half))
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("x (A)")
    ax.set_ylabel("y (A)")
    ax.set_zlabel("z (A)")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left")
    return fig


def log_environment_view(trainer, key: str, points: np.ndarray) -> None:
    """Log a residue environment: a PNG 3-D scatter through `log_figure` (every run has it), and
    the interactive point cloud `<key>_3d` to wandb when a WandbLogger is active.

    :param trainer: the Lightning trainer of the run.
    :param key: the figure's key, e.g. "test/environment".
    :param points: (N, 6) from `environment_points`.
    """
    from lightning.pytorch.loggers import WandbLogger

    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            import wandb

            logger.experiment.log({f"{key}_3d": wandb.Object3D(points), "trainer/global_step": trainer.global_step})
    log_figure(trainer, key, environment_figure(points))


__all__ = [
    "chi1_per_residue_figure",
    "environment_figure",
    "environment_points",
    "log_environment_view",
    "rmsd_per_residue_figure",
]
