"""How a layer turns tuple scores into the coefficients it sums tuple values with.

Each aggregation maps the score net's logits (..., T, heads) over a softmax group of T tuples and
the tuples' weights (..., T, 1) (a tuple's weight: the geometric mean of its points' per-point
weights, e.g. a smooth cutoff envelope; None: all 1) to coefficients of the same shape as the
logits. The layer's outputs are sum_t coefficient_t * value_t.

- `Softmax` (the reference package's semantics, the default): softmax over the group, times
  the tuple weight. Weights scale values but not the normalization, so a tuple whose weight goes
  to 0 still takes its share of the softmax until it is masked away: the output jumps when a
  neighbour leaves a view.
- `WeightedSoftmax`: w_t exp(s_t) / sum w exp(s): the weights enter the normalization too, so a
  tuple whose weight falls smoothly to 0 leaves the output smoothly (the output is continuous in
  the weights; with a smooth envelope, a potential built on it has no steps).
- `GatedSum`: sigmoid(s_t) w_t / tuples, with no normalization over the group: the output grows
  with the number of tuples (it can count bonds), and a tuple with weight 0 adds nothing.
  `tuples` is a fixed typical group size, so outputs stay O(1) without depending on padding.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Aggregation(nn.Module):
    """Base class: `forward(logits, weights)` -> coefficients shaped like the logits."""

    #: the plain softmax of `gaan.nn.factored`'s blockwise path computes the same coefficients
    factorable: bool = False

    def forward(self, logits: Tensor, weights: Tensor | None) -> Tensor:
        raise NotImplementedError


class Softmax(Aggregation):
    """softmax(s) over the group, times the tuple weight."""

    factorable = True

    def forward(self, logits: Tensor, weights: Tensor | None) -> Tensor:
        attention = torch.softmax(logits, dim=-2)
        return attention if weights is None else attention * weights


class WeightedSoftmax(Aggregation):
    """w exp(s) / sum(w exp(s)) over the group: continuous as a weight goes to 0."""

    def forward(self, logits: Tensor, weights: Tensor | None) -> Tensor:
        if weights is None:
            return torch.softmax(logits, dim=-2)
        shifted = torch.exp(logits - logits.amax(dim=-2, keepdim=True)) * weights
        # a group whose weights are all 0 (only padding) gets coefficients 0, not 0 / 0
        return shifted / shifted.sum(dim=-2, keepdim=True).clamp_min(torch.finfo(shifted.dtype).tiny)


class GatedSum(Aggregation):
    """sigmoid(s) * w / tuples, summed without normalization.

    :param tuples: the typical number of tuples per group (e.g. k**rank for a k-neighbour view),
        a fixed divisor that keeps outputs O(1)
    """

    def __init__(self, tuples: float = 1.0):
        super().__init__()
        if isinstance(tuples, bool) or not isinstance(tuples, (int, float)) or not tuples > 0:
            raise ValueError(f"GatedSum tuples must be a number > 0, got {tuples!r}")
        self.tuples = float(tuples)

    def extra_repr(self) -> str:
        return f"tuples={self.tuples}"

    def forward(self, logits: Tensor, weights: Tensor | None) -> Tensor:
        gates = torch.sigmoid(logits) / self.tuples
        return gates if weights is None else gates * weights


AGGREGATIONS = {"softmax": Softmax, "weighted_softmax": WeightedSoftmax, "gated_sum": GatedSum}


def build_aggregation(spec: str | Aggregation | None) -> Aggregation:
    """An aggregation from its name (AGGREGATIONS), an instance, or None (Softmax)."""
    if spec is None:
        return Softmax()
    if isinstance(spec, Aggregation):
        return spec
    if isinstance(spec, str) and spec in AGGREGATIONS:
        return AGGREGATIONS[spec]()
    raise ValueError(f"aggregation must be one of {list(AGGREGATIONS)} or a gaan.nn.aggregation.Aggregation, got {spec!r}")
