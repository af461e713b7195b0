"""The factored path (factored first Linears, no per-tuple joined features), run blockwise or
chunked, computes the same function and gradients as the general path on the same weights."""

import pytest
import torch

import gaan.nn as gnn
from gaan.nn.blockwise import blockwise as blockwise_impl

CASES = [
    # (class, components, kwargs)
    (gnn.VectorAttention, 3, dict(rank=2)),
    (gnn.VectorAttention, 3, dict(rank=3, invariant_mode="full", merge="concat", join="concat")),
    (gnn.VectorAttention, 3, dict(rank=1, heads=2)),
    (gnn.VectorAttention, 3, dict(rank=2, reduce=False, heads=4, invariant_mode="partial", include_normalized_products=True)),
    (gnn.VectorAttention, 2, dict(rank=2, dim=2, reduce=False, invariant_mode="full")),
    (gnn.Vector2VectorAttention, 3, dict(rank=2, reduce=False, linear_terms=2, convex_covariants=True)),
    (gnn.TiedVectorAttention, 3, dict(rank=3, reduce=True, heads=2, covariant_mode="full")),
    (gnn.MultivectorAttention, 8, dict(rank=2, reduce=False, invariant_mode="full", merge="concat")),
    (gnn.Multivector2MultivectorAttention, 8, dict(rank=2, linear_terms=1)),
    (gnn.TiedMultivectorAttention, 4, dict(rank=2, dim=2, reduce=False)),
    (gnn.TiedVectorAttention, 3, dict(rank=2, reduce=False, heads=2, covariant_channels=3)),
    (gnn.Vector2VectorAttention, 3, dict(rank=2, reduce=True, covariant_channels=2)),
]


def _run(layer, r, v, mask, weights):
    out = layer(r, v, mask=mask, weights=weights)
    out = out if isinstance(out, tuple) else (out,)
    layer.zero_grad()
    sum((o.square()).sum() for o in out).backward()
    return [o.detach() for o in out], {n: p.grad.clone() for n, p in layer.named_parameters() if p.grad is not None}


