"""Layer API: shapes, bad input, gradients at degenerate geometry, neighbour axes, attention weights."""

import pytest
import torch
from layer_cases import LAYER_CLASSES, Case

import gaan.nn as gnn

pytestmark = pytest.mark.usefixtures("float64_default_dtype")


@pytest.mark.parametrize("kind", sorted(LAYER_CLASSES))
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("parity", [False, True])
def test_gradients_finite_when_points_coincide(kind, rank, parity):
    case = Case(
        kind=kind,
        rank=rank,
        dim=3,
        reduce=False,
        parity=parity,
        invariant_mode="full",
        covariant_mode="full",
        include_normalized_products=True,
    )
    layer = case.build()
    r, v, extra = case.inputs(1, 4, torch.Generator().manual_seed(0))
    r = r.clone()
    r[0, 1] = 0.0  # a zero relative vector
    r[0, 3] = r[0, 2]  # two coincident points
    r.requires_grad_(True)
    output = layer(r, v, *extra)
    total = sum(o.sum() for o in output) if isinstance(output, tuple) else output.sum()
    total.backward()
    assert torch.isfinite(r.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters() if p.grad is not None)


def test_output_shapes_documented():
    B, N, D, L = 2, 5, 8, 4
    r, v = torch.randn(B, N, 3), torch.randn(B, N, D)
    assert gnn.VectorAttention(D, reduce=True)(r, v).shape == (B, D)
    assert gnn.VectorAttention(D, reduce=False)(r, v).shape == (B, N, D)
    assert gnn.Vector2VectorAttention(D, reduce=False)(r, v).shape == (B, N, 3)
    vectors, invariants = gnn.TiedVectorAttention(D, reduce=True)(r, v)
    assert vectors.shape == (B, 3) and invariants.shape == (B, D)
    m = gnn.Vector2Multivector()(r)
    assert m.shape == (B, N, 8)
    assert gnn.Multivector2MultivectorAttention(D, reduce=False)(m, v).shape == (B, N, 8)
    assert gnn.LabeledVectorAttention(D)(r, v, torch.randn(B, L, D)).shape == (B, L, 3)
    assert gnn.LabeledVectorAttention(D, reduce=False)(r, v, torch.randn(B, L, D)).shape == (B, L, N, 3)
    assert gnn.VectorAttention(D, dim=2)(torch.randn(B, N, 2), v).shape == (B, D)
    torch.testing.assert_close(gnn.Multivector2Vector()(m), r)
    # several covariant channels: (..., C, components), labeled and neighbour axes included
    vectors, invariants = gnn.TiedVectorAttention(D, reduce=False, covariant_channels=3)(r, v)
    assert vectors.shape == (B, N, 3, 3) and invariants.shape == (B, N, D)
    assert gnn.Vector2VectorAttention(D, covariant_channels=2)(r, v).shape == (B, 2, 3)
    assert gnn.LabeledVectorAttention(D, covariant_channels=2)(r, v, torch.randn(B, L, D)).shape == (B, L, 2, 3)
    neighbours = torch.randn(B, N, 4, 3), torch.randn(B, N, 4, D)
    assert gnn.Vector2VectorAttention(D, covariant_channels=2)(*neighbours).shape == (B, N, 2, 3)


@pytest.mark.parametrize("kind", ["VectorAttention", "Vector2VectorAttention", "TiedVectorAttention"])
def test_neighbour_axis_equals_separate_clouds(kind):
    case = Case(kind=kind, rank=2, dim=3, reduce=True)
    layer = case.build()
    B, N, K, D = 2, 3, 5, case.n_dim
    r, v = torch.randn(B, N, K, 3), torch.randn(B, N, K, D)
    mask = torch.rand(B, N, K) > 0.3
    batched = layer(r, v, mask=mask)
    batched = batched if isinstance(batched, tuple) else (batched,)
    for b in range(B):
        for n in range(N):
            single = layer(r[b, n][None], v[b, n][None], mask=mask[b, n][None])
            single = single if isinstance(single, tuple) else (single,)
            for got, want in zip(batched, single):
                torch.testing.assert_close(got[b, n], want[0])


@pytest.mark.parametrize("reduce", [True, False])
def test_return_attention_is_a_masked_distribution(reduce):
    layer = gnn.VectorAttention(4, rank=2, reduce=reduce, heads=2, return_attention=True)
    r, v = torch.randn(2, 5, 3), torch.randn(2, 5, 4)
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    _, attention = layer(r, v, mask=mask)
    assert attention.shape == (2, 5, 5, 2)
    summed = attention.sum(dim=(1, 2)) if reduce else attention.sum(dim=2)
    torch.testing.assert_close(summed, torch.ones_like(summed))
    assert (attention[1, 3:] < 1e-300).all() if reduce else (attention[1, :3, 3:] < 1e-300).all()


