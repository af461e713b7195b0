"""What each attention block of a GA backbone looks at: the view builders.

A view builder turns the attention set (points, then each point's extra covariant entries such
as input velocities or hidden vectors) into the layer's input:

- `WholeCloud`: one attention set per cloud; tuples of any points; one output per point.
- `LocalFrames`: every point attends over the whole cloud seen from itself (r_k - r_i) plus its
  own extra entries; pair distances are then single-vector invariants. About N times the tuples
  of `WholeCloud`: for small clouds.
- `Neighbourhoods`: like `LocalFrames`, over each point's k nearest points only: cost linear in N.
- `NearestSmooth`: each point's k nearest points, weighted by an envelope whose cutoff is the
  distance to the (k+1)-th nearest: the neighbour that leaves the k nearest has weight 0 as it
  leaves, so the output has no step at k-nearest cost (its derivative may kink).
- `ScaledLocalFrames`: every point, weighted by an envelope whose cutoff is a power mean of the
  distances to all other points (a smooth stand-in for the farthest): the weights shrink with
  distance relative to the molecule's size, as `NearestSmooth`'s do, but with no kink anywhere,
  at the whole cloud's cost (small molecules).
- `SmoothNeighbourhoods`: each point's neighbours within a cutoff, each weighted by a smooth
  envelope (`gaan.models.envelopes`) that reaches 0 at the cutoff: neighbours enter and leave
  without a step in the output (with `aggregation: weighted_softmax` or `gated_sum` layers).

Per-point views (the last two) also describe their (centre, partner) point pairs as a
`ViewPairs`, from which pair-input modules (`gaan.models.pair_inputs`) compute per-pair features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gaan.models.geometry import soft_clip
from gaan.nn.neighbours import knn_indices


@dataclass
class ViewPairs:
    """The (centre i, partner k) point pairs of per-point views, P partners per centre.

    relative: (B, N, P, C) partner minus centre, in the layers' form (vectors or multivectors)
        and normalized units, after the view's soft limit; zero for padded pairs.
    mask: (B, N, P) True where both points are real.
    is_self: (B, N, P) True where the partner is the centre itself.
    index: (B, N, P) the partners' point indices, or None when every point is a partner (P = N).
    weight: (B, N, P) each pair's weight in (0, 1] (a cutoff envelope), or None (all 1).
    """

    relative: Tensor
    mask: Tensor
    is_self: Tensor
    index: Tensor | None = None
    weight: Tensor | None = None

    def centre(self, x: Tensor) -> Tensor:
        """Per-point x (B, N, ...) at each pair's centre: (B, N, 1, ...)."""
        return x[:, :, None]

    def partner(self, x: Tensor) -> Tensor:
        """Per-point x (B, N, ...) at each pair's partner: (B, N, P, ...) (or (B, 1, N, ...))."""
        return x[:, None] if self.index is None else gather_points(x, self.index)


@dataclass
class View:
    """A block's layer input: vectors (B, M, C) / features (B, M, D) / mask (B, M) for a whole
    cloud, or (B, N, K, ...) per-point views whose first P entries are the point pairs; weights
    (same shape as mask, or None): per-entry weights the layers weight tuples by."""

    vectors: Tensor
    features: Tensor
    mask: Tensor
    pairs: ViewPairs | None = None
    weights: Tensor | None = None


class ViewBuilder(nn.Module):
    """Base class. `per_point` views are reduced to their centre by the layers (reduce=True
    over each view); a whole-cloud view keeps one output per entry (reduce=False)."""

    per_point: bool = True

    def forward(self, r: Tensor, h: Tensor, mask: Tensor, points: int) -> View:
        """r (B, M, C), h (B, M, D), mask (B, M): the attention set, its first `points` entries the
        points, then each point's extra entries, point-major."""
        raise NotImplementedError


class WholeCloud(ViewBuilder):
    """The whole attention set, as it is."""

    per_point = False

    def forward(self, r: Tensor, h: Tensor, mask: Tensor, points: int) -> View:
        return View(r, h, mask)


