"""Geometric algebra attention: the computation behind every layer.

One module, :class:`GeometricAttention`, implements the computation; the public classes
(:mod:`gaan.nn.layers`) only choose what goes in (vectors or multivectors), what comes out
(invariant features, covariant vectors or multivectors, or both) and whether a set of labels
queries the cloud. Large calls take the factored path (:mod:`gaan.nn.factored`).

For each tuple of ``rank`` points the layer forms geometric products of their (multi)vectors,
reads rotation-invariant scalars ``q`` off them, embeds them with ``value_net``, joins that
with the merged features of the tuple's points, scores the tuple with ``score_net`` and
reduces over tuples with a softmax: over all tuples (``reduce=True``, permutation-invariant
output) or over all but the first point (``reduce=False``, one output per point).
"""

import math

import torch
from torch import Tensor, nn

from ..algebra import tuples as gat
from . import factored
from .aggregation import Aggregation, build_aggregation
from .factored_path import FactoredPath
from .mlp import NetworkSpec, build_network
from .validation import check_finite_call, check_labels, check_layer_options, check_point_inputs, check_positive_int


class GeometricAttention(FactoredPath, nn.Module):
    """Attention over geometric products of tuples of points.

    :param n_dim: feature width D of ``v`` (and of the invariant output)
    :param rank: tuple size; cost grows as N**rank
    :param reduce: True: one permutation-invariant output per cloud; False: one per point
    :param invariant_mode: products whose invariants are embedded: 'single', 'partial', 'full'
    :param covariant_mode: products whose covariants are combined into covariant outputs
    :param include_normalized_products: also use each product divided by its norm
    :param linear_mode, linear_terms: learned signed (and dual) sums of products used as extra
        products (3-D, without ``parity``)
    :param merge: how the features of a tuple's points are merged: 'mean' or 'concat'
        (a learned projection per tuple position)
    :param join: how embedded invariants and merged features are joined: 'mean', 'concat' or
        'product' (element-wise: the embedded geometry filters the features, as a continuous
        filter does, instead of being averaged with them)
    :param aggregation: how tuple scores become the coefficients of the sum over tuples
        (:mod:`gaan.nn.aggregation`): 'softmax' (default), 'weighted_softmax' (per-point weights
        enter the normalization: continuous as a weight goes to 0), 'gated_sum', or a module
    :param heads: number of attention heads; each attends over ``n_dim / heads`` channels
    :param parity: keep only reflection-invariant quantities (O(n) instead of SO(n))
    :param convex_covariants: combine covariants convexly (with the origin) instead of linearly
    :param dim: 2 or 3, the dimension of space
    :param score_net, value_net, scale_net: modules, factories ``(in, out) -> module``, or None
        for default two-layer MLPs with ``mlp_hidden`` units (default 2 * n_dim)
    :param covariant_channels: covariant outputs per output point (C > 1: shape (..., C, components)),
        each from its own tuple coefficients (scale net outputs) over the same attention
    :param return_attention: also return the attention weights, shaped (B, [L,] N, ..., N, heads)
    :param chunk_size: if set, tuples are processed in blocks of ``chunk_size`` first indices and,
        when training, recomputed in the backward pass (same function; the factored path only,
        i.e. score/value/scale nets that begin with a Linear). Unlike the default blockwise path for
        large calls (``blockwise_min_tuples``), it bounds memory inside one softmax group too
        (one huge cloud with ``reduce=True``), at the price of a second pass.
    """

    input_kind = "vector"
    output_kind = "invariant"
    labeled = False
    default_covariant_mode = "single"

    def __init__(
        self,
        n_dim: int,
        *,
        rank: int = 2,
        reduce: bool = True,
        invariant_mode: str = "single",
        covariant_mode: str | None = None,
        include_normalized_products: bool = False,
        linear_mode: str = "partial",
        linear_terms: int = 0,
        merge: str = "mean",
        join: str = "mean",
        heads: int = 1,
        parity: bool = False,
        convex_covariants: bool = False,
        dim: int = 3,
        score_net: NetworkSpec = None,
        value_net: NetworkSpec = None,
        scale_net: NetworkSpec = None,
        mlp_hidden: int | None = None,
        activation: str = "silu",
        return_attention: bool = False,
        chunk_size: int | None = None,
        covariant_channels: int = 1,
        aggregation: str | Aggregation | None = None,
    ):
        super().__init__()
        covariant_mode = self.default_covariant_mode if covariant_mode is None else covariant_mode
        check_layer_options(
            n_dim=n_dim,
            rank=rank,
            heads=heads,
            linear_terms=linear_terms,
            covariant_channels=covariant_channels,
            dim=dim,
            modes=dict(invariant_mode=invariant_mode, covariant_mode=covariant_mode, linear_mode=linear_mode),
            merge=merge,
            join=join,
            parity=parity,
            vector_input=self.input_kind == "vector",
        )

        self.n_dim, self.rank, self.reduce, self.heads = n_dim, rank, bool(reduce), heads
        self.invariant_mode, self.covariant_mode = invariant_mode, covariant_mode
        self.include_normalized_products = bool(include_normalized_products)
        self.linear_mode, self.linear_terms = linear_mode, linear_terms if rank > 1 else 0
        self.merge, self.join, self.parity, self.dim = merge, join, bool(parity), dim
        self.convex_covariants, self.return_attention = bool(convex_covariants), bool(return_attention)
        self.covariant_channels = covariant_channels
        self.aggregation = build_aggregation(aggregation)
        if chunk_size is not None:
            check_positive_int("chunk_size", chunk_size)
        self.chunk_size = chunk_size
        self.components = self.algebra.VECTOR_SIZE if self.input_kind == "vector" else self.algebra.MULTIVECTOR_SIZE

        self.invariant_dims = sum(
            gat.product_widths(self.input_kind, rank, invariant_mode, self.algebra, self.include_normalized_products, self.linear_terms)
        )
        hidden = mlp_hidden or 2 * n_dim
        self.value_net = build_network(value_net, self.invariant_dims, n_dim, hidden, activation)
        self.score_net = build_network(score_net, n_dim, heads, hidden, activation)
        if self.output_kind != "invariant":
            self.scale_net = build_network(scale_net, n_dim, heads * covariant_channels, hidden, activation)

        if merge == "concat":
            self.merge_kernels = nn.ParameterList(
                nn.Parameter(torch.randn(n_dim, n_dim) * math.sqrt(2.0 / rank / n_dim)) for _ in range(rank)
            )
        if join == "concat":
            joined = 3 if self.labeled else 2
            self.join_kernels = nn.ParameterList(
                nn.Parameter(torch.randn(n_dim, n_dim) * math.sqrt(2.0 / joined / n_dim)) for _ in range(joined)
            )
        if self.linear_terms:
            terms = {"single": 1, "partial": rank, "full": rank * (rank + 1) // 2}[linear_mode]
            operations = 2 if self.input_kind == "vector" else 4
            self.linear_kernels = nn.Parameter(torch.randn(self.linear_terms, terms, operations, 2))
        if self.output_kind != "invariant" and self.covariant_count > 1:
            self.vector_kernels = nn.Parameter(torch.randn(self.covariant_count) * 0.05)

    @property
    def algebra(self):
        # derived from dim, not stored: a module object would make layers unpicklable (ddp_spawn)
        return gat.algebra_for(self.dim)

    @property
    def covariant_count(self) -> int:
        count = {"single": 1, "partial": self.rank, "full": self.rank * (self.rank + 1) // 2}[self.covariant_mode]
        return count * (2 if self.include_normalized_products else 1) + self.linear_terms

    def extra_repr(self) -> str:
        return (
            f"n_dim={self.n_dim}, rank={self.rank}, reduce={self.reduce}, invariant_mode={self.invariant_mode!r}, "
            f"covariant_mode={self.covariant_mode!r}, merge={self.merge!r}, join={self.join!r}, heads={self.heads}, "
            f"parity={self.parity}, dim={self.dim}, invariant_dims={self.invariant_dims}"
        )

    # --- public call ------------------------------------------------------------------------

    def forward(self, r: Tensor, v: Tensor, mask: Tensor | None = None, weights: Tensor | None = None):
        """r: (B, N, C) or (B, N, K, C); v: (B, N, [K,] D); mask, weights: (B, N, [K])."""
        return self._call(r, v, mask, weights, None, None)

    def _call(self, r, v, mask, weights, labels, label_mask):
        parameter = next(self.parameters(), None)
        check_point_inputs(
            r,
            v,
            mask,
            weights,
            self.components,
            self.n_dim,
            None if parameter is None else parameter.dtype,
            allow_neighbour_axis=not self.labeled,
        )
        if labels is not None:
            check_labels(labels, label_mask, r.shape[0], self.n_dim, r.dtype)
        if mask is not None:
            # padding may hold anything (NaN included): make it inert before any use
            r = torch.where(mask[..., None], r, torch.zeros_like(r))
            v = torch.where(mask[..., None], v, torch.zeros_like(v))
            weights = None if weights is None else torch.where(mask, weights, torch.ones_like(weights))
        if r.dim() == 4:
            # an explicit neighbour axis: every point attends over its own K neighbours
            batch, points = r.shape[:2]
            flat = lambda x: None if x is None else x.reshape(batch * points, *x.shape[2:])
            result = self._attend(flat(r), flat(v), flat(mask), flat(weights), None, None)
            result = _map_tensors(lambda x: x.reshape(batch, points, *x.shape[1:]), result)
        else:
            result = self._attend(r, v, mask, weights, labels, label_mask)
        if not torch.compiler.is_compiling():  # a data-dependent check: compiled graphs go without
            inputs = [("r", r), ("v", v), ("weights", weights), ("labels", labels)]
            check_finite_call(type(self).__name__, inputs, result, self.rank, self.named_parameters())
        return result

    # --- the computation --------------------------------------------------------------------

    def _at(self, x: Tensor, position: int) -> Tensor:
        return factored.at_position(x, position, self.rank)

    def _factors(self, per_point: Tensor | None) -> list[Tensor]:
        """Per-point mask or weights (B, N) at each tuple position: [(B, N, 1.., 1), ...]."""
        return [] if per_point is None else [self._at(per_point[..., None], k) for k in range(self.rank)]

    def _products(self, r: Tensor) -> tuple[list[gat.Product], list[gat.Product]]:
        factors = [self._at(r, k) for k in range(self.rank)]
        if self.input_kind == "vector":
            series = gat.vector_tuple_products(factors, self.algebra)
        else:
            series = gat.multivector_tuple_products(factors, self.algebra)
        linear = []
        if self.linear_terms:
            weights = torch.softmax(self.linear_kernels, -1)[..., 1]
            if self.input_kind == "vector":
                linear = gat.vector_linear_terms(series[self.linear_mode], weights, self.rank)
            else:
                linear = gat.multivector_linear_terms(series[self.linear_mode], weights, self.algebra, self.rank)

        def with_extras(mode: str) -> list[gat.Product]:
            products = list(series[mode])
            if self.include_normalized_products:
                products += [gat.normalized(p) for p in products]
            return products + linear

        invariant_products = with_extras(self.invariant_mode)
        covariant_products = with_extras(self.covariant_mode) if self.output_kind != "invariant" else []
        return invariant_products, covariant_products

    def _combined_covariant(self, products: list[gat.Product]) -> Tensor:
        covariants = [gat.covariant(p, self.algebra, self.parity) for p in products]
        if len(covariants) == 1:
            return covariants[0]
        kernel = self.vector_kernels
        if self.convex_covariants:
            kernel = torch.softmax(torch.cat([kernel, kernel.new_zeros(1)]), 0)
        return sum(kernel[i] * c for i, c in enumerate(covariants))

    def _merged_features(self, v: Tensor) -> Tensor:
        if self.merge == "mean":
            return sum(self._at(v, k) for k in range(self.rank)) / self.rank
        return sum(self._at(v @ kernel, k) for k, kernel in enumerate(self.merge_kernels))

    def _join(self, parts: list[Tensor]) -> Tensor:
        if self.join == "mean":
            return sum(parts) / len(parts)
        if self.join == "product":
            return math.prod(parts)
        return sum(part @ kernel for part, kernel in zip(parts, self.join_kernels))

    def _attend(self, r, v, mask, weights, labels, label_mask):
        batch, points = r.shape[:2]
        rank = self.rank
        if batch == 0:
            return self._attend_no_clouds(r, v, mask, weights, labels, label_mask)
        if labels is None and self._factored_path_applies(r):
            return self._attend_factored(r, v, mask, weights)
        tuple_shape = (batch,) + (points,) * rank

        invariant_products, covariant_products = self._products(r)
        invariants = torch.cat([gat.invariants(p, self.algebra, self.parity).expand(*tuple_shape, -1) for p in invariant_products], -1)
        embedded = self.value_net(invariants)
        parts = [embedded, self._merged_features(v)]
        label_axes = 0 if labels is None else 1
        # per-tuple terms get a label axis (B, 1, N.., C) to broadcast against the labels
        lift = (lambda x: x.unsqueeze(1)) if label_axes else (lambda x: x)
        if labels is not None:
            parts = [labels.reshape(batch, labels.shape[1], *([1] * rank), self.n_dim)] + [lift(x) for x in parts]
        joined = self._join(parts)  # (B, [L,] N, ..., N, D)
        lead_shape = joined.shape[: 1 + label_axes]

        mask_factors = [lift(m) for m in self._factors(mask)]
        if label_mask is not None:
            mask_factors.append(label_mask.reshape(*label_mask.shape, *([1] * (rank + 1))))
        scores = factored.masked_logits(self.score_net(joined), mask_factors)

        # flatten tuples to (lead, P, T, heads): P output points (1 if reduced), T tuples each
        per_output = 1 if self.reduce else points
        flat_shape = (*lead_shape, per_output, -1, self.heads)
        tuple_weights = None
        if weights is not None:
            tuple_weights = lift(factored.tuple_weight(self._factors(weights), rank))
            tuple_weights = tuple_weights.expand(*lead_shape, *tuple_shape[1:], 1).reshape(*flat_shape[:-1], 1)
        # the coefficients of the sum over tuples, tuple weights included
        attention = self.aggregation(scores.reshape(flat_shape), tuple_weights).to(joined.dtype)

        outputs = []
        if self.output_kind in ("vector", "multivector", "tied"):
            covariant = lift(self._combined_covariant(covariant_products).expand(*tuple_shape, -1))
            scale = self.scale_net(joined).reshape(*flat_shape, self.covariant_channels)
            coefficient = (attention.unsqueeze(-1) * scale).sum(-2)  # (lead, P, T, C)
            flat_covariant = covariant.reshape(*covariant.shape[: 1 + label_axes], per_output, -1, covariant.shape[-1])
            outputs.append(self._pool_covariants(coefficient, flat_covariant))
        if self.output_kind in ("invariant", "tied"):
            values = joined.reshape(*lead_shape, per_output, -1, self.n_dim)
            if self.heads == 1:
                pooled = (attention.squeeze(-1).unsqueeze(-2) @ values).squeeze(-2)
            else:
                channels = values.reshape(*values.shape[:-1], self.heads, self.n_dim // self.heads)
                pooled = torch.einsum("...th,...thc->...hc", attention, channels).flatten(-2)
            outputs.append(pooled)

        return self._returned(outputs, mask, label_mask, attention.reshape(*lead_shape, *tuple_shape[1:], self.heads))

    def _attend_no_clouds(self, r, v, mask, weights, labels, label_mask):
        """A batch of no clouds: the outputs of one placeholder cloud, cut to none (right shapes,
        and r and v stay in the graph)."""
        grow = lambda x: None if x is None else torch.cat([x, x.new_ones((1, *x.shape[1:]))])
        result = self._attend(*(grow(x) for x in (r, v, mask, weights, labels, label_mask)))
        return _map_tensors(lambda x: x[:0], result)

    @staticmethod
    def _pool_covariants(coefficient: Tensor, covariant: Tensor) -> Tensor:
        """Coefficients (..., P, T, C) times tuple covariants (..., P, T, components), summed
        over tuples, as (..., P, C * components) for _finish (_finish_all restores C)."""
        return (coefficient.transpose(-1, -2) @ covariant).flatten(-2)

    def _returned(self, outputs: list[Tensor], mask, label_mask, attention: Tensor):
        """The call's result: finished outputs (a tuple if several), with the attention if asked."""
        outputs = self._finish_all(outputs, mask, label_mask)
        result = tuple(outputs) if len(outputs) > 1 else outputs[0]
        return (result, attention) if self.return_attention else result

    def _finish_all(self, outputs: list[Tensor], mask: Tensor | None, label_mask: Tensor | None) -> list[Tensor]:
        """_finish each output; a covariant one (always first) gets its channel axis back
        (..., C, components), or none when C == 1."""
        finished = [self._finish(x, mask, label_mask) for x in outputs]
        if self.output_kind != "invariant":
            covariant = finished[0].unflatten(-1, (self.covariant_channels, -1))
            finished[0] = covariant.squeeze(-2) if self.covariant_channels == 1 else covariant
        return finished

    def _finish(self, output: Tensor, mask: Tensor | None, label_mask: Tensor | None) -> Tensor:
        """Drop the reduced axis and zero the outputs of padding."""
        if self.reduce:
            output = output.squeeze(-2)  # (B, [L,] C)
            if mask is not None:
                any_real = mask.any(-1)
                output = output * any_real.reshape(any_real.shape[0], *([1] * (output.dim() - 1))).to(output.dtype)
        elif mask is not None:
            point_mask = mask.unsqueeze(1) if self.labeled else mask
            output = output * point_mask[..., None].to(output.dtype)
        if label_mask is not None:
            output = output * label_mask.reshape(*label_mask.shape, *([1] * (output.dim() - 2))).to(output.dtype)
        return output


def _map_tensors(fn, result):
    """fn on every tensor of a layer's result: a tensor or (nested) tuples of them."""
    return tuple(_map_tensors(fn, x) for x in result) if isinstance(result, tuple) else fn(result)