def test_unit_weights_change_nothing():
    layer = gnn.Vector2VectorAttention(4, rank=2)
    r, v = torch.randn(2, 5, 3), torch.randn(2, 5, 4)
    torch.testing.assert_close(layer(r, v, weights=torch.ones(2, 5)), layer(r, v))


def test_fully_masked_cloud_gives_zero_output():
    layer = gnn.VectorAttention(4, rank=2)
    r, v = torch.randn(2, 5, 3), torch.randn(2, 5, 4)
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[0] = False
    out = layer(r, v, mask=mask)
    assert (out[0] == 0).all() and torch.isfinite(out).all() and (out[1] != 0).any()


def test_custom_networks_and_factories():
    value_net = lambda n_in, n_out: torch.nn.Linear(n_in, n_out)
    layer = gnn.VectorAttention(4, rank=3, invariant_mode="full", value_net=value_net, score_net=torch.nn.Linear(4, 1))
    assert layer.value_net.in_features == layer.invariant_dims == 9
    assert layer(torch.randn(1, 4, 3), torch.randn(1, 4, 4)).shape == (1, 4)


def test_float32_and_float64_follow_the_module():
    r, v = torch.randn(1, 4, 3), torch.randn(1, 4, 4)
    assert gnn.VectorAttention(4).double()(r, v).dtype == torch.float64
    assert gnn.VectorAttention(4).float()(r.float(), v.float()).dtype == torch.float32


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(rank=0), "rank must be an integer >= 1, got 0"),
        (dict(invariant_mode="ful"), "invariant_mode must be one of"),
        (dict(covariant_mode="none"), "covariant_mode must be one of"),
        (dict(merge="sum"), "merge must be one of"),
        (dict(join="max"), "join must be one of"),
        (dict(heads=3), "heads=3 must divide n_dim=4"),
        (dict(dim=4), "dim must be one of"),
        (dict(linear_terms=2, parity=True), "linear_terms needs"),
        (dict(covariant_channels=0), "covariant_channels must be an integer >= 1"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gnn.Vector2VectorAttention(4, **kwargs)


def test_bad_call_arguments():
    layer = gnn.VectorAttention(4)
    r, v = torch.randn(2, 5, 3), torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match=r"r must have shape .* C = 3 components, got shape \(2, 5, 4\)"):
        layer(torch.randn(2, 5, 4), v)
    with pytest.raises(ValueError, match=r"v must have shape \(2, 5, 4\)"):
        layer(r, torch.randn(2, 6, 4))
    with pytest.raises(ValueError, match=r"mask must be a bool tensor of shape \(2, 5\)"):
        layer(r, v, mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        layer(r, v, mask=torch.ones(2, 5))
    with pytest.raises(ValueError, match="empty point cloud"):
        layer(torch.randn(2, 0, 3), torch.randn(2, 0, 4))
    bad = r.clone()
    bad[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match=r"r has non-finite values at point index \(1, 2\)"):
        layer(bad, v)
    with pytest.raises(ValueError, match="v has non-finite"):
        layer(r, torch.full_like(v, float("inf")))
    with pytest.raises(ValueError, match="dtype"):
        layer(r, v.float())
    with pytest.raises(ValueError, match="C = 8 components"):
        gnn.MultivectorAttention(4)(r, v)
    with pytest.raises(ValueError, match=r"labels must have shape \(2, L, 4\)"):
        gnn.LabeledVectorAttention(4)(r, v, torch.randn(2, 3, 5))


def test_nan_in_padding_is_allowed():
    layer = gnn.VectorAttention(4)
    r, v = torch.randn(1, 5, 3), torch.randn(1, 5, 4)
    mask = torch.tensor([[True, True, True, False, False]])
    r[0, 3:] = float("nan")
    assert torch.isfinite(layer(r, v, mask=mask)).all()


# --- normalization layers -------------------------------------------------------------------


def test_momentum_normalization_uses_real_points_only():
    norm = gnn.MomentumNormalization(3, momentum=0.0)
    x = torch.randn(4, 6, 3) * 2 + 5
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[:, 4:] = False
    x_padded = x.clone()
    x_padded[:, 4:] = 1e6
    out = norm(x_padded, mask=mask)
    real = out[mask]
    torch.testing.assert_close(real.mean(0), torch.zeros(3), atol=1e-10, rtol=0)
    torch.testing.assert_close(real.std(0, unbiased=False), torch.ones(3), atol=1e-10, rtol=0)
    norm.eval()
    torch.testing.assert_close(norm(x_padded, mask=mask), out)  # running statistics are used in eval


def test_momentum_layer_normalization_keeps_covariance():
    norm = gnn.MomentumLayerNormalization(momentum=0.0)
    x = torch.randn(3, 5, 3) * 4
    out = norm(x)
    torch.testing.assert_close(out.norm(dim=-1).mean(), torch.tensor(1.0))
    q, _ = torch.linalg.qr(torch.randn(3, 3))
    norm.eval()
    torch.testing.assert_close(norm(x @ q.T), out @ q.T)
