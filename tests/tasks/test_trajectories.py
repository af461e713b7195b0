"""N-body pictures: the first test cloud's start, true and predicted end positions; a tiny N-body
run leaves them (and the learning curves) in its run folder."""

from pathlib import Path

import numpy as np
import torch

from gaan.data import collate_point_clouds
from gaan.models import CovariantVectorHead, DeepSetsBackbone
from gaan.tasks import VectorRegressionTask
from gaan.tasks.trajectory_figure import trajectory_figure
from gaan.train import compose_config, run


def test_first_cloud_is_kept_without_padding_and_ends_are_start_plus_vectors():
    g = torch.Generator().manual_seed(0)
    clouds = [{"positions": torch.randn(n, 3, generator=g), "features": torch.ones(n, 1)} for n in (3, 5)]
    for cloud in clouds:
        cloud["targets"] = {"vectors": torch.randn(len(cloud["positions"]), 3, generator=g)}
    batch = collate_point_clouds(clouds, per_point_targets=("vectors",))
    assert not batch.mask[0].all()  # the first cloud is padded to 5 points
    task = VectorRegressionTask(backbone=DeepSetsBackbone, head=CovariantVectorHead, in_features=1, optimizer=torch.optim.Adam)
    predicted = torch.randn(2, 5, 3, generator=g)
    predicted_pairs, target_pairs = task.figure_data({"vectors": predicted}, batch)
    assert predicted_pairs.shape == target_pairs.shape == (8, 3)  # real points only
    start, true_end, predicted_end = task._trajectory_example
    torch.testing.assert_close(start, clouds[0]["positions"])
    torch.testing.assert_close(true_end, clouds[0]["positions"] + clouds[0]["targets"]["vectors"])
    torch.testing.assert_close(predicted_end, clouds[0]["positions"] + predicted[0, :3])

    figure = trajectory_figure(start.numpy(), true_end.numpy(), predicted_end.numpy())
    xy, xz = figure.axes
    crosses = np.array([line.get_xydata()[0] for line in xz.lines if line.get_marker() == "x" and len(line.get_xdata())])
    np.testing.assert_allclose(crosses, predicted_end.numpy()[:, [0, 2]], rtol=1e-6)
    circles = np.array(
        [
            line.get_xydata()[0]
            for line in xy.lines
            if line.get_marker() == "o" and line.get_markerfacecolor() == "none" and len(line.get_xdata())
        ]
    )
    np.testing.assert_allclose(circles[:3], true_end.numpy()[:, [0, 1]], rtol=1e-6)


def test_tiny_nbody_run_leaves_trajectories_parity_and_learning_curves(tmp_path: Path):
    run(
        compose_config(
            [
                "task=nbody",
                "model=deepsets",
                "debug=fdr",
                "task.datamodule.num_train=64",
                "+task.datamodule.recipe={num_train:64,num_valid:32,num_test:32}",
                "task.datamodule.batch_size=32",
                "callbacks.rich_progress_bar=null",
                "callbacks.model_summary=null",
                "trainer.enable_progress_bar=false",
                f"paths.output_dir={tmp_path}/out",
                f"paths.data_dir={tmp_path}/data",
                f"paths.log_dir={tmp_path}/logs",
            ]
        )
    )
    figures = tmp_path / "out" / "figures"
    assert {"test_trajectories.png", "test_summary.png", "learning_curves.png"} <= {p.name for p in figures.iterdir()}