class LocalFrames(ViewBuilder):
    """Each point's view (B, N, N + E, ...): every point relative to it, soft-limited to
    `radius` (normalized units) if given, then its own E extra entries as given (others' extra
    entries reach it through their owners' features and moves).

    `radius=R`: r_k - r_i -> (r_k - r_i) / sqrt(1 + |r_k - r_i|**2 / R**2), nearly unchanged well
    inside R and never longer: a point ejected far beyond the training range is seen at most R
    away, so the invariants (which grow like |r|**2) stay in the trained range. One-to-one, so
    nothing is lost inside.
    """

    def __init__(self, radius: float | None = None):
        super().__init__()
        self.radius = check_radius("model.view.radius", radius)

    def extra_repr(self) -> str:
        return f"radius={self.radius}"

    def pairs(self, r: Tensor, mask: Tensor) -> ViewPairs:
        relative = r[:, None] - r[:, :, None]
        if self.radius is not None:
            relative = soft_clip(relative, self.radius)
        points = r.shape[1]
        is_self = torch.eye(points, dtype=torch.bool, device=r.device).expand(r.shape[0], -1, -1)
        return ViewPairs(relative, mask[:, None, :] & mask[:, :, None], is_self)

    def forward(self, r: Tensor, h: Tensor, mask: Tensor, points: int) -> View:
        pairs = self.pairs(r[:, :points], mask[:, :points])
        partner_features = pairs.partner(h[:, :points]).expand(-1, points, -1, -1)
        return with_own_extras(pairs, partner_features, r, h, mask, points)


class Neighbourhoods(LocalFrames):
    """Each point's view over its `k` nearest points (itself included) plus its own extra
    entries: cost linear in the number of points. `cutoff` (normalized units) masks farther
    neighbours; `radius` soft-limits the relative vectors as in `LocalFrames`. The choice of
    neighbours is invariant (distances), so the view is as equivariant as `LocalFrames`."""

    def __init__(self, k: int = 16, radius: float | None = None, cutoff: float | None = None):
        super().__init__(radius)
        if isinstance(k, bool) or not isinstance(k, int) or k < 2:
            raise ValueError(f"model.view.k must be an integer >= 2 (the point and a neighbour), got {k!r}")
        self.k = k
        self.cutoff = check_radius("model.view.cutoff", cutoff)

    def extra_repr(self) -> str:
        return f"k={self.k}, radius={self.radius}, cutoff={self.cutoff}"

    def pairs(self, r: Tensor, mask: Tensor) -> ViewPairs:
        # neighbours by distance: multivectors of pure vectors have the same norms
        index, valid = knn_indices(r, self.k, mask, self.cutoff)
        relative = gather_points(r, index) - r[:, :, None]
        if self.radius is not None:
            relative = soft_clip(relative, self.radius)
        points = torch.arange(r.shape[1], device=r.device)[None, :, None]
        relative = relative * valid[..., None].to(relative.dtype)
        return ViewPairs(relative, valid, index == points, index)

    def forward(self, r: Tensor, h: Tensor, mask: Tensor, points: int) -> View:
        pairs = self.pairs(r[:, :points], mask[:, :points])
        return with_own_extras(pairs, pairs.partner(h[:, :points]), r, h, mask, points)


class SmoothNeighbourhoods(Neighbourhoods):
    """Each point's neighbours within `envelope.cutoff` (input units of the backbone: A when
    `model.normalize` is false), at most `k` of them (itself included), each weighted by the
    envelope of its distance (`gaan.models.envelopes`; the centre and extra entries weigh 1).

    A neighbour crossing the cutoff has weight 0 there, so with layers whose aggregation lets
    weights into the normalization (`model.attention.aggregation: weighted_softmax` or
    `gated_sum`) it enters and leaves without a step. The view is smooth only while no point has
    more than k neighbours inside the cutoff (beyond that the k-nearest choice switches): choose
    k above the densest neighbourhood; `overflow(r, mask)` counts points over k.
    """

    def __init__(self, envelope: nn.Module, k: int = 32, radius: float | None = None):
        super().__init__(k=k, radius=radius, cutoff=getattr(envelope, "cutoff", None))
        if self.cutoff is None:
            raise ValueError("model.view.envelope must be a gaan.models.envelopes module with a cutoff")
        self.envelope = envelope

    def extra_repr(self) -> str:
        return f"k={self.k}, radius={self.radius}"

    def pairs(self, r: Tensor, mask: Tensor) -> ViewPairs:
        pairs = super().pairs(r, mask)
        # the envelope of the true distance (before any soft limit)
        distance = torch.sqrt((gather_points(r, pairs.index) - r[:, :, None]).square().sum(-1) + 1e-12)
        return weighted_pairs(pairs, self.envelope(distance))

    def overflow(self, r: Tensor, mask: Tensor) -> int:
        """How many real points have more than k points (themselves included) inside the cutoff."""
        with torch.no_grad():
            inside = (torch.cdist(r, r) < self.cutoff) & mask[:, None, :] & mask[:, :, None]
            return int(((inside.sum(-1) > self.k) & mask).sum())


