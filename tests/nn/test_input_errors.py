"""Awkward layer input gets a correct result or an error that says what to do, never a silent
NaN: inputs of another dtype than the layer, a batch of no clouds, magnitudes that overflow."""

import pytest
import torch
from layer_cases import LAYER_CLASSES, Case

import gaan.nn as gnn

PATHS = {
    "general": dict(factored_path=False),
    "blockwise": dict(blockwise_min_tuples=0, block_tuples=7),
}


def _tensors(result):
    return [t for x in result for t in _tensors(x)] if isinstance(result, tuple) else [result]


# --- dtypes -------------------------------------------------------------------------------------


def test_float64_input_to_a_float32_layer_names_both_dtypes_and_the_fix():
    layer = gnn.VectorAttention(4)
    r, v = torch.randn(2, 5, 3, dtype=torch.float64), torch.randn(2, 5, 4, dtype=torch.float64)
    with pytest.raises(
        ValueError,
        match=r"r and v have dtype torch.float64 but the layer's parameters have dtype "
        r"torch.float32: convert the layer .*layer.double\(\).* or cast the inputs",
    ):
        layer(r, v)
    # both fixes the message names work
    assert layer(r.float(), v.float()).dtype == torch.float32
    assert layer.double()(r, v).dtype == torch.float64


