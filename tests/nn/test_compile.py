"""The layers' forward traces into a single torch.compile graph (no graph breaks)."""

import pytest
import torch

import gaan.nn as gnn

dynamo = pytest.importorskip("torch._dynamo")


@pytest.mark.parametrize(
    "cls,components,kwargs",
    [
        (gnn.VectorAttention, 3, dict(rank=2, reduce=False, invariant_mode="full")),
        (gnn.TiedVectorAttention, 3, dict(rank=2, heads=2)),
        (gnn.MultivectorAttention, 8, dict(rank=2)),
        (gnn.VectorAttention, 3, dict(rank=2, score_net=lambda i, o: torch.nn.Linear(i, o))),  # general path
    ],
    ids=["vector-fast", "tied-fast", "multivector-fast", "vector-general"],
)
def test_no_graph_breaks(cls, components, kwargs):
    torch.manual_seed(0)
    layer = cls(8, **kwargs)
    r, v = torch.randn(2, 5, components), torch.randn(2, 5, 8)
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    dynamo.reset()
    explanation = dynamo.explain(layer)(r, v, mask=mask)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1
