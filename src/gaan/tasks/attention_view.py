"""The attention view: which points a trained GA attention layer looks at, drawn on one test cloud.

`attention_figure` draws a `gaan.models.attention_weights.PointAttention`; the `AttentionView`
callback makes one for the first test cloud at the end of testing
(`figures/test_attention.png`). Backbones without tuple attention (EGNN, transformer, deep sets,
Steinhardt) get no picture.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from gaan.models.attention_weights import PointAttention, layer_attention, point_attention
from gaan.models.ga_attention import GAAttentionBackbone
from gaan.tasks.figures import log_figure


def attention_figure(attention: PointAttention, title: str = "test cloud 0") -> Figure:
    """The attention of one point drawn on its cloud, and against distance.

    Left: the points in 3-D (the centre black) and a line from the centre to every other point,
    its width in proportion to the weight (even attention gives thin, equal lines) and its
    colour relative to the largest weight. Right: each point's weight against its distance from
    the centre, with the even share 1/n dashed. The centre's weight on itself and the weight on
    extra entries (input vectors) are in the title.

    :param attention: from `gaan.models.attention_weights.point_attention`
    :param title: the first part of the figure's title
    """
    points = attention.positions.numpy()
    weights = attention.weights.numpy()
    centre = attention.centre
    others = [j for j in range(len(points)) if j != centre]
    largest = max(float(weights[others].max()) if others else 0.0, 1e-12)
    fig = Figure(figsize=(10.0, 4.5))
    cloud_ax = fig.add_subplot(1, 2, 1, projection="3d")
    colours = ["black" if k == centre else "tab:blue" for k in range(len(points))]
    cloud_ax.scatter(*points.T, c=colours, s=25)
    reds = colormaps["Reds"]
    for j in others:
        w = float(weights[j])
        cloud_ax.plot(*np.stack([points[centre], points[j]]).T, color=reds(0.3 + 0.7 * w / largest), linewidth=0.5 + 10 * w)
    cloud_ax.set_title(f"attention of point {centre} (black)", fontsize=9)
    distance_ax = fig.add_subplot(1, 2, 2)
    distance = np.linalg.norm(points - points[centre], axis=-1)
    distance_ax.scatter(distance[others], weights[others], color="tab:red", s=15)
    distance_ax.axhline(1.0 / len(points), color="grey", linestyle="--", lw=1, label="even share 1/n")
    distance_ax.set_xlabel("distance from the centre")
    distance_ax.set_ylabel("attention weight")
    distance_ax.set_ylim(bottom=0.0)  # even attention then looks even
    distance_ax.legend(fontsize=8)
    extra = f", extra entries {attention.extra_weight:.2f}" if attention.extra_weight > 1e-6 else ""
    fig.suptitle(f"{title}: self {float(weights[centre]):.2f}{extra}", fontsize=10)
    fig.tight_layout()
    return fig


class AttentionView(L.Callback):
    """At the end of testing, draws which points a GA attention layer attends to.

    On the first test batch the backbone runs again with the chosen block's layer read
    (`gaan.models.attention_weights.layer_attention`); the first cloud's centre point (the real
    point nearest the centroid) and its weights over the cloud's points are drawn as
    `test/attention`. Padded points are left out. Backbones that are not a `GAAttentionBackbone`
    are skipped without a word.

    :param block: the block whose layer is drawn (negative counts from the last)
    :param head: the attention head drawn; None: the mean over the heads
    """

    def __init__(self, block: int = -1, head: int | None = None):
        self.block = block
        self.head = head
        self._example: PointAttention | None = None

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._example = None

    def on_test_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int, dataloader_idx: int = 0):
        backbone = getattr(pl_module, "backbone", None)
        if batch_idx or dataloader_idx or self._example is not None or not trainer.is_global_zero:
            return
        if not isinstance(backbone, GAAttentionBackbone) or not len(batch):
            return
        # a compiled backbone (compile=true) reuses the graph the test step traced without this
        # reading's hooks, so they would never fire: read the layer in eager mode
        with torch.compiler.set_stance("force_eager"):
            attention = layer_attention(backbone, batch.positions, batch.features, batch.mask, vectors=batch.vectors, block=self.block)
        self._example = point_attention(attention, batch.mask, batch.positions, cloud=0, head=self.head)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._example is not None:
            block = "the last block" if self.block == -1 else f"block {self.block}"
            head = "mean of the heads" if self.head is None else f"head {self.head}"
            log_figure(trainer, "test/attention", attention_figure(self._example, title=f"test cloud 0, {block}, {head}"))
        self._example = None
