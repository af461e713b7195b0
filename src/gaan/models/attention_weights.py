"""Reading a trained GA attention backbone's attention: which points a block's layer looks at.

`layer_attention` runs the backbone once, keeps the input of one block's layer (a forward
pre-hook) and the view it was built from, and calls the layer again on that input with
`return_attention` on. `point_attention` reduces the tuple weights of one point to one weight per
point of its cloud, for drawing (`gaan.tasks.attention_view`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gaan.models.base import BackboneOutput
from gaan.models.ga_attention import GAAttentionBackbone
from gaan.models.views import View


@dataclass
class LayerAttention:
    """One block's attention on a batch.

    weights: the layer's attention, (B, M, ..., M, heads) with `rank` entry axes for a whole-cloud
        view (the first axis the attending entry), (B, N, K, ..., K, heads) for per-point views
        (each point's own view of K entries).
    view: the layer's input, as the backbone's view builder made it (its `pairs` name the points
        of per-point views).
    points: N, the number of points; entries after them (whole cloud) or after the pairs (per-point
        views) are extra covariant entries such as input velocities.
    per_point: whether the view is per point.
    output: the backbone's output on the batch.
    """

    weights: Tensor
    view: View
    points: int
    per_point: bool
    output: BackboneOutput


@dataclass
class PointAttention:
    """The attention one point of one cloud gives the cloud's points (padding removed).

    positions: (n, 3) the cloud's real points.
    centre: the attending point's index among them.
    weights: (n,) the weight of each point; with `extra_weight` they sum to one.
    extra_weight: the weight on the view's extra entries (input vectors, hidden vectors).
    """

    positions: Tensor
    centre: int
    weights: Tensor
    extra_weight: float


def layer_attention(
    backbone: GAAttentionBackbone,
    positions: Tensor,
    features: Tensor,
    mask: Tensor,
    vectors: Tensor | None = None,
    block: int = -1,
) -> LayerAttention:
    """Run `backbone` on a batch and return the attention of the layer of `block`.

    The backbone runs without gradients in its current mode (call `.eval()` first for a trained
    model's view); the layer's `return_attention` flag is restored afterwards.

    :param backbone: a `GAAttentionBackbone` (or its multivector variant)
    :param positions, features, mask, vectors: the batch, as the backbone takes it
    :param block: the block whose layer is read (negative counts from the last)
    """
    if not isinstance(backbone, GAAttentionBackbone):
        raise TypeError(f"layer_attention needs a GAAttentionBackbone (tuple attention), got {type(backbone).__name__}")
    block = range(backbone.depth)[block]
    layer = backbone.attention[block]
    captured: dict = {}
    views: list[View] = []
    hooks = [
        layer.register_forward_pre_hook(lambda _, args: captured.update(args=args)),
        backbone.view.register_forward_hook(lambda _, args, view: views.append(view)),
    ]
    try:
        with torch.no_grad():
            output = backbone(positions, features, mask, vectors=vectors)
    finally:
        for hook in hooks:
            hook.remove()
    previous = layer.return_attention
    layer.return_attention = True
    try:
        with torch.no_grad():
            _, weights = layer(*captured["args"])
    finally:
        layer.return_attention = previous
    return LayerAttention(weights, views[block], positions.shape[1], backbone.view.per_point, output)


def point_attention(
    attention: LayerAttention, mask: Tensor, positions: Tensor, cloud: int = 0, centre: int | None = None, head: int | None = None
) -> PointAttention:
    """The weight point `centre` of cloud `cloud` gives each point of that cloud.

    A tuple's weight is shared among the points it holds: with a whole-cloud view the centre's
    tuples are those it starts (tuple position 0), and a point's weight is the centre's total
    weight on tuples with the point at position p, averaged over the positions p = 1 .. rank - 1
    (rank 2: exactly the pair weight of (centre, j)); with per-point views the tuples are all
    those of the centre's view, averaged over every position, and partners are mapped back to
    their point indices. Either way the weights over the points and the extra entries sum to one.
    Rank 1 with a whole-cloud view has only the tuple (centre): all weight on itself.

    :param attention: from `layer_attention`
    :param mask: (B, N) the batch's point mask
    :param positions: (B, N, 3) the batch's positions (the drawn coordinates)
    :param cloud: which cloud of the batch
    :param centre: the attending point (an index into the cloud's N entries, a real point);
        None: the real point nearest the centroid of the real points
    :param head: which attention head; None: the mean over the heads
    """
    real = mask[cloud].bool()
    points = attention.points
    if centre is None:
        cloud_positions = positions[cloud]
        distance = (cloud_positions - cloud_positions[real].mean(0)).norm(dim=-1).masked_fill(~real, float("inf"))
        centre = int(distance.argmin())
    if not real[centre]:
        raise ValueError(f"point {centre} of cloud {cloud} is padding, not a point")
    weights = attention.weights[cloud, centre].float()  # (M, ..., M, heads): the centre's tuples
    weights = weights.mean(-1) if head is None else weights[..., head]
    if weights.dim() == 0:  # rank 1, whole cloud: the one tuple (centre)
        entry_weights = torch.zeros(attention.weights.shape[1], device=weights.device)
        entry_weights[centre] = 1.0
    else:
        entry_weights = position_marginals(weights)
    point_weights = torch.zeros(points, device=weights.device)
    if attention.per_point:
        pairs = attention.view.pairs
        partners = pairs.mask.shape[-1]
        index = torch.arange(partners, device=weights.device) if pairs.index is None else pairs.index[cloud, centre]
        valid = pairs.mask[cloud, centre]
        point_weights.index_add_(0, index[valid], entry_weights[:partners][valid])
        extra = entry_weights[partners:].sum()
    else:
        point_weights += entry_weights[:points]
        extra = entry_weights[points:].sum()
    return PointAttention(
        positions=positions[cloud][real].detach().float().cpu(),
        centre=int(real[:centre].sum()),
        weights=point_weights[real].cpu(),
        extra_weight=float(extra),
    )


def position_marginals(weights: Tensor) -> Tensor:
    """The mean over a tuple's positions of the weight marginal at each position.

    :param weights: (M, ..., M) weights of tuples of M entries, one axis per tuple position
    :return: (M,) per entry; sums to the weights' sum
    """
    axes = range(weights.dim())
    return torch.stack([weights.sum(dim=[a for a in axes if a != axis]) if weights.dim() > 1 else weights for axis in axes]).mean(0)