class NearestSmooth(Neighbourhoods):
    """Each point's `k` nearest points (itself included), partner j weighted by
    `envelope(d_j / c)` with c = min(distance to the (k+1)-th nearest point, `cutoff`).

    When the k-th and (k+1)-th nearest swap, both are at distance c, where the envelope is 0:
    the one leaving and the one entering carry weight 0, so (with `weighted_softmax` or
    `gated_sum` layers) the output is continuous at k-nearest cost. c is continuous too, but not
    smooth where the (k+1)-th and (k+2)-th swap: forces may kink there, energies do not step.
    `envelope` is a `gaan.models.envelopes` module with cutoff 1 (it is applied to d_j / c);
    `cutoff` (input units) bounds c for clouds of at most k points.
    """

    def __init__(self, envelope: nn.Module, k: int = 6, cutoff: float = 5.0, radius: float | None = None):
        super().__init__(k=k, radius=radius)
        check_unit_envelope(envelope)
        self.envelope = envelope
        self.limit = check_radius("model.view.cutoff", cutoff)
        if self.limit is None:
            raise ValueError("model.view.cutoff must be a number > 0")

    def extra_repr(self) -> str:
        return f"k={self.k}, cutoff={self.limit}, radius={self.radius}"

    def pairs(self, r: Tensor, mask: Tensor) -> ViewPairs:
        index, valid = knn_indices(r, self.k + 1, mask)
        offsets = gather_points(r, index) - r[:, :, None]
        distance = torch.sqrt(offsets.square().sum(-1) + 1e-12)
        # the (k+1)-th nearest point's distance, or the cutoff where there is none
        beyond = torch.where(valid[..., -1], distance[..., -1], torch.full_like(distance[..., -1], self.limit))
        scale = torch.clamp(beyond, max=self.limit)[..., None]
        index, valid, offsets, distance = index[..., :-1], valid[..., :-1], offsets[..., :-1, :], distance[..., :-1]
        is_self = index == torch.arange(r.shape[1], device=r.device)[None, :, None]
        relative = soft_clip(offsets, self.radius) if self.radius is not None else offsets
        return weighted_pairs(ViewPairs(relative, valid, is_self, index), self.envelope(distance / scale))


