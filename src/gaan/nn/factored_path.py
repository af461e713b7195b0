"""The factored path of :class:`gaan.nn.attention.GeometricAttention`: when a call takes it,
and the call itself.

Large calls are evaluated tuple block by tuple block (blockwise) or point chunk by point chunk
(``chunk_size``) with the first layers of the value, score and scale networks split into
per-point terms (:mod:`gaan.nn.factored`), instead of materialising every tuple's features.
A mixin: the layer's class attributes ``factored_path``, ``blockwise_min_tuples`` and
``block_tuples`` tune it per instance, and it uses the layer's products, factors and output
finishing.
"""

import torch
from torch import Tensor

from ..algebra import tuples as gat
from . import factored


class FactoredPath:
    """The factored path of GeometricAttention (see the module docstring)."""

    # Below ``blockwise_min_tuples`` tuples per call, in compiled graphs (inductor plans memory
    # itself) and under autocast (a recomputation would run outside it) the general path runs:
    # on CPU it trains faster than the factored one at those sizes (bench/README.md).

    factored_path = True  # class default; set False on an instance to always take the general path
    blockwise_min_tuples: int | None = 1 << 16  # per call; 0: always blockwise; None: never
    block_tuples: int = 8192  # tuples per block

    def _factored_path_applies(self, r: Tensor) -> bool:
        scale_net = self.scale_net if self.output_kind != "invariant" else None
        if not (self.factored_path and factored.nets_allow_factoring(self.value_net, self.score_net, scale_net)):
            return False
        if not self.aggregation.factorable or self.join == "product":
            return False  # the blockwise path computes softmax over additively joined terms only
        return self._chunked_applies(r) or self._blockwise_applies(r)

    def _chunked_applies(self, r: Tensor) -> bool:
        return self.chunk_size is not None and self.chunk_size < r.shape[1]

    def _blockwise_applies(self, r: Tensor) -> bool:
        tuples = r.shape[0] * r.shape[1] ** self.rank
        return (
            self.blockwise_min_tuples is not None
            and tuples >= self.blockwise_min_tuples
            and not torch.compiler.is_compiling()
            and not torch.is_autocast_enabled(r.device.type)
        )

    def _blocks(self, batch: int, points: int) -> list[tuple[slice, slice]]:
        return factored.softmax_group_blocks(batch, points, self.rank, self.reduce, self.block_tuples)

    def _attend_factored(self, r, v, mask, weights):
        batch, points = r.shape[:2]
        rank = self.rank
        tuple_shape = (batch,) + (points,) * rank
        covariant_out = self.output_kind != "invariant"
        invariant_products, covariant_products = self._products(r)
        invariants = [gat.invariants(p, self.algebra, self.parity) for p in invariant_products]
        q, q_weight, value_terms = factored.value_parts(self.value_net[0], invariants, tuple_shape)
        joined = factored.joined_parts(
            self.value_net[-1],
            v,
            rank,
            self.merge_kernels if self.merge == "concat" else None,
            self.join_kernels if self.join == "concat" else None,
        )
        score_matrix, score_terms = factored.first_layer_parts(self.score_net[0], joined, rank)
        scale_matrix, scale_terms = factored.first_layer_parts(self.scale_net[0], joined, rank) if covariant_out else (None, [])
        terms = factored.TupleTerms(
            q,
            q_weight,
            value_terms,
            score_matrix,
            score_terms,
            scale_matrix,
            scale_terms,
            mask_factors=self._factors(mask),
            weight_factors=self._factors(weights),
        )
        nets = factored.TupleNets(
            self.value_net[1:-1],
            self.score_net[1:],
            self.scale_net[1:] if covariant_out else None,
            rank,
            points,
            self.heads,
            self.reduce,
            self.output_kind in ("invariant", "tied"),
            self.covariant_channels,
        )
        if self._chunked_applies(r):
            result = factored.run_chunked(nets, terms, self.chunk_size)
        else:
            result = factored.run_blockwise(nets, terms, self._blocks(batch, points))

        outputs = []
        if result.coefficients is not None:
            per_output = 1 if self.reduce else points
            covariant = self._combined_covariant(covariant_products).expand(*tuple_shape, -1)
            coefficient = result.coefficients.reshape(batch, per_output, -1, self.covariant_channels)
            flat_covariant = covariant.reshape(batch, per_output, -1, covariant.shape[-1])
            outputs.append(self._pool_covariants(coefficient, flat_covariant))
        if result.hidden is not None:
            weighted = factored.point_weighted(result.attention, terms.weight_factors, rank)
            outputs.append(factored.pooled_invariants(nets, weighted, result.hidden, joined, batch))
        return self._returned(outputs, mask, None, result.attention.reshape(*tuple_shape, self.heads))
