"""gaan's layers compute the reference implementation's function (geometric-algebra-attention).

The reference is a test-only dependency: without it these tests are skipped. Weights are
shared (the same score/value/scale modules, merge/join/linear/vector kernels copied over).
"""

import itertools

import pytest
import torch

ref = pytest.importorskip("geometric_algebra_attention.pytorch")
import gaan.nn as gnn  # noqa: E402

B, N, D = 2, 5, 8
VECTOR_KINDS = [("VectorAttention", False), ("Vector2VectorAttention", True), ("TiedVectorAttention", True)]
MV_KINDS = [("MultivectorAttention", False), ("Multivector2MultivectorAttention", True)]


def _configs():
    """A representative, deterministic subset of the full grid (every ``stride``-th config)."""
    out = []
    for kinds, mv, stride in ((VECTOR_KINDS, False, 23), (MV_KINDS, True, 17)):
        grid = []
        for (name, covariant), rank, im, cm, red, merge, join, norm, lt in itertools.product(
            kinds,
            [1, 2, 3],
            ["single", "partial", "full"],
            ["single", "partial", "full"],
            [True, False],
            ["mean", "concat"],
            ["mean", "concat"],
            [False, True],
            [0, 2],
        ):
            if not covariant and cm != "single":
                continue
            grid.append((name, covariant, mv, rank, im, cm, red, merge, join, norm, lt))
        out += grid[::stride]
    return out


CONFIGS = _configs()


def _pair(dtype, name, covariant, mv, rank, im, cm, red, merge, join, norm, lt):
    torch.manual_seed(0)
    base = ref.MultivectorAttention if mv else ref.VectorAttention
    n_in = base.get_invariant_dims(rank, im, norm, "partial", lt)

    def net(n_from, n_to):
        return torch.nn.Sequential(torch.nn.Linear(n_from, 16), torch.nn.ReLU(), torch.nn.Linear(16, n_to)).to(dtype)

    score, value, scale = net(D, 1), net(n_in, D), net(D, 1)
    kw = dict(
        rank=rank,
        invariant_mode=im,
        covariant_mode=cm,
        reduce=red,
        merge_fun=merge,
        join_fun=join,
        include_normalized_products=norm,
        linear_terms=lt,
    )
    theirs = getattr(ref, name)(D, score, value, scale, **kw) if covariant else getattr(ref, name)(D, score, value, **kw)
    mine = getattr(gnn, name)(
        D,
        rank=rank,
        invariant_mode=im,
        covariant_mode=cm,
        reduce=red,
        merge=merge,
        join=join,
        include_normalized_products=norm,
        linear_terms=lt,
        score_net=score,
        value_net=value,
        scale_net=scale if covariant else None,
    )
    theirs.to(dtype)
    mine.to(dtype)
    assert mine.invariant_dims == n_in
    for attr in ("merge_kernels", "join_kernels"):
        if hasattr(mine, attr):
            for a, b in zip(getattr(mine, attr), getattr(theirs, attr)):
                a.data.copy_(b.data)
    for attr in ("linear_kernels", "vector_kernels"):
        if hasattr(mine, attr):
            getattr(mine, attr).data.copy_(getattr(theirs, attr).data)
    return mine, theirs


def _inputs(dtype, mv):
    g = torch.Generator().manual_seed(1)
    r = torch.randn(B, N, 3, generator=g, dtype=dtype)
    v = torch.randn(B, N, D, generator=g, dtype=dtype)
    if mv:
        r = torch.cat([torch.randn(B, N, 1, generator=g, dtype=dtype) * 0.3, r, torch.randn(B, N, 4, generator=g, dtype=dtype) * 0.5], -1)
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[1, 3:] = False
    return r, v, mask


@pytest.mark.parametrize("dtype,tolerance", [(torch.float64, 1e-9), (torch.float32, 1e-5)], ids=["f64", "f32"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c[:1] + c[3:])))
def test_matches_reference(config, dtype, tolerance):
    mine, theirs = _pair(dtype, *config)
    r, v, mask = _inputs(dtype, config[2])
    expected = theirs((r, v), mask=mask)
    got = mine(r, v, mask=mask)
    if not isinstance(expected, tuple):
        expected, got = (expected,), (got,)
    reduce = config[6]
    for a, b in zip(expected, got):
        if not reduce:
            a = a * mask[..., None]  # the reference leaves padding outputs as they fall
        assert (a - b).abs().max().item() <= tolerance
