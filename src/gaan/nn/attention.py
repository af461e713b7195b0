"""Geometric algebra attention layers.

One module, :class:`GeometricAttention`, implements the computation; the public classes only
choose what goes in (vectors or multivectors), what comes out (invariant features,
covariant vectors or multivectors, or both) and whether a set of labels queries the cloud.

For each tuple of ``rank`` points the layer forms geometric products of their (multi)vectors,
reads rotation-invariant scalars ``q`` off them, embeds them with ``value_net``, joins that
with the merged features of the tuple's points, scores the tuple with ``score_net`` and
reduces over tuples with a softmax: over all tuples (``reduce=True``, permutation-invariant
output) or over all but the first point (``reduce=False``, one output per point).
"""

import functools
import math
import operator

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..algebra import tuples as gat
from .blockwise import blockwise
from .mlp import NetworkSpec, build_network
from .validation import check_choice, check_labels, check_point_inputs, check_positive_int

MASKED_LOGIT = -1e9
COMBINE_MODES = ("mean", "concat")


class GeometricAttention(nn.Module):
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
    :param join: how embedded invariants and merged features are joined: 'mean' or 'concat'
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
    ):
        super().__init__()
        covariant_mode = self.default_covariant_mode if covariant_mode is None else covariant_mode
        check_positive_int("n_dim", n_dim)
        check_positive_int("rank", rank)
        check_positive_int("heads", heads)
        check_positive_int("linear_terms", linear_terms, minimum=0)
        check_positive_int("covariant_channels", covariant_channels)
        check_choice("dim", dim, (2, 3))
        for name, value in (("invariant_mode", invariant_mode), ("covariant_mode", covariant_mode), ("linear_mode", linear_mode)):
            check_choice(name, value, gat.PRODUCT_MODES)
        check_choice("merge", merge, COMBINE_MODES)
        check_choice("join", join, COMBINE_MODES)
        if n_dim % heads:
            raise ValueError(f"heads={heads} must divide n_dim={n_dim}")
        if linear_terms and rank > 1 and (parity or (dim == 2 and self.input_kind == "vector")):
            raise ValueError("linear_terms needs dim=3 and parity=False for vector inputs (and parity=False for multivectors): duals mix proper and pseudo quantities")

        self.n_dim, self.rank, self.reduce, self.heads = n_dim, rank, bool(reduce), heads
        self.invariant_mode, self.covariant_mode = invariant_mode, covariant_mode
        self.include_normalized_products = bool(include_normalized_products)
        self.linear_mode, self.linear_terms = linear_mode, linear_terms if rank > 1 else 0
        self.merge, self.join, self.parity, self.dim = merge, join, bool(parity), dim
        self.convex_covariants, self.return_attention = bool(convex_covariants), bool(return_attention)
        self.covariant_channels = covariant_channels
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
        check_point_inputs(r, v, mask, weights, self.components, self.n_dim, allow_neighbour_axis=not self.labeled)
        if r.dim() == 4:
            # an explicit neighbour axis: every point attends over its own K neighbours
            batch, points = r.shape[:2]
            flat = lambda x: None if x is None else x.reshape(batch * points, *x.shape[2:])
            result = self._attend(flat(r), flat(v), flat(mask), flat(weights), None, None)
            unflat = lambda x: x.reshape(batch, points, *x.shape[1:])
            return tuple(unflat(x) for x in result) if isinstance(result, tuple) else unflat(result)
        if labels is not None:
            check_labels(labels, label_mask, r.shape[0], self.n_dim)
        return self._attend(r, v, mask, weights, labels, label_mask)

    # --- the computation --------------------------------------------------------------------

    def _at(self, x: Tensor, position: int) -> Tensor:
        """View per-point x (B, N, C) with its point axis at tuple position ``position``."""
        shape = [x.shape[0]] + [1] * self.rank + [x.shape[-1]]
        shape[1 + position] = x.shape[1]
        return x.reshape(shape)

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
        return sum(part @ kernel for part, kernel in zip(parts, self.join_kernels))

    def _attend(self, r, v, mask, weights, labels, label_mask):
        batch, points = r.shape[:2]
        rank = self.rank
        if mask is not None:
            # padding may hold anything (NaN included): make it inert before any product
            r = torch.where(mask[..., None], r, torch.zeros_like(r))
            v = torch.where(mask[..., None], v, torch.zeros_like(v))
        if labels is None and self._factored_path_applies(r):
            return self._attend_factored(r, v, mask, weights)
        tuple_shape = (batch,) + (points,) * rank

        invariant_products, covariant_products = self._products(r)
        invariants = torch.cat(
            [gat.invariants(p, self.algebra, self.parity).expand(*tuple_shape, -1) for p in invariant_products], -1
        )
        embedded = self.value_net(invariants)
        parts = [embedded, self._merged_features(v)]
        label_axes = 0
        if labels is not None:
            label_axes = 1
            lift = lambda x: x.unsqueeze(1)  # (B, 1, N.., C): broadcast against the label axis
            parts = [labels.reshape(batch, labels.shape[1], *([1] * rank), self.n_dim)] + [lift(x) for x in parts]
        joined = self._join(parts)  # (B, [L,] N, ..., N, D)
        lead_shape = joined.shape[: 1 + label_axes]

        tuple_weights = None
        if weights is not None:
            tuple_weights = math.prod(self._at(weights[..., None], k) for k in range(rank)) ** (1.0 / rank)
            if label_axes:
                tuple_weights = tuple_weights.unsqueeze(1)

        scores = self.score_net(joined)
        if scores.dtype in (torch.float16, torch.bfloat16):
            scores = scores.float()  # the softmax runs in float32 under autocast
        tuple_mask = None
        if mask is not None:
            tuple_mask = functools.reduce(operator.and_, (self._at(mask[..., None], k) for k in range(rank)))
            if label_axes:
                tuple_mask = tuple_mask.unsqueeze(1)
        if label_mask is not None:
            label_valid = label_mask.reshape(*label_mask.shape, *([1] * (rank + 1)))
            tuple_mask = label_valid if tuple_mask is None else tuple_mask & label_valid
        if tuple_mask is not None:
            scores = scores.masked_fill(~tuple_mask, MASKED_LOGIT)

        # flatten tuples to (lead, P, T, heads): P output points (1 if reduced), T tuples each
        per_output = 1 if self.reduce else points
        flat_shape = (*lead_shape, per_output, -1, self.heads)
        attention = torch.softmax(scores.reshape(flat_shape), dim=-2).to(joined.dtype)

        outputs = []
        if self.output_kind in ("vector", "multivector", "tied"):
            covariant = self._combined_covariant(covariant_products)
            covariant = covariant.expand(*tuple_shape, -1)
            if label_axes:
                covariant = covariant.unsqueeze(1)
            scale = self.scale_net(joined)
            if tuple_weights is not None:
                scale = scale * tuple_weights
            scale = scale.reshape(*flat_shape, self.covariant_channels)
            coefficient = (attention.unsqueeze(-1) * scale).sum(-2)  # (lead, P, T, C)
            flat_covariant = covariant.reshape(*covariant.shape[: 1 + label_axes], per_output, -1, covariant.shape[-1])
            outputs.append(self._pool_covariants(coefficient, flat_covariant))
        if self.output_kind in ("invariant", "tied"):
            values = joined if tuple_weights is None else joined * tuple_weights
            values = values.reshape(*lead_shape, per_output, -1, self.n_dim)
            if self.heads == 1:
                pooled = (attention.squeeze(-1).unsqueeze(-2) @ values).squeeze(-2)
            else:
                channels = values.reshape(*values.shape[:-1], self.heads, self.n_dim // self.heads)
                pooled = torch.einsum("...th,...thc->...hc", attention, channels).flatten(-2)
            outputs.append(pooled)

        outputs = self._finish_all(outputs, mask, label_mask)
        result = tuple(outputs) if len(outputs) > 1 else outputs[0]
        if self.return_attention:
            return result, attention.reshape(*lead_shape, *tuple_shape[1:], self.heads)
        return result

    # --- the factored path: large calls (blockwise) and chunking ------------------------------
    # For score/value/scale nets that start with a Linear (value net also ending with one), the
    # linear algebra around the per-tuple nonlinearities is refactored (same function, other
    # rounding): the value net's first Linear is applied per product at that product's own
    # broadcast shape; merged point features enter the score/scale nets' first Linear once per
    # point; the embedded invariants and the joined features never exist per tuple, since the
    # value net's last Linear, the join and the next first Linear compose into one matrix, and
    # the attention-weighted sum is taken over the value net's hidden units instead. The
    # per-tuple part then runs blockwise (gaan.nn.blockwise): blocks of whole softmax groups,
    # recomputed in the backward pass, so no per-tuple tensor is kept for it (3-8x less memory),
    # or in checkpointed chunks of first indices (``chunk_size``). Below
    # ``blockwise_min_tuples`` tuples per call, in compiled graphs (inductor plans memory
    # itself) and under autocast (a recomputation would run outside it) the general path runs:
    # on CPU it trains faster than either at those sizes (bench/README.md).

    factored_path = True  # class default; set False on an instance to always take the general path
    blockwise_min_tuples: int | None = 1 << 16  # per call; 0: always blockwise; None: never
    block_tuples: int = 8192  # tuples per block

    def _factored_path_applies(self, r: Tensor) -> bool:
        def starts_linear(net, ends_linear=False):
            return (isinstance(net, nn.Sequential) and len(net) >= 2 and isinstance(net[0], nn.Linear)
                    and (not ends_linear or isinstance(net[-1], nn.Linear)))

        ok = self.factored_path and starts_linear(self.value_net, True) and starts_linear(self.score_net)
        if self.output_kind != "invariant":
            ok = ok and starts_linear(self.scale_net)
        return ok and (self._chunked_applies(r) or self._blockwise_applies(r))

    def _chunked_applies(self, r: Tensor) -> bool:
        return self.chunk_size is not None and self.chunk_size < r.shape[1]

    def _blockwise_applies(self, r: Tensor) -> bool:
        tuples = r.shape[0] * r.shape[1] ** self.rank
        return (self.blockwise_min_tuples is not None and tuples >= self.blockwise_min_tuples
                and not torch.compiler.is_compiling() and not torch.is_autocast_enabled(r.device.type))

    def _blocks(self, batch: int, points: int) -> list[tuple[slice, slice]]:
        """Whole softmax groups per block, at most ``block_tuples`` tuples each unless one group
        is larger, in as few blocks of as equal sizes as that allows."""

        def even(total, group):  # block length <= budget // group, blocks as equal as possible
            most = max(1, self.block_tuples // group)
            count = -(-total // most)
            return -(-total // count)

        per_cloud = points ** self.rank
        if self.reduce or per_cloud <= self.block_tuples:
            clouds = even(batch, per_cloud)
            return [(slice(i, min(i + clouds, batch)), slice(None)) for i in range(0, batch, clouds)]
        rows = even(points, points ** (self.rank - 1))
        return [(slice(i, i + 1), slice(j, min(j + rows, points))) for i in range(batch) for j in range(0, points, rows)]

    def _joined_parts(self, v: Tensor):
        """joined = h @ lin + bias + sum_k at(point[k], k), h the value net's last hidden layer."""
        last = self.value_net[-1]
        w2 = last.weight.t()  # (H, D)
        b2 = last.bias
        rank = self.rank
        if self.merge == "mean":
            merged = [v / rank] * rank
        else:
            merged = [v @ kernel for kernel in self.merge_kernels]
        if self.join == "mean":
            lin, bias, point = w2 / 2, None if b2 is None else b2 / 2, [m / 2 for m in merged]
        else:
            j0, j1 = self.join_kernels
            lin, bias, point = w2 @ j0, None if b2 is None else b2 @ j0, [m @ j1 for m in merged]
        return lin, bias, point

    def _slice(self, x, rows):
        """Rows of the first tuple axis of a broadcastable per-tuple tensor (others untouched)."""
        if rows is None or x.dim() != self.rank + 2 or x.shape[1] == 1:
            return x
        return x[:, rows[0]:rows[1]]

    @staticmethod
    def _addmm(base_terms, x, weight, shape):
        """x @ weight + sum(base_terms), flattened (T, out); the sum is broadcast to ``shape``."""
        out = weight.shape[1]
        # smallest terms first: a constant joins a per-point term before anything is broadcast
        base_terms = sorted(base_terms, key=lambda t: t.numel())
        base = functools.reduce(operator.add, base_terms) if base_terms else x.new_zeros(out)
        if base.dim() > 1:
            base = base.expand(*shape, out).reshape(-1, out)
        return torch.addmm(base, x.reshape(-1, x.shape[-1]), weight)

    def _first_layer_parts(self, net, lin, bias, point):
        """net[0](joined) = h @ matrix + sum(terms): joined is never built per tuple."""
        first = net[0]
        weight = first.weight.t()
        terms = [self._at(p @ weight, k) for k, p in enumerate(point)]
        if bias is not None:
            terms.append(bias @ weight)
        if first.bias is not None:
            terms.append(first.bias)
        return lin @ weight, terms

    def _value_parts(self, invariant_products, tuple_shape):
        """The value net's first Linear as (invariants at full shape, their weight, other terms)."""
        first = self.value_net[0]
        full, terms, columns = [], [], 0
        for product in invariant_products:
            q = gat.invariants(product, self.algebra, self.parity)
            block = first.weight[:, columns:columns + q.shape[-1]]
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

    def _attend_factored(self, r, v, mask, weights):
        batch, points = r.shape[:2]
        rank, heads = self.rank, self.heads
        tuple_shape = (batch,) + (points,) * rank
        rest = points ** (rank - 1)
        invariant_products, covariant_products = self._products(r)
        q, q_weight, value_terms = self._value_parts(invariant_products, tuple_shape)
        lin, bias, point = self._joined_parts(v)
        score_matrix, score_terms = self._first_layer_parts(self.score_net, lin, bias, point)
        covariant_out = self.output_kind in ("vector", "multivector", "tied")
        invariant_out = self.output_kind in ("invariant", "tied")
        scale_matrix, scale_terms = self._first_layer_parts(self.scale_net, lin, bias, point) if covariant_out else (None, [])
        # everything per tuple is a function of these (broadcastable per-tuple terms, matrices)
        groups = {
            "q": [] if q is None else [q], "q_weight": [] if q is None else [q_weight], "value": value_terms,
            "score_matrix": [score_matrix], "score": score_terms,
            "scale_matrix": [] if scale_matrix is None else [scale_matrix], "scale": scale_terms,
            "mask": [] if mask is None else [self._at(mask[..., None], k) for k in range(rank)],
            "weight": [] if weights is None else [self._at(weights[..., None], k) for k in range(rank)],
        }

        def hidden_of(g, shape):
            """The value net's last hidden layer, (tuples, H), for the tuples of ``shape``."""
            if not g["q"]:
                pre = functools.reduce(operator.add, g["value"]).expand(*shape, -1).reshape(-1, self.value_net[0].out_features)
            else:
                pre = self._addmm(g["value"], g["q"][0], g["q_weight"][0], shape)
            return self.value_net[1:-1](pre)

        def head_of(name, g, h, shape):
            net = self.score_net if name == "score" else self.scale_net
            return net[1:](self._addmm(g[name], h, g[f"{name}_matrix"][0], shape)).reshape(*shape, heads, -1)

        def masked(g, scores):
            if scores.dtype in (torch.float16, torch.bfloat16):
                scores = scores.float()  # the softmax runs in float32 under autocast
            if g["mask"]:
                scores = scores.masked_fill(~functools.reduce(operator.and_, g["mask"]), MASKED_LOGIT)
            return scores

        def weighted_of(g, att):
            if not g["weight"]:
                return att
            return att * (math.prod(g["weight"]) ** (1.0 / rank)).reshape(*att.shape[:-1], 1)

        def pooled_of(g, h, by_row, shape):
            """by_row: weighted attention (b, rows, rest, heads) -> pooled hidden units (b, P,
            heads, H) and covariant coefficients (b, rows, rest), as the outputs ask."""
            count, rows = shape[:2]
            out = []
            if invariant_out:
                h3 = h.reshape(count, rows, rest, -1)
                if self.reduce:
                    out.append((by_row.reshape(count, -1, heads).transpose(-1, -2) @ h3.reshape(count, rows * rest, -1)).unsqueeze(1))
                else:
                    out.append(by_row.transpose(-1, -2) @ h3)
            if covariant_out:
                scale = head_of("scale", g, h, shape).reshape(count, rows, rest, heads, self.covariant_channels)
                out.append((by_row.unsqueeze(-1) * scale).sum(-2))  # (count, rows, rest, C)
            return out

        def core(g):
            """All outputs of whole softmax groups: attention, then pooled_of's."""
            count, rows = g["score"][0].shape[:2]  # the first point's score term: (b, rows, 1, ..., H)
            shape = (count, rows) + (points,) * (rank - 1)
            h = hidden_of(g, shape)
            scores = masked(g, head_of("score", g, h, shape)[..., 0])
            att = torch.softmax(scores.reshape(count, 1 if self.reduce else rows, -1, heads), dim=-2).to(h.dtype)
            return [att] + pooled_of(g, h, weighted_of(g, att).reshape(count, rows, rest, heads), shape)

        if self._chunked_applies(r):
            results = self._chunked(groups, self.chunk_size, points, hidden_of, head_of, masked, weighted_of, pooled_of)
        else:
            results = self._run_blockwise(core, groups, batch, points)

        attention = results[0]
        outputs = []
        if covariant_out:
            per_output = 1 if self.reduce else points
            covariant = self._combined_covariant(covariant_products).expand(*tuple_shape, -1)
            coefficient = results[-1].reshape(batch, per_output, -1, self.covariant_channels)
            flat_covariant = covariant.reshape(batch, per_output, -1, covariant.shape[-1])
            outputs.append(self._pool_covariants(coefficient, flat_covariant))
        if invariant_out:
            weighted = weighted_of(groups, attention)
            outputs.append(self._pooled(weighted, results[1], lin, bias, point, tuple_shape))
        outputs = self._finish_all(outputs, mask, None)
        result = tuple(outputs) if len(outputs) > 1 else outputs[0]
        if self.return_attention:
            return result, attention.reshape(*tuple_shape, heads)
        return result

    def _run_blockwise(self, core, groups, batch, points):
        """core over blocks of whole softmax groups, recomputed in the backward pass."""
        split, shared, layout = [], [], {}
        for name, tensors in groups.items():
            layout[name] = []
            for t in tensors:
                per_tuple = t.dim() == self.rank + 2  # broadcastable (B, N, ..., C): cut by blocks
                target = split if per_tuple else shared
                layout[name].append((per_tuple, len(target)))
                target.append(t)
        nets = [self.value_net[1:-1], self.score_net[1:]] + ([self.scale_net[1:]] if self.output_kind != "invariant" else [])

        def block_core(split_parts, shared_parts):
            return core({name: [(split_parts if cut else shared_parts)[i] for cut, i in refs] for name, refs in layout.items()})

        parameters = [p for net in nets for p in net.parameters()]
        return blockwise(block_core, self._blocks(batch, points), split, shared, parameters)

    def _chunked(self, groups, chunk, points, hidden_of, head_of, masked, weighted_of, pooled_of):
        """Two passes over chunks of first indices (scores, then pooling), each checkpointed when
        training: memory bounded by one chunk even inside one softmax group."""
        batch = groups["score"][0].shape[0]
        heads, rest = self.heads, points ** (self.rank - 1)
        chunks = [(i, min(i + chunk, points)) for i in range(0, points, chunk)]
        recompute = torch.is_grad_enabled()
        run = (lambda f, *a: checkpoint(f, *a, use_reentrant=False)) if recompute else (lambda f, *a: f(*a))
        rows_of = lambda rows: {name: [self._slice(t, rows) for t in ts] for name, ts in groups.items()}
        shape_of = lambda rows: (batch, rows[1] - rows[0]) + (points,) * (self.rank - 1)

        def scores_of(rows):
            g = rows_of(rows)
            return head_of("score", g, hidden_of(g, shape_of(rows)), shape_of(rows))[..., 0]

        scores = masked(groups, torch.cat([run(scores_of, rows) for rows in chunks], 1))
        attention = torch.softmax(scores.reshape(batch, 1 if self.reduce else points, -1, heads), dim=-2)
        attention = attention.to(groups["score_matrix"][0].dtype)
        by_row = weighted_of(groups, attention).reshape(batch, points, rest, heads)

        def pooling_pass(rows, att):
            g = rows_of(rows)
            return pooled_of(g, hidden_of(g, shape_of(rows)), att, shape_of(rows))

        parts = [run(pooling_pass, rows, by_row[:, rows[0]:rows[1]]) for rows in chunks]
        results = [attention]
        if self.output_kind in ("invariant", "tied"):
            pooled = [p[0] for p in parts]
            results.append(sum(pooled) if self.reduce else torch.cat(pooled, 1))
        if self.output_kind != "invariant":
            results.append(torch.cat([p[-1] for p in parts], 1))
        return results

    def _pooled(self, attention, hidden, lin, bias, point, tuple_shape) -> Tensor:
        """Sum over tuples of attention * joined, from pooled hidden units and per-point parts.

        attention: (B, P, T, heads) (tuple weights included); hidden: (B, P, heads, H).
        """
        batch, points = tuple_shape[:2]
        rank, heads, n_dim = self.rank, self.heads, self.n_dim
        per_output = attention.shape[1]
        # the value net's last Linear and the join are linear: applied once per output
        out = hidden @ lin  # (B, P, heads, D)
        total = attention.sum(-2)  # (B, P, heads)
        if bias is not None:
            out = out + total[..., None] * bias
        grid = attention.reshape(batch, per_output, *((points,) * (rank - (0 if self.reduce else 1))), heads)
        for k, p in enumerate(point):
            if not self.reduce and k == 0:
                out = out + total[..., None] * p[:, :, None, :]  # the output point's own features
                continue
            axis = 2 + (k - (0 if self.reduce else 1))  # tuple axis of position k inside grid
            others = [a for a in range(2, grid.dim() - 1) if a != axis]
            marginal = grid.sum(others) if others else grid  # (B, P, N, heads)
            out = out + marginal.transpose(-1, -2) @ p[:, None]  # (B, P, heads, D)
        if heads == 1:
            return out.squeeze(-2)
        # head h pools only its own block of channels
        blocks = out.reshape(batch, per_output, heads, heads, n_dim // heads)
        return blocks.diagonal(dim1=2, dim2=3).transpose(-1, -2).flatten(-2)

    @staticmethod
    def _pool_covariants(coefficient: Tensor, covariant: Tensor) -> Tensor:
        """Coefficients (..., P, T, C) times tuple covariants (..., P, T, components), summed
        over tuples, as (..., P, C * components) for _finish (_finish_all restores C)."""
        return (coefficient.transpose(-1, -2) @ covariant).flatten(-2)

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


class VectorAttention(GeometricAttention):
    """Rotation-invariant features from vectors: (B, D) if ``reduce`` else (B, N, D)."""


class Vector2VectorAttention(GeometricAttention):
    """A rotation-covariant vector from vectors: (B, C) if ``reduce`` else (B, N, C)."""

    output_kind = "vector"
    default_covariant_mode = "partial"


class TiedVectorAttention(GeometricAttention):
    """Shared attention weights for both a covariant vector and invariant features.

    Returns ``(vectors, invariants)``.
    """

    output_kind = "tied"
    default_covariant_mode = "partial"


class MultivectorAttention(GeometricAttention):
    """Rotation-invariant features from multivectors (B, N, 8) (or (B, N, 4) in 2-D)."""

    input_kind = "multivector"


class Multivector2MultivectorAttention(GeometricAttention):
    """A rotation-covariant multivector from multivectors."""

    input_kind = "multivector"
    output_kind = "multivector"
    default_covariant_mode = "partial"


class TiedMultivectorAttention(GeometricAttention):
    """Shared attention for a covariant multivector and invariant features: ``(multivectors, invariants)``."""

    input_kind = "multivector"
    output_kind = "tied"
    default_covariant_mode = "partial"


class _LabeledMixin:
    labeled = True

    def forward(self, r: Tensor, v: Tensor, labels: Tensor, mask: Tensor | None = None,
                label_mask: Tensor | None = None, weights: Tensor | None = None):
        """labels (B, L, D) query the cloud: output (B, L, C) if ``reduce`` else (B, L, N, C)."""
        return self._call(r, v, mask, weights, labels, label_mask)


class LabeledVectorAttention(_LabeledMixin, GeometricAttention):
    """One covariant vector per label: translates a point cloud into a labelled one."""

    output_kind = "vector"
    default_covariant_mode = "partial"


class LabeledMultivectorAttention(_LabeledMixin, GeometricAttention):
    """One covariant multivector per label."""

    input_kind = "multivector"
    output_kind = "multivector"
    default_covariant_mode = "partial"