class ScaledLocalFrames(LocalFrames):
    """Every point (as `LocalFrames`), partner j weighted by `envelope(d_j / c)` with c the power
    mean of order `power` of the distances to all other real points, (mean_j d_j**p)**(1/p).

    c lies between 1 / n**(1/p) of the farthest distance and the farthest distance (n partners),
    so the farthest partners weigh (nearly) 0, as with `NearestSmooth` k = all but one; but c is a
    smooth function of every distance, so the weights, energies and forces have no kink where
    two partners swap places (NearestSmooth's scale, the (k+1)-th nearest distance, kinks where
    the (k+1)-th and (k+2)-th swap: a drift in NVE dynamics). The view holds every point: its
    cost grows as the square of the cloud's size. `envelope`: a `gaan.models.envelopes` module
    with cutoff 1.
    """

    def __init__(self, envelope: nn.Module, power: float = 16.0, radius: float | None = None):
        super().__init__(radius)
        check_unit_envelope(envelope)
        if isinstance(power, bool) or not isinstance(power, (int, float)) or not power >= 1:
            raise ValueError(f"model.view.power must be a number >= 1, got {power!r}")
        self.envelope = envelope
        self.power = float(power)

    def extra_repr(self) -> str:
        return f"power={self.power}, radius={self.radius}"

    def pairs(self, r: Tensor, mask: Tensor) -> ViewPairs:
        pairs = super().pairs(r, mask)
        # the envelope of the true distance (before any soft limit)
        distance = torch.sqrt((r[:, None] - r[:, :, None]).square().sum(-1) + 1e-12)
        partners = pairs.mask & ~pairs.is_self
        # log of the power mean, through logsumexp: d**p overflows float32 for large clouds in A
        count = partners.sum(-1, keepdim=True)
        log_distance = torch.where(partners, torch.log(distance), torch.full_like(distance, -torch.inf))
        # a point with no partner (padding, a lone atom) has nothing to weigh: scale 1, and no
        # all -inf row, whose logsumexp gradient is NaN even where unused
        log_distance = torch.where(count > 0, log_distance, torch.zeros_like(log_distance))
        log_scale = (torch.logsumexp(self.power * log_distance, -1, keepdim=True) - torch.log(count.clamp_min(1))) / self.power
        scale = torch.exp(torch.where(count > 0, log_scale, torch.zeros_like(log_scale)))
        return weighted_pairs(pairs, self.envelope(distance / scale))


def weighted_pairs(pairs: ViewPairs, envelope: Tensor) -> ViewPairs:
    """`pairs` weighted by `envelope` (B, N, P), the centre by 1. A pair of weight 0 (at the
    cutoff, within rounding) is no neighbour: masking it keeps the layers' geometric mean of
    weights (a square root) away from 0 and its gradient finite."""
    weight = torch.where(pairs.is_self, torch.ones_like(envelope), envelope)
    mask = pairs.mask & (weight > 0)
    relative = pairs.relative * mask[..., None].to(pairs.relative.dtype)
    return ViewPairs(relative, mask, pairs.is_self, pairs.index, torch.where(mask, weight, torch.ones_like(weight)))


def with_own_extras(pairs: ViewPairs, partner_features: Tensor, r: Tensor, h: Tensor, mask: Tensor, points: int) -> View:
    """A per-point view: the pairs' entries, then the centre's own extra entries."""
    batch = r.shape[0]

    def own(x: Tensor) -> Tensor:  # (B, N * E, ...) point-major -> (B, N, E, ...)
        return x[:, points:].reshape(batch, points, -1, *x.shape[2:])

    vectors = torch.cat([pairs.relative, own(r)], 2)
    features = torch.cat([partner_features, own(h)], 2)
    own_mask = own(mask[..., None])[..., 0]
    view_mask = torch.cat([pairs.mask, own_mask], 2)
    weights = None
    if pairs.weight is not None:
        weights = torch.cat([pairs.weight, torch.ones_like(own_mask, dtype=pairs.weight.dtype)], 2)
    return View(vectors, features, view_mask, pairs, weights)


def gather_points(x: Tensor, index: Tensor) -> Tensor:
    """Per-point x (B, N, ...) at point indices (B, N, P): (B, N, P, ...)."""
    batch, points, partners = index.shape
    rows = torch.arange(batch, device=x.device)[:, None]
    return x[rows, index.reshape(batch, points * partners)].reshape(batch, points, partners, *x.shape[2:])


def check_unit_envelope(envelope: nn.Module) -> None:
    """Views that scale distances (d / c) take an envelope with cutoff 1."""
    if getattr(envelope, "cutoff", None) != 1.0:
        raise ValueError("model.view.envelope must be a gaan.models.envelopes module with cutoff 1 (it takes d / c)")


def check_radius(key: str, value: float | None) -> float | None:
    """An optional length (normalized units): null, or a number > 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{key} must be a number > 0 (or null), got {value!r}")
    return float(value)


def required_radius(key: str, value: float) -> float:
    """A length that must be given: a number > 0."""
    radius = check_radius(key, value)
    if radius is None:
        raise ValueError(f"{key} must be a number > 0, got None")
    return radius
