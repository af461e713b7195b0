"""The factored path of :class:`gaan.nn.GeometricAttention`: the same function, less memory.

For score/value/scale nets that start with a Linear (the value net also ending with one), the
linear algebra around the per-tuple nonlinearities is refactored (same function, other
rounding): the value net's first Linear is applied per product at that product's own
broadcast shape; merged point features enter the score/scale nets' first Linear once per
point; the embedded invariants and the joined features never exist per tuple, since the value
net's last Linear, the join and the next first Linear compose into one matrix, and the
attention-weighted sum is taken over the value net's hidden units instead. What remains per
tuple (:class:`TupleTerms` in, hidden units, scores, softmax, pooling out) runs blockwise
(:mod:`gaan.nn.blockwise`: blocks of whole softmax groups, recomputed in the backward pass, so
no per-tuple tensor is kept for it) or in checkpointed chunks of first indices.

Tensors "at tuple shape" are broadcastable against (B, N, ..., N, C) with ``rank`` point axes.
"""

import functools
import math
import operator
from dataclasses import dataclass, fields
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .blockwise import Block, blockwise

MASKED_LOGIT = -1e9  # the logit of a tuple with a masked point, on either path


def at_position(x: Tensor, position: int, rank: int) -> Tensor:
    """View per-point x (B, N, C) with its point axis at tuple position ``position``."""
    shape = [x.shape[0]] + [1] * rank + [x.shape[-1]]
    shape[1 + position] = x.shape[1]
    return x.reshape(shape)


def nets_allow_factoring(value_net: nn.Module, score_net: nn.Module, scale_net: nn.Module | None) -> bool:
    """The nets are Sequentials that start with a Linear (the value net also ends with one)."""

    def starts_linear(net, ends_linear=False):
        return (
            isinstance(net, nn.Sequential)
            and len(net) >= 2
            and isinstance(net[0], nn.Linear)
            and (not ends_linear or isinstance(net[-1], nn.Linear))
        )

    return starts_linear(value_net, True) and starts_linear(score_net) and (scale_net is None or starts_linear(scale_net))


