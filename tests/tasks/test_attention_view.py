"""The attention view: one point's weights over its cloud from a GA attention layer, drawn; a
tiny GA run leaves figures/test_attention.png, a non-GA run none."""

from pathlib import Path

import pytest
import torch

from gaan.models import GAAttentionBackbone
from gaan.models.attention_weights import layer_attention, point_attention
from gaan.models.views import LocalFrames, Neighbourhoods, WholeCloud
from gaan.tasks.attention_view import attention_figure
from gaan.train import compose_config, run


def padded_batch():
    """Two clouds of 7 points, the first with its last two points padding (far away there)."""
    g = torch.Generator().manual_seed(0)
    positions, features = torch.randn(2, 7, 3, generator=g), torch.randn(2, 7, 4, generator=g)
    vectors = torch.randn(2, 7, 1, 3, generator=g)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[0, 5:] = False
    positions[0, 5:] = 100.0
    return positions, features, mask, vectors


CASES = {
    "whole cloud, rank 2": dict(view=WholeCloud()),
    "whole cloud, rank 3, 2 heads": dict(view=WholeCloud(), attention={"rank": 3, "heads": 2}),
    "local frames, rank 2": dict(view=LocalFrames()),
    "neighbourhoods of 3": dict(view=Neighbourhoods(k=3)),
    "whole cloud with input vectors": dict(view=WholeCloud(), vector_inputs=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_point_weights_sum_to_one_over_the_real_points_and_extra_entries(case):
    torch.manual_seed(0)
    backbone = GAAttentionBackbone(in_features=4, width=8, depth=2, **CASES[case]).eval()
    positions, features, mask, vectors = padded_batch()
    attention = layer_attention(backbone, positions, features, mask, vectors=vectors if backbone.uses_vectors else None)
    assert not backbone.attention[-1].return_attention  # the flag is restored
    for head in (None, 0):
        view = point_attention(attention, mask, positions, cloud=0, head=head)
        assert view.positions.shape == (5, 3) and view.weights.shape == (5,)  # padding left out
        assert float(view.weights.sum()) + view.extra_weight == pytest.approx(1.0, abs=1e-5)
        assert (view.weights >= 0).all()
        assert (view.extra_weight > 0.01) == backbone.uses_vectors
    centroid = positions[0, :5].mean(0)
    assert view.centre == int((positions[0, :5] - centroid).norm(dim=-1).argmin())
    if case == "neighbourhoods of 3":  # only the centre's 3 nearest points (itself included) can get weight
        distance = (positions[0, :5] - positions[0, view.centre]).norm(dim=-1)
        assert set(torch.nonzero(view.weights).flatten().tolist()) <= set(distance.argsort()[:3].tolist())


def test_rank_2_whole_cloud_weights_are_the_layers_pair_weights_and_the_lines_draw_them():
    torch.manual_seed(0)
    backbone = GAAttentionBackbone(in_features=4, width=8, depth=2, attention={"heads": 2}).eval()
    positions, features, mask, _ = padded_batch()
    attention = layer_attention(backbone, positions, features, mask, block=0)
    assert attention.weights.shape == (2, 7, 7, 2)  # (batch, i, j, heads)
    view = point_attention(attention, mask, positions, cloud=1, centre=3, head=1)
    torch.testing.assert_close(view.weights, attention.weights[1, 3, :, 1])
    figure = attention_figure(view)
    widths = [line.get_linewidth() for line in figure.axes[0].lines]  # one line per other point, width 0.5 + 10 w
    drawn = sum((w - 0.5) / 10 for w in widths) + float(view.weights[3])
    assert len(widths) == 6 and drawn == pytest.approx(1.0, abs=1e-5)


def tiny_crystal_run(tmp_path: Path, model: str) -> Path:
    overrides = [
        "task=crystal",
        f"model={model}",
        "debug=fdr",
        "task.datamodule.num_samples=240",
        "task.datamodule.batch_size=8",
        "callbacks.rich_progress_bar=null",
        "callbacks.model_summary=null",
        "trainer.enable_progress_bar=false",
        f"paths.output_dir={tmp_path}/{model}",
        f"paths.data_dir={tmp_path}/data",
        f"paths.log_dir={tmp_path}/logs",
    ]
    run(compose_config(overrides))
    return tmp_path / model / "figures"


def test_ga_run_draws_the_attention_view_and_other_models_skip_it(tmp_path):
    figures = tiny_crystal_run(tmp_path, "ga_attn")
    assert {"test_attention.png", "learning_curves.png", "test_summary.png"} <= {p.name for p in figures.iterdir()}
    figures = tiny_crystal_run(tmp_path, "egnn")
    assert (figures / "test_summary.png").is_file() and not (figures / "test_attention.png").exists()


def test_the_callback_reads_a_compiled_backbone(tmp_path):
    """compile=true: the test step's compiled graph has no reading hooks; the callback reads the
    layer in eager mode instead of failing with KeyError: 'args' (backend eager: the same
    dynamo caching as inductor, without the C++ compile time)."""
    from types import SimpleNamespace

    from gaan.data.batch import PointCloudBatch
    from gaan.tasks.attention_view import AttentionView

    torch.manual_seed(0)
    backbone = GAAttentionBackbone(in_features=4, width=8, depth=1).eval()
    backbone.compile(backend="eager")
    positions, features, mask, vectors = padded_batch()
    with torch.no_grad():
        backbone(positions, features, mask)  # the test step: traced and cached without hooks
    batch = PointCloudBatch(positions=positions, features=features, mask=mask)
    callback = AttentionView()
    with torch.no_grad():
        callback.on_test_batch_end(SimpleNamespace(is_global_zero=True), SimpleNamespace(backbone=backbone), None, batch, 0)
    assert callback._example is not None and torch.isfinite(callback._example.weights).all()