# blockwise: 7 tuples per block splits the clouds (reduce=True) or rows (reduce=False) of 5
# points into many blocks; one block: everything at once; chunked: checkpointed rows
VARIANTS = {
    "blockwise": dict(blockwise_min_tuples=0, block_tuples=7),
    "one_block": dict(blockwise_min_tuples=0, block_tuples=10**6),
    "chunked": dict(chunk_size=2, blockwise_min_tuples=None),
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("use_weights", [False, True])
@pytest.mark.parametrize("cls,components,kwargs", CASES, ids=lambda x: getattr(x, "__name__", None) or str(x))
def test_factored_path_matches_general_path(cls, components, kwargs, use_weights, variant):
    torch.manual_seed(0)
    kwargs = {**kwargs, "dim": kwargs.get("dim", 3)}
    factored = cls(8, chunk_size=VARIANTS[variant].get("chunk_size"), **kwargs).double()
    for name in ("blockwise_min_tuples", "block_tuples"):
        setattr(factored, name, VARIANTS[variant].get(name, getattr(factored, name)))
    general = cls(8, **kwargs).double()
    general.load_state_dict(factored.state_dict())
    general.factored_path = False
    r = torch.randn(3, 5, components, dtype=torch.float64)
    assert factored._factored_path_applies(r) and not general._factored_path_applies(r)
    v = torch.randn(3, 5, 8, dtype=torch.float64)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[0, 3:] = False
    mask[2, 1] = False
    weights = torch.rand(3, 5, dtype=torch.float64) + 0.1 if use_weights else None
    out_factored, grad_factored = _run(factored, r, v, mask, weights)
    out_general, grad_general = _run(general, r, v, mask, weights)
    for a, b in zip(out_factored, out_general):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    assert grad_factored.keys() == grad_general.keys()
    for name in grad_factored:
        torch.testing.assert_close(grad_factored[name], grad_general[name], rtol=1e-9, atol=1e-9, msg=name)


def test_large_calls_of_default_layers_take_the_factored_path_and_custom_nets_do_not(monkeypatch):
    calls = []
    original = gnn.GeometricAttention._attend_factored
    monkeypatch.setattr(gnn.GeometricAttention, "_attend_factored", lambda self, *a: calls.append(1) or original(self, *a))
    r, v = torch.randn(2, 4, 3), torch.randn(2, 4, 8)
    layer = gnn.VectorAttention(8)
    layer(r, v)  # 32 tuples: the general path
    assert not calls
    layer.blockwise_min_tuples = 32
    layer(r, v)
    assert calls
    calls.clear()

    class Custom(torch.nn.Module):  # not a Sequential that starts with a Linear: general path
        def __init__(self, n_in, n_out):
            super().__init__()
            self.linear = torch.nn.Linear(n_in, n_out)

        def forward(self, x):
            return self.linear(x)

    layer = gnn.VectorAttention(8, score_net=Custom)
    layer.blockwise_min_tuples = 0
    layer(r, v)
    assert not calls


def test_factored_path_with_neighbour_axis_and_return_attention():
    torch.manual_seed(0)
    factored = gnn.VectorAttention(8, rank=2, reduce=False, return_attention=True).double()
    factored.blockwise_min_tuples = 0
    general = gnn.VectorAttention(8, rank=2, reduce=False, return_attention=True).double()
    general.load_state_dict(factored.state_dict())
    general.factored_path = False
    r, v = torch.randn(2, 6, 4, 3, dtype=torch.float64), torch.randn(2, 6, 4, 8, dtype=torch.float64)
    mask = torch.rand(2, 6, 4) > 0.2
    (a, att_a), (b, att_b) = factored(r, v, mask=mask), general(r, v, mask=mask)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(att_a, att_b)


@pytest.mark.parametrize(
    "batch,points,rank,reduce,block_tuples",
    [
        (4, 5, 2, True, 60),
        (4, 5, 2, False, 60),
        (3, 6, 2, False, 14),
        (2, 5, 2, False, 7),
        (7, 3, 2, True, 20),
        (2, 4, 3, False, 33),
        (5, 3, 1, True, 1),
    ],
)
def test_blocks_tile_the_output_once(batch, points, rank, reduce, block_tuples):
    layer = gnn.VectorAttention(8, rank=rank, reduce=reduce)
    layer.block_tuples = block_tuples
    covered = torch.zeros(batch, points, dtype=torch.int64)
    for clouds, rows in layer._blocks(batch, points):
        covered[clouds, rows] += 1
        tuples = (clouds.stop - clouds.start) * (points if rows.stop is None else rows.stop - rows.start) * points ** (rank - 1)
        # at most the budget, unless one whole softmax group is already larger
        group = points**rank if reduce else points ** (rank - 1)
        assert tuples <= max(block_tuples, group)
    assert (covered == 1).all()


def test_blockwise_and_chunked_training_keep_less_than_the_general_path():
    """Recomputation keeps fewer per-tuple tensors alive for the backward pass."""
    saved = {}

    def count(layer):
        total = [0]

        def pack(t):
            total[0] += t.numel()
            return t

        r, v = torch.randn(4, 24, 3), torch.randn(4, 24, 8, requires_grad=True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = layer(r, v)
        out.sum().backward()
        return total[0]

    torch.manual_seed(0)
    saved["general"] = count(gnn.VectorAttention(8, rank=2, reduce=False))
    blockwise = gnn.VectorAttention(8, rank=2, reduce=False)
    blockwise.blockwise_min_tuples = 0
    saved["blockwise"] = count(blockwise)
    saved["chunked"] = count(gnn.VectorAttention(8, rank=2, reduce=False, chunk_size=4))
    assert saved["blockwise"] < 0.2 * saved["general"]
    assert saved["chunked"] < 0.5 * saved["general"]


@pytest.mark.parametrize("reduce", [True, False])
def test_blockwise_supports_gradients_of_gradients(reduce):
    """Forces as -dE/dr trained on (create_graph=True): second derivatives match the general path."""
    torch.manual_seed(0)
    blockwise = gnn.VectorAttention(8, rank=2, reduce=reduce).double()
    blockwise.blockwise_min_tuples, blockwise.block_tuples = 0, 7
    general = gnn.VectorAttention(8, rank=2, reduce=reduce).double()
    general.load_state_dict(blockwise.state_dict())
    general.factored_path = False
    r0, v = torch.randn(3, 5, 3, dtype=torch.float64), torch.randn(3, 5, 8, dtype=torch.float64)
    results = []
    for layer in (blockwise, general):
        r = r0.clone().requires_grad_(True)
        energy = layer(r, v).square().sum()
        (forces,) = torch.autograd.grad(energy, r, create_graph=True)
        layer.zero_grad()
        forces.square().sum().backward()
        results.append((forces.detach(), {n: p.grad.clone() for n, p in layer.named_parameters()}))
    (f_a, g_a), (f_b, g_b) = results
    torch.testing.assert_close(f_a, f_b)
    for name in g_b:
        assert g_b[name].abs().sum() > 0, name
        torch.testing.assert_close(g_a[name], g_b[name], msg=name)


def test_large_calls_run_blockwise_and_small_ones_not(monkeypatch):
    calls = []
    monkeypatch.setattr("gaan.nn.factored.blockwise", lambda *a, **k: calls.append(1) or blockwise_impl(*a, **k))
    layer = gnn.VectorAttention(8, rank=2)
    layer.blockwise_min_tuples = 2 * 6 * 6
    layer(torch.randn(1, 6, 3), torch.randn(1, 6, 8))  # 36 tuples: general path
    assert not calls
    layer(torch.randn(2, 6, 3), torch.randn(2, 6, 8))  # 72 tuples: blockwise
    assert calls
