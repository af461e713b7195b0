"""Task heads: turn a `BackboneOutput` into a task's prediction.

The task config picks the head; every head works with every backbone because it only reads
per-point invariants, centred positions and the mask (covariant heads run their own GA
layer on the positions, and add the backbone's vectors when it makes some).
"""

from __future__ import annotations

from torch import Tensor, nn

from gaan.models.base import BackboneOutput, masked_mean
from gaan.nn import LabeledVectorAttention, Vector2VectorAttention, mlp


class ClassificationHead(nn.Module):
    """Masked mean pool of invariants -> MLP -> (B, num_classes) logits."""

    def __init__(self, width: int, num_classes: int, hidden: int | None = None):
        super().__init__()
        self.net = mlp(width, num_classes, hidden=hidden or width)

    def forward(self, out: BackboneOutput, labels: Tensor | None = None, label_mask: Tensor | None = None) -> Tensor:
        return self.net(masked_mean(out.invariants, out.mask))


class ScalarHead(nn.Module):
    """Per-point scalar MLP, pooled by sum (extensive, e.g. energies) or mean -> (B,)."""

    def __init__(self, width: int, hidden: int | None = None, pool: str = "sum"):
        super().__init__()
        if pool not in ("sum", "mean"):
            raise ValueError(f"head.pool must be 'sum' or 'mean', got {pool!r}")
        self.pool = pool
        self.net = mlp(width, 1, hidden=hidden or width)

    def forward(self, out: BackboneOutput, labels: Tensor | None = None, label_mask: Tensor | None = None) -> Tensor:
        per_point = self.net(out.invariants).squeeze(-1) * out.mask.to(out.invariants.dtype)
        total = per_point.sum(1)
        if self.pool == "mean":
            total = total / out.mask.sum(1).clamp_min(1).to(total.dtype)
        return total


class CovariantVectorHead(nn.Module):
    """Per-point rotation-covariant vectors (B, N, 3) from a `Vector2VectorAttention` over the
    centred positions, weighted by the backbone's invariants.

    With `num_vectors=V > 0` it adds sum_v s_v(h_i) * u_{i,v}, the point's own input vectors
    (`BackboneOutput.input_vectors`, e.g. the N-body velocity) scaled by invariant MLP
    weights: a free-flight term (displacement ~ v dt) that covariance alone cannot build from
    centred positions.

    With `ballistic_time=T` it adds T times the point's first input vector unscaled (free flight
    over T for a velocity), so the network only learns the deviation from straight-line motion:
    a body unlike any in training (one ejected far away) still moves ballistically rather than
    by an invariant weight s(h) evaluated outside its training range.
    """

    def __init__(
        self, width: int, rank: int = 2, heads: int = 1, num_vectors: int = 0, parity: bool = False, ballistic_time: float | None = None
    ):
        super().__init__()
        if ballistic_time is not None and (isinstance(ballistic_time, bool) or not isinstance(ballistic_time, (int, float))):
            raise ValueError(f"task.head.ballistic_time must be a number (time units of the input vectors) or null, got {ballistic_time!r}")
        self.ballistic_time = None if ballistic_time is None else float(ballistic_time)
        # parity: proper vectors only (a b a, not the pseudovector a x b), for O(3) tasks
        self.attention = Vector2VectorAttention(width, rank=rank, reduce=False, heads=heads, parity=bool(parity))
        self.num_vectors = int(num_vectors)
        self.vector_scale = mlp(width, self.num_vectors, hidden=width) if self.num_vectors > 0 else None

    def forward(self, out: BackboneOutput, labels: Tensor | None = None, label_mask: Tensor | None = None) -> Tensor:
        vectors = self.attention(out.positions, out.invariants, mask=out.mask)
        if out.vectors is not None:
            vectors = vectors + out.vectors
        if self.vector_scale is not None:
            inputs = out.input_vectors
            if inputs is None or inputs.shape[2] != self.num_vectors:
                got = None if inputs is None else inputs.shape[2]
                raise ValueError(
                    f"task.head.num_vectors={self.num_vectors} but the batch has {got} input vectors "
                    "per point (batch.vectors); set task.head.num_vectors to match or to 0"
                )
            scale = self.vector_scale(out.invariants)  # (B, N, V), invariant
            vectors = vectors + (scale[..., None] * inputs).sum(2)
        if self.ballistic_time is not None:
            if out.input_vectors is None or out.input_vectors.shape[2] == 0:
                raise ValueError("task.head.ballistic_time needs per-point input vectors (batch.vectors, e.g. N-body velocities)")
            vectors = vectors + self.ballistic_time * out.input_vectors[:, :, 0]
        return vectors * out.mask.unsqueeze(-1).to(vectors.dtype)


class LabeledVectorHead(nn.Module):
    """One covariant vector per labeled query site (B, L, 3): embedded label ids query the
    cloud through `LabeledVectorAttention` (backmapping).

    :param join: how a tuple's label, embedded geometry and partners' features meet (the layer's
        `join`): mean (their average) or product (each multiplies the others: a label-specific
        filter of the geometry)
    """

    def __init__(self, width: int, num_labels: int, rank: int = 2, heads: int = 1, join: str = "mean"):
        super().__init__()
        self.embed = nn.Embedding(num_labels, width)
        self.attention = LabeledVectorAttention(width, rank=rank, reduce=True, heads=heads, join=join)

    def forward(self, out: BackboneOutput, labels: Tensor | None = None, label_mask: Tensor | None = None) -> Tensor:
        if labels is None:
            raise ValueError("LabeledVectorHead needs batch.labels (a labeled task's datamodule provides them)")
        queries = self.embed(labels)
        return self.attention(out.positions, out.invariants, queries, mask=out.mask, label_mask=label_mask)