def test_labels_and_weights_of_another_dtype_are_named():
    r, v = torch.randn(2, 5, 3), torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match=r"labels has dtype torch.float64 but r and v have dtype torch.float32"):
        gnn.LabeledVectorAttention(4)(r, v, torch.randn(2, 3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"weights has dtype torch.float64 but r has dtype torch.float32: cast it"):
        gnn.VectorAttention(4)(r, v, weights=torch.rand(2, 5, dtype=torch.float64))


def test_lower_precision_inputs_still_run_under_autocast():
    layer = gnn.VectorAttention(4)
    r, v = torch.randn(2, 5, 3), torch.randn(2, 5, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(r.bfloat16(), v.bfloat16())
    assert torch.isfinite(out.float()).all()


# --- a batch of no clouds -----------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("reduce", [True, False])
@pytest.mark.parametrize("kind", sorted(LAYER_CLASSES))
def test_a_batch_of_no_clouds_gives_empty_outputs_of_the_right_shapes(kind, reduce, path):
    case = Case(kind=kind, rank=2, dim=3, reduce=reduce, heads=2, covariant_channels=2)
    layer = case.build(torch.float32)
    layer.return_attention = True
    for name, value in PATHS[path].items():
        setattr(layer, name, value)
    gen = torch.Generator().manual_seed(0)
    mask = torch.ones(2, 5, dtype=torch.bool)
    r, v, extra = case.inputs(2, 5, gen, torch.float32)
    expected = [t.shape[1:] for t in _tensors(layer(r, v, *extra, mask=mask))]
    r, v, extra = case.inputs(0, 5, gen, torch.float32)
    r.requires_grad_(True)
    result = layer(r, v, *extra, mask=mask[:0])
    assert [t.shape for t in _tensors(result)] == [(0, *shape) for shape in expected]
    sum(t.sum() for t in _tensors(result)).backward()
    assert r.grad.shape == r.shape


def test_a_neighbour_axis_over_no_clouds_and_tied_outputs_with_attention():
    layer = gnn.TiedVectorAttention(4, return_attention=True)
    (vectors, invariants), attention = layer(torch.randn(2, 5, 6, 3), torch.randn(2, 5, 6, 4))
    assert vectors.shape == (2, 5, 3) and invariants.shape == (2, 5, 4) and attention.shape == (2, 5, 6, 6, 1)
    (vectors, invariants), attention = layer(torch.randn(0, 5, 6, 3), torch.randn(0, 5, 6, 4))
    assert vectors.shape == (0, 5, 3) and invariants.shape == (0, 5, 4) and attention.shape == (0, 5, 6, 6, 1)


# --- magnitudes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("kind", ["VectorAttention", "TiedVectorAttention", "MultivectorAttention"])
def test_inputs_whose_products_overflow_float32_raise_a_clear_error(kind, rank, path):
    case = Case(kind=kind, rank=rank, dim=3, reduce=False)
    layer = case.build(torch.float32)
    for name, value in PATHS[path].items():
        setattr(layer, name, value)
    r, v, extra = case.inputs(2, 5, torch.Generator().manual_seed(0), torch.float32)
    # |r| ~ 1e20: products of two or more points pass float32's 3.4e38 themselves
    with pytest.raises(ValueError, match=r"geometric products of up to \d points of r overflow torch.float32.*Rescale r"):
        layer(r * 1e20, v, *extra)
    # in float64 the same call is finite (the message's other fix)
    assert all(torch.isfinite(t).all() for t in _tensors(layer.double()(r.double() * 1e20, v.double(), *extra)))


@pytest.mark.parametrize("rank", [1, 2])
def test_inputs_of_a_million_are_fine_in_float32(rank):
    layer = gnn.TiedVectorAttention(4, rank=rank, reduce=False)
    r, v = torch.randn(2, 5, 3) * 1e6, torch.randn(2, 5, 4)
    assert all(torch.isfinite(t).all() for t in _tensors(layer(r, v)))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", ["VectorAttention", "TiedVectorAttention", "MultivectorAttention"])
def test_rank_3_float32_layers_at_ten_million_match_float64(kind, path):
    """Rank-3 products of |r| ~ 1e7 reach 1e21: representable in float32 (their squares, 1e42,
    are not, so norms must not square unscaled components). The float32 result is the float64
    one to float32 accuracy."""
    case = Case(kind=kind, rank=3, dim=3, reduce=False)
    layer = case.build(torch.float32)
    for name, value in PATHS[path].items():
        setattr(layer, name, value)
    r, v, extra = case.inputs(2, 5, torch.Generator().manual_seed(0), torch.float32)
    single = _tensors(layer(r * 1e7, v, *extra))
    double = _tensors(layer.double()(r.double() * 1e7, v.double(), *extra))
    for lower, higher in zip(single, double):
        assert torch.isfinite(lower).all()
        # relative to each output's magnitude: covariant outputs grow like |r|**3
        torch.testing.assert_close(lower.double() / higher.abs().amax(), higher / higher.abs().amax(), atol=1e-5, rtol=0)


def test_features_that_overflow_later_raise_a_clear_error():
    layer = gnn.VectorAttention(4)
    with pytest.raises(ValueError, match=r"non-finite outputs from finite inputs and parameters .*largest \|v\| 6(\.\d+)?e\+38"):
        layer(torch.randn(2, 5, 3), torch.full((2, 5, 4), 3e38))


def test_non_finite_parameters_are_named():
    layer = gnn.VectorAttention(4)
    with torch.no_grad():
        layer.score_net[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"its parameters score_net.0.weight hold non-finite values"):
        layer(torch.randn(2, 5, 3), torch.randn(2, 5, 4))


def test_non_finite_weights_and_labels_at_real_points_are_named_and_padding_may_hold_nan():
    r, v = torch.randn(2, 5, 3), torch.randn(2, 5, 4)
    weights = torch.rand(2, 5) + 0.1
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    layer = gnn.TiedVectorAttention(4, reduce=False)
    clean = layer(r, v, mask=mask, weights=weights)
    padded = weights.clone()
    padded[1, 3:] = float("nan")
    for a, b in zip(clean, layer(r, v, mask=mask, weights=padded)):
        torch.testing.assert_close(a, b)
    padded[0, 2] = float("inf")
    with pytest.raises(ValueError, match=r"weights has non-finite values at point index \(0, 2\)"):
        layer(r, v, mask=mask, weights=padded)
    labels = torch.randn(2, 3, 4)
    labels[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match=r"labels has non-finite values at label index \(1, 2\)"):
        gnn.LabeledVectorAttention(4)(r, v, labels)


def test_a_valid_call_synchronises_once(monkeypatch):
    """The checks cost one device synchronisation per call (a tensor read back as a bool)."""
    layer = gnn.TiedVectorAttention(4, reduce=False)
    r, v = torch.randn(2, 5, 3), torch.randn(2, 5, 4)
    mask, weights = torch.ones(2, 5, dtype=torch.bool), torch.rand(2, 5) + 0.1
    reads = []
    original = torch.Tensor.__bool__
    monkeypatch.setattr(torch.Tensor, "__bool__", lambda self: reads.append(1) or original(self))
    layer(r, v, mask=mask, weights=weights)
    assert len(reads) == 1