def softmax_group_blocks(batch: int, points: int, rank: int, reduce: bool, block_tuples: int) -> list[Block]:
    """Whole softmax groups per block, at most ``block_tuples`` tuples each unless one group is
    larger, in as few blocks of as equal sizes as that allows."""

    def even(total, group):  # block length <= budget // group, blocks as equal as possible
        most = max(1, block_tuples // group)
        count = -(-total // most)
        return -(-total // count)

    per_cloud = points**rank
    if reduce or per_cloud <= block_tuples:
        clouds = even(batch, per_cloud)
        return [(slice(i, min(i + clouds, batch)), slice(None)) for i in range(0, batch, clouds)]
    rows = even(points, points ** (rank - 1))
    return [(slice(i, i + 1), slice(j, min(j + rows, points))) for i in range(batch) for j in range(0, points, rows)]


# --- the tuple quantities, built once per call ------------------------------------------------


class JoinedParts(NamedTuple):
    """joined = h @ lin + bias + sum_k at_position(point[k], k), h the value net's last hidden layer."""

    lin: Tensor  # (H, D)
    bias: Tensor | None  # (D,)
    point: list[Tensor]  # per tuple position, (B, N, D)


def joined_parts(last: nn.Linear, v: Tensor, rank: int, merge_kernels, join_kernels) -> JoinedParts:
    """The value net's last Linear, the merge and the join as one linear map of h plus per-point
    terms; ``merge_kernels`` / ``join_kernels`` None: merge / join by the mean."""
    w2, b2 = last.weight.t(), last.bias
    merged = [v / rank] * rank if merge_kernels is None else [v @ kernel for kernel in merge_kernels]
    if join_kernels is None:
        return JoinedParts(w2 / 2, None if b2 is None else b2 / 2, [m / 2 for m in merged])
    j0, j1 = join_kernels
    return JoinedParts(w2 @ j0, None if b2 is None else b2 @ j0, [m @ j1 for m in merged])


def first_layer_parts(first: nn.Linear, joined: JoinedParts, rank: int) -> tuple[Tensor, list[Tensor]]:
    """first(joined) = h @ matrix + sum(terms): joined is never built per tuple."""
    weight = first.weight.t()
    terms = [at_position(p @ weight, k, rank) for k, p in enumerate(joined.point)]
    if joined.bias is not None:
        terms.append(joined.bias @ weight)
    if first.bias is not None:
        terms.append(first.bias)
    return joined.lin @ weight, terms


def value_parts(first: nn.Linear, invariants: list[Tensor], tuple_shape: tuple[int, ...]):
    """The value net's first Linear as (invariants at full shape, their weight, other terms)."""
    full, terms, columns = [], [], 0
    for q in invariants:
        block = first.weight[:, columns : columns + q.shape[-1]]
        columns += q.shape[-1]
        if tuple(q.shape[:-1]) == tuple_shape:
            full.append((q, block))
        else:
            # products of fewer factors live on fewer tuple axes: their share of the first
            # Linear is computed there and broadcast, not expanded to every tuple first
            terms.append(q @ block.t())
    if first.bias is not None:
        terms.append(first.bias)
    if not full:
        return None, None, terms
    q = torch.cat([q for q, _ in full], -1) if len(full) > 1 else full[0][0]
    return q, torch.cat([b for _, b in full], 1).t(), terms


_LIST_FIELDS = ("value_terms", "score_terms", "scale_terms", "mask_factors", "weight_factors")


@dataclass
class TupleTerms:
    """Everything the per-tuple part is a function of: terms at tuple shape (summed where they
    are terms) and matrices. A first Linear's input per tuple is ``h @ matrix + sum(terms)``."""

    q: Tensor | None  # invariants of full-rank products, at full tuple shape; None: there are none
    q_weight: Tensor | None  # their columns of the value net's first Linear, (Q, H)
    value_terms: list[Tensor]  # the rest of the value net's first Linear
    score_matrix: Tensor  # value net's last hidden layer -> score net's first Linear, (H, H')
    score_terms: list[Tensor]  # score_terms[0] is the first tuple position's term
    scale_matrix: Tensor | None  # as score_matrix, for the scale net; None: no covariant output
    scale_terms: list[Tensor]
    mask_factors: list[Tensor]  # per tuple position, (B, 1.., N, 1.., 1) bool
    weight_factors: list[Tensor]  # per tuple position, point weights

    def leaves(self) -> list[Tensor]:
        out = []
        for field in fields(self):
            value = getattr(self, field.name)
            out += value if field.name in _LIST_FIELDS else [] if value is None else [value]
        return out

    def structure(self) -> tuple[int, ...]:
        """Leaves per field: with :meth:`from_leaves`, rebuilds these terms from other tensors."""
        return tuple(
            len(value) if field.name in _LIST_FIELDS else int(value is not None)
            for field in fields(self)
            for value in [getattr(self, field.name)]
        )

    @classmethod
    def from_leaves(cls, structure: tuple[int, ...], leaves: list[Tensor]) -> "TupleTerms":
        remaining = iter(leaves)
        values = {}
        for field, count in zip(fields(cls), structure):
            taken = [next(remaining) for _ in range(count)]
            values[field.name] = taken if field.name in _LIST_FIELDS else taken[0] if taken else None
        return cls(**values)

    def rows(self, start: int, stop: int, rank: int) -> "TupleTerms":
        """The terms of the tuples whose first point is in [start, stop)."""
        cut = [t[:, start:stop] if t.dim() == rank + 2 and t.shape[1] != 1 else t for t in self.leaves()]
        return TupleTerms.from_leaves(self.structure(), cut)


@dataclass(frozen=True)
class TupleNets:
    """The per-tuple nonlinear parts of the nets (after their first Linears) and the layout."""

    value_hidden: nn.Module  # the value net between its first and last Linear
    score_rest: nn.Module  # the score net after its first Linear
    scale_rest: nn.Module | None  # the scale net after its first Linear; None: no covariant output
    rank: int
    points: int
    heads: int
    reduce: bool
    invariant_out: bool
    covariant_channels: int

    def parameters(self) -> list[Tensor]:
        nets = [self.value_hidden, self.score_rest] + ([] if self.scale_rest is None else [self.scale_rest])
        return [p for net in nets for p in net.parameters()]


class FactoredResult(NamedTuple):
    attention: Tensor  # (B, 1 or N, T, heads), before point weights
    hidden: Tensor | None  # attention-pooled value-net hidden units (B, P, heads, H); invariant outputs
    coefficients: Tensor | None  # covariant coefficients per tuple (B, N, T', C); covariant outputs


# --- the per-tuple part -------------------------------------------------------------------------


def _addmm(base_terms: list[Tensor], x: Tensor, weight: Tensor, shape) -> Tensor:
    """x @ weight + sum(base_terms), flattened (T, out); the sum is broadcast to ``shape``."""
    out = weight.shape[1]
    # smallest terms first: a constant joins a per-point term before anything is broadcast
    base_terms = sorted(base_terms, key=lambda t: t.numel())
    base = functools.reduce(operator.add, base_terms) if base_terms else x.new_zeros(out)
    if base.dim() > 1:
        base = base.expand(*shape, out).reshape(-1, out)
    return torch.addmm(base, x.reshape(-1, x.shape[-1]), weight)


def hidden_units(nets: TupleNets, terms: TupleTerms, shape) -> Tensor:
    """The value net's last hidden layer, (tuples, H), for the tuples of ``shape``."""
    if terms.q is None:
        pre = functools.reduce(operator.add, terms.value_terms)
        pre = pre.expand(*shape, -1).reshape(-1, pre.shape[-1])
    else:
        pre = _addmm(terms.value_terms, terms.q, terms.q_weight, shape)
    return nets.value_hidden(pre)


def _head(rest: nn.Module, matrix: Tensor, base_terms: list[Tensor], hidden: Tensor, shape, heads: int) -> Tensor:
    """A score or scale net on the tuples of ``shape``: (*shape, heads, outputs per head)."""
    return rest(_addmm(base_terms, hidden, matrix, shape)).reshape(*shape, heads, -1)


def masked_logits(scores: Tensor, mask_factors: list[Tensor]) -> Tensor:
    if scores.dtype in (torch.float16, torch.bfloat16):
        scores = scores.float()  # the softmax runs in float32 under autocast
    if mask_factors:
        scores = scores.masked_fill(~functools.reduce(operator.and_, mask_factors), MASKED_LOGIT)
    return scores


def tuple_weight(weight_factors: list[Tensor], rank: int) -> Tensor:
    """A tuple's weight: the geometric mean of its points' weights."""
    return math.prod(weight_factors) ** (1.0 / rank)


def point_weighted(attention: Tensor, weight_factors: list[Tensor], rank: int) -> Tensor:
    """Attention times each tuple's weight."""
    if not weight_factors:
        return attention
    return attention * tuple_weight(weight_factors, rank).reshape(*attention.shape[:-1], 1)


def _pooled_rows(nets: TupleNets, terms: TupleTerms, hidden: Tensor, by_row: Tensor, shape) -> list[Tensor]:
    """by_row: weighted attention (b, rows, rest, heads) -> pooled hidden units (b, P, heads, H)
    and covariant coefficients (b, rows, rest, C), as the outputs ask."""
    count, rows = shape[:2]
    rest = nets.points ** (nets.rank - 1)
    out = []
    if nets.invariant_out:
        h3 = hidden.reshape(count, rows, rest, -1)
        if nets.reduce:
            flat = by_row.reshape(count, -1, nets.heads).transpose(-1, -2)
            out.append((flat @ h3.reshape(count, rows * rest, -1)).unsqueeze(1))
        else:
            out.append(by_row.transpose(-1, -2) @ h3)
    if nets.scale_rest is not None:
        scale = _head(nets.scale_rest, terms.scale_matrix, terms.scale_terms, hidden, shape, nets.heads)
        scale = scale.reshape(count, rows, rest, nets.heads, nets.covariant_channels)
        out.append((by_row.unsqueeze(-1) * scale).sum(-2))  # (count, rows, rest, C)
    return out


def _group_shape(nets: TupleNets, count: int, rows: int) -> tuple[int, ...]:
    return (count, rows) + (nets.points,) * (nets.rank - 1)


def whole_groups(nets: TupleNets, terms: TupleTerms) -> list[Tensor]:
    """All outputs of whole softmax groups: [attention] + the pooled outputs."""
    count, rows = terms.score_terms[0].shape[:2]  # the first position's term: (b, rows, 1, ..., H)
    shape = _group_shape(nets, count, rows)
    hidden = hidden_units(nets, terms, shape)
    scores = _head(nets.score_rest, terms.score_matrix, terms.score_terms, hidden, shape, nets.heads)[..., 0]
    scores = masked_logits(scores, terms.mask_factors)
    attention = torch.softmax(scores.reshape(count, 1 if nets.reduce else rows, -1, nets.heads), dim=-2)
    attention = attention.to(hidden.dtype)
    by_row = point_weighted(attention, terms.weight_factors, nets.rank).reshape(count, rows, -1, nets.heads)
    return [attention] + _pooled_rows(nets, terms, hidden, by_row, shape)


def _as_result(nets: TupleNets, outputs) -> FactoredResult:
    hidden = outputs[1] if nets.invariant_out else None
    return FactoredResult(outputs[0], hidden, outputs[-1] if nets.scale_rest is not None else None)


def _whole_groups_of_parts(nets, structure, per_tuple, split, shared) -> list[Tensor]:
    split, shared = iter(split), iter(shared)
    leaves = [next(split) if cut else next(shared) for cut in per_tuple]
    return whole_groups(nets, TupleTerms.from_leaves(structure, leaves))


def run_blockwise(nets: TupleNets, terms: TupleTerms, blocks: list[Block]) -> FactoredResult:
    """:func:`whole_groups` over blocks of whole softmax groups, recomputed in the backward pass."""
    leaves = terms.leaves()
    per_tuple = [t.dim() == nets.rank + 2 for t in leaves]  # at tuple shape: cut by blocks
    split = [t for t, cut in zip(leaves, per_tuple) if cut]
    shared = [t for t, cut in zip(leaves, per_tuple) if not cut]
    fn = functools.partial(_whole_groups_of_parts, nets, terms.structure(), per_tuple)
    return _as_result(nets, blockwise(fn, blocks, split, shared, nets.parameters()))


def _scores_of_rows(nets: TupleNets, terms: TupleTerms, rows: tuple[int, int]) -> Tensor:
    part = terms.rows(*rows, nets.rank)
    shape = _group_shape(nets, part.score_terms[0].shape[0], rows[1] - rows[0])
    hidden = hidden_units(nets, part, shape)
    return _head(nets.score_rest, part.score_matrix, part.score_terms, hidden, shape, nets.heads)[..., 0]


def _pooling_of_rows(nets: TupleNets, terms: TupleTerms, rows: tuple[int, int], by_row: Tensor) -> list[Tensor]:
    part = terms.rows(*rows, nets.rank)
    shape = _group_shape(nets, part.score_terms[0].shape[0], rows[1] - rows[0])
    return _pooled_rows(nets, part, hidden_units(nets, part, shape), by_row, shape)


def run_chunked(nets: TupleNets, terms: TupleTerms, chunk: int) -> FactoredResult:
    """Two passes over chunks of first indices (scores, then pooling), each checkpointed when
    training: memory bounded by one chunk even inside one softmax group."""
    batch = terms.score_terms[0].shape[0]
    points, heads = nets.points, nets.heads
    chunks = [(i, min(i + chunk, points)) for i in range(0, points, chunk)]
    recompute = torch.is_grad_enabled()

    def run(fn, *args):
        return checkpoint(fn, *args, use_reentrant=False) if recompute else fn(*args)

    scores = torch.cat([run(_scores_of_rows, nets, terms, rows) for rows in chunks], 1)
    scores = masked_logits(scores, terms.mask_factors)
    attention = torch.softmax(scores.reshape(batch, 1 if nets.reduce else points, -1, heads), dim=-2)
    attention = attention.to(terms.score_matrix.dtype)
    by_row = point_weighted(attention, terms.weight_factors, nets.rank).reshape(batch, points, -1, heads)
    parts = [run(_pooling_of_rows, nets, terms, rows, by_row[:, rows[0] : rows[1]]) for rows in chunks]
    hidden = coefficients = None
    if nets.invariant_out:
        pooled = [p[0] for p in parts]
        hidden = sum(pooled) if nets.reduce else torch.cat(pooled, 1)
    if nets.scale_rest is not None:
        coefficients = torch.cat([p[-1] for p in parts], 1)
    return FactoredResult(attention, hidden, coefficients)


# --- the invariant output -----------------------------------------------------------------------


def pooled_invariants(nets: TupleNets, attention: Tensor, hidden: Tensor, joined: JoinedParts, batch: int) -> Tensor:
    """Sum over tuples of attention * joined, from pooled hidden units and per-point parts.

    attention: (B, P, T, heads) (point weights included); hidden: (B, P, heads, H).
    """
    points, rank, heads, reduce = nets.points, nets.rank, nets.heads, nets.reduce
    per_output = attention.shape[1]
    # the value net's last Linear and the join are linear: applied once per output
    out = hidden @ joined.lin  # (B, P, heads, D)
    n_dim = out.shape[-1]
    total = attention.sum(-2)  # (B, P, heads)
    if joined.bias is not None:
        out = out + total[..., None] * joined.bias
    grid = attention.reshape(batch, per_output, *((points,) * (rank - (0 if reduce else 1))), heads)
    for k, p in enumerate(joined.point):
        if not reduce and k == 0:
            out = out + total[..., None] * p[:, :, None, :]  # the output point's own features
            continue
        axis = 2 + (k - (0 if reduce else 1))  # tuple axis of position k inside grid
        others = [a for a in range(2, grid.dim() - 1) if a != axis]
        marginal = grid.sum(others) if others else grid  # (B, P, N, heads)
        out = out + marginal.transpose(-1, -2) @ p[:, None]  # (B, P, heads, D)
    if heads == 1:
        return out.squeeze(-2)
    # head h pools only its own block of channels
    blocks = out.reshape(batch, per_output, heads, heads, n_dim // heads)
    return blocks.diagonal(dim1=2, dim2=3).transpose(-1, -2).flatten(-2)
