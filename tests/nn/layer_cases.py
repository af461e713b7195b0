"""Layer configurations and the group actions to check them under, shared by the nn tests."""

from dataclasses import dataclass

import torch
from geometry_helpers import random_multivectors, rotate_vectors, transform_multivectors

import gaan.nn as gnn

LAYER_CLASSES = {
    "VectorAttention": gnn.VectorAttention,
    "Vector2VectorAttention": gnn.Vector2VectorAttention,
    "TiedVectorAttention": gnn.TiedVectorAttention,
    "MultivectorAttention": gnn.MultivectorAttention,
    "Multivector2MultivectorAttention": gnn.Multivector2MultivectorAttention,
    "TiedMultivectorAttention": gnn.TiedMultivectorAttention,
    "LabeledVectorAttention": gnn.LabeledVectorAttention,
    "LabeledMultivectorAttention": gnn.LabeledMultivectorAttention,
}


@dataclass
class Case:
    kind: str
    rank: int
    dim: int
    reduce: bool
    invariant_mode: str = "single"
    covariant_mode: str = "partial"
    merge: str = "mean"
    join: str = "mean"
    heads: int = 1
    parity: bool = False
    include_normalized_products: bool = False
    convex_covariants: bool = False
    linear_terms: int = 0
    covariant_channels: int = 1  # ignored by invariant-only layers
    aggregation: str = "softmax"
    n_dim: int = 4

    @property
    def cls(self):
        return LAYER_CLASSES[self.kind]

    @property
    def multivector_input(self) -> bool:
        return self.cls.input_kind == "multivector"

    @property
    def labeled(self) -> bool:
        return self.cls.labeled

    def build(self, dtype=torch.float64, seed: int = 0):
        torch.manual_seed(seed)
        layer = self.cls(
            self.n_dim,
            rank=self.rank,
            dim=self.dim,
            reduce=self.reduce,
            invariant_mode=self.invariant_mode,
            covariant_mode=self.covariant_mode,
            merge=self.merge,
            join=self.join,
            heads=self.heads,
            parity=self.parity,
            include_normalized_products=self.include_normalized_products,
            convex_covariants=self.convex_covariants,
            linear_terms=self.linear_terms,
            covariant_channels=self.covariant_channels,
            aggregation=self.aggregation,
            mlp_hidden=8,
        )
        return layer.to(dtype)

    def inputs(self, batch: int, points: int, gen: torch.Generator, dtype=torch.float64, labels: int = 3):
        if self.multivector_input:
            r = random_multivectors((batch, points), self.dim, gen, dtype)
        else:
            r = torch.randn(batch, points, self.dim, generator=gen, dtype=dtype)
        v = torch.randn(batch, points, self.n_dim, generator=gen, dtype=dtype)
        extra = (torch.randn(batch, labels, self.n_dim, generator=gen, dtype=dtype),) if self.labeled else ()
        return r, v, extra

    def act_on_input(self, r, q):
        return transform_multivectors(r, q) if self.multivector_input else rotate_vectors(r, q)


def output_parts(layer, output):
    """(part, how it transforms) for each output: 'invariant', 'vector' or 'multivector'."""
    kinds = {
        "invariant": ["invariant"],
        "vector": ["vector"],
        "multivector": ["multivector"],
        "tied": ["multivector" if layer.input_kind == "multivector" else "vector", "invariant"],
    }[layer.output_kind]
    outputs = output if isinstance(output, tuple) else (output,)
    return list(zip(outputs, kinds))


def act_on_output(part, kind, q):
    if kind == "invariant":
        return part
    if kind == "vector":
        return rotate_vectors(part, q)
    return transform_multivectors(part, q)
