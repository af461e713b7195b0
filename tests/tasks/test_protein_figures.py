"""Backmapping figures: the per-residue-type bar charts, the 3-D residue environment (the
point array wandb's Object3D takes, and its PNG twin), and a tiny protein run that leaves the
PNGs in its run folder."""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import wandb
from lightning.pytorch.loggers import WandbLogger
from protein_samples import structure_environments

from gaan.data import collate_point_clouds
from gaan.models import GAAttentionBackbone, LabeledVectorHead
from gaan.tasks.protein import NUM_ATOM_LABELS, NUM_ENVIRONMENT_FEATURES, STANDARD_RESIDUES
from gaan.tasks.protein.backmapping import BackmappingTask
from gaan.tasks.protein.figures import (
    BEAD_COLOUR,
    PREDICTED_ATOM_COLOUR,
    TRUE_ATOM_COLOUR,
    chi1_per_residue_figure,
    environment_figure,
    environment_points,
    log_environment_view,
    rmsd_per_residue_figure,
)
from gaan.train import compose_config, run

QUIET = ["callbacks.rich_progress_bar=null", "callbacks.model_summary=null", "trainer.enable_progress_bar=false"]


def rows_of(points: np.ndarray, colour) -> np.ndarray:
    return points[np.all(points[:, 3:] == colour, axis=1)]


def test_environment_points_colour_beads_true_and_predicted_atoms():
    rng = np.random.default_rng(0)
    beads, true_atoms = rng.normal(size=(7, 3)), rng.normal(size=(9, 3))
    predicted = true_atoms + 0.1
    points = environment_points(beads, true_atoms, predicted)
    assert points.shape == (7 + 2 * 9, 6) and np.isfinite(points).all()
    np.testing.assert_array_equal(rows_of(points, BEAD_COLOUR)[:, :3], beads)
    np.testing.assert_array_equal(rows_of(points, TRUE_ATOM_COLOUR)[:, :3], true_atoms)
    np.testing.assert_array_equal(rows_of(points, PREDICTED_ATOM_COLOUR)[:, :3], predicted)
    assert ((points[:, 3:] >= 0) & (points[:, 3:] <= 255)).all()


class RecordingWandbLogger(WandbLogger):
    """A WandbLogger whose experiment records what is logged (no wandb run)."""

    def __init__(self):
        self.logged: list[dict] = []

    @property
    def experiment(self):
        return SimpleNamespace(log=self.logged.append)


@pytest.mark.parametrize("with_wandb", [False, True])
def test_the_environment_view_is_a_png_and_an_object3d_only_under_wandb(tmp_path, with_wandb):
    points = environment_points(np.zeros((1, 3)), np.ones((4, 3)), np.full((4, 3), 2.0))
    loggers = [RecordingWandbLogger()] if with_wandb else []
    log_environment_view(SimpleNamespace(loggers=loggers, global_step=7, default_root_dir=str(tmp_path)), "test/environment", points)
    assert (tmp_path / "figures" / "test_environment.png").is_file()
    if with_wandb:
        views = [entry["test/environment_3d"] for entry in loggers[0].logged if "test/environment_3d" in entry]
        assert len(views) == 1 and isinstance(views[0], wandb.Object3D)


def test_the_task_keeps_the_largest_residue_of_a_batch_without_the_handedness_point():
    torch.manual_seed(0)
    task = BackmappingTask(
        backbone=functools.partial(GAAttentionBackbone, width=8, depth=1, attention={"rank": 2, "invariant_mode": "full"}),
        head=functools.partial(LabeledVectorHead, num_labels=NUM_ATOM_LABELS, rank=1),
        in_features=NUM_ENVIRONMENT_FEATURES,
        optimizer=functools.partial(torch.optim.AdamW, lr=1e-3),
    ).eval()
    samples = structure_environments("pdb1ejg.pdb", k=6)[:12]
    batch = collate_point_clouds(samples, per_label_targets=("atoms",))
    with torch.no_grad():
        predictions = task.predict_batch(batch)
    points = task.environment_example(predictions, batch)
    largest = max(samples, key=lambda s: len(s["labels"]))
    atoms = len(largest["labels"])
    assert points.shape == (6 + 2 * atoms, 6) and np.isfinite(points).all()
    beads = rows_of(points, BEAD_COLOUR)[:, :3]
    assert len(beads) == 6 and np.allclose(beads[0], 0.0)  # residue i's own bead is the origin
    np.testing.assert_allclose(rows_of(points, TRUE_ATOM_COLOUR)[:, :3], largest["targets"]["atoms"].numpy(), atol=1e-6)
    assert not np.allclose(rows_of(points, PREDICTED_ATOM_COLOUR)[:, :3], 0.0)
    figure = environment_figure(points)
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == ["beads", "true atoms", "predicted atoms"]


def test_per_residue_figures_show_the_residue_types_seen():
    rmsd = {part: np.full(len(STANDARD_RESIDUES), np.nan) for part in ("all", "backbone", "side_chain")}
    for name, value in (("GLY", 0.5), ("LEU", 1.5)):
        i = STANDARD_RESIDUES.index(name)
        rmsd["all"][i], rmsd["backbone"][i] = value, value / 2
    rmsd["side_chain"][STANDARD_RESIDUES.index("LEU")] = 2.0  # GLY has no side chain
    axes = rmsd_per_residue_figure(STANDARD_RESIDUES, rmsd).axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["GLY", "LEU"]
    heights = sorted(round(p.get_height(), 6) for p in axes.patches)
    assert heights == [0.0, 0.25, 0.5, 0.75, 1.5, 2.0]  # GLY's missing side-chain bar is empty
    accuracy = np.full(len(STANDARD_RESIDUES), np.nan)
    accuracy[STANDARD_RESIDUES.index("SER")] = 0.75
    axes = chi1_per_residue_figure(STANDARD_RESIDUES, accuracy).axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["SER"] and axes.patches[0].get_height() == pytest.approx(0.75)


def test_a_tiny_protein_run_leaves_the_protein_figures_in_its_run_folder(tmp_path):
    out = tmp_path / "out"
    cfg = compose_config(
        [
            "task=protein",
            "model=ga_attn",
            "model.width=8",
            "task.datamodule.k=6",
            "task.datamodule.entries=[6flr,6yfy,1ejg]",
            "debug=limit",
            "trainer.max_epochs=1",
            *QUIET,
            f"paths.output_dir={out}",
            f"paths.data_dir={tmp_path}/data",
            f"paths.log_dir={tmp_path}/logs",
        ]
    )
    metrics = run(cfg)
    assert 0.0 <= metrics["test/chi1_accuracy"] <= 1.0
    assert any(k.startswith("test/chi1_accuracy_") for k in metrics) and any(k.startswith("test/rmsd_sidechain_") for k in metrics)
    for name in ("test_rmsd_per_residue_type", "test_chi1_per_residue_type", "test_environment"):
        png = out / "figures" / f"{name}.png"
        assert png.is_file() and png.stat().st_size > 1000, name
