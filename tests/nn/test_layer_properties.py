"""Property tests of every layer kind and option: rotation (and, with ``parity``, reflection)
equivariance, permutation invariance/equivariance, masks, and batch independence.

Hypothesis draws layer configurations; every drawn configuration is checked for all properties.
Set GAAN_PROPERTY_EXAMPLES to draw more (the closing-note figures used 2000).
"""

import dataclasses
import os

import equivariance_report
import pytest
import torch
from geometry_helpers import random_orthogonal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from layer_cases import LAYER_CLASSES, Case, act_on_output, output_parts

EXAMPLES = int(os.environ.get("GAAN_PROPERTY_EXAMPLES", "150"))
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}


@st.composite
def layer_cases(draw) -> Case:
    kind = draw(st.sampled_from(sorted(LAYER_CLASSES)))
    dim = draw(st.sampled_from([2, 3]))
    rank = draw(st.integers(1, 3))
    parity = draw(st.booleans())
    multivector = LAYER_CLASSES[kind].input_kind == "multivector"
    linear_allowed = rank > 1 and not parity and (dim == 3 or multivector)
    return Case(
        kind=kind,
        rank=rank,
        dim=dim,
        reduce=draw(st.booleans()),
        invariant_mode=draw(st.sampled_from(["single", "partial", "full"])),
        covariant_mode=draw(st.sampled_from(["single", "partial", "full"])),
        merge=draw(st.sampled_from(["mean", "concat"])),
        join=draw(st.sampled_from(["mean", "concat", "product"])),
        heads=draw(st.sampled_from([1, 2])),
        parity=parity,
        include_normalized_products=draw(st.booleans()),
        convex_covariants=draw(st.booleans()),
        linear_terms=draw(st.sampled_from([0, 2])) if linear_allowed else 0,
        covariant_channels=draw(st.sampled_from([1, 3])),
        aggregation=draw(st.sampled_from(["softmax", "weighted_softmax", "gated_sum"])),
    )


def relative_error(actual, expected) -> float:
    actual, expected = actual.detach(), expected.detach()
    return float((actual - expected).abs().max() / expected.abs().max().clamp_min(1.0))


def assert_close(case, dtype, actual, expected, what):
    error = relative_error(actual, expected)
    equivariance_report.record(str(dtype).removeprefix("torch."), dataclasses.astuple(case), error)
    assert error <= TOLERANCE[dtype], f"{what}: relative error {error:.3g} for {case}"


def call(layer, case, r, v, extra, **kwargs):
    if case.labeled:
        return layer(r, v, extra[0], **kwargs)
    return layer(r, v, **kwargs)


def check_group_action(case, dtype, layer, r, v, extra, gen, proper):
    q = random_orthogonal(case.dim, gen, dtype, proper=proper)
    before = output_parts(layer, call(layer, case, r, v, extra))
    after = output_parts(layer, call(layer, case, case.act_on_input(r, q), v, extra))
    for (b, kind), (a, _) in zip(before, after):
        assert_close(case, dtype, a, act_on_output(b, kind, q), f"{'rotation' if proper else 'reflection'} of {kind} output")


def check_permutation(case, dtype, layer, r, v, extra, gen):
    points = r.shape[1]
    perm = torch.randperm(points, generator=gen)
    weights = torch.rand(r.shape[:2], generator=gen, dtype=dtype) + 0.5
    before = output_parts(layer, call(layer, case, r, v, extra, weights=weights))
    after = output_parts(layer, call(layer, case, r[:, perm], v[:, perm], extra, weights=weights[:, perm]))
    point_axis = 2 if case.labeled else 1
    for (b, _kind), (a, _) in zip(before, after):
        expected = b if case.reduce else b.index_select(point_axis, perm)
        assert_close(case, dtype, a, expected, "permutation")


def check_mask(case, dtype, layer, r, v, extra, gen):
    batch, points = r.shape[:2]
    padding = 3
    slots = torch.randperm(points + padding, generator=gen)
    real, pad = slots[:points].sort().values, slots[points:]
    padded_r = torch.full((batch, points + padding, r.shape[-1]), float("nan"), dtype=dtype)
    padded_v = torch.randn(batch, points + padding, v.shape[-1], generator=gen, dtype=dtype) * 1e3
    padded_r[:, real], padded_v[:, real] = r, v
    mask = torch.zeros(batch, points + padding, dtype=torch.bool)
    mask[:, real] = True
    expected = output_parts(layer, call(layer, case, r, v, extra))
    got = output_parts(layer, call(layer, case, padded_r, padded_v, extra, mask=mask))
    point_axis = 2 if case.labeled else 1
    for (g, _kind), (e, _) in zip(got, expected):
        assert torch.isfinite(g).all(), "padding leaked non-finite values"
        if case.reduce:
            assert_close(case, dtype, g, e, "masked padding")
        else:
            assert_close(case, dtype, g.index_select(point_axis, real), e, "masked padding")
            assert (g.index_select(point_axis, pad) == 0).all(), "padded points must get zero output"


def check_batch_independence(case, dtype, layer, r, v, extra):
    alone = output_parts(layer, call(layer, case, r[:1], v[:1], tuple(x[:1] for x in extra)))
    together = output_parts(layer, call(layer, case, r, v, extra))
    for (a, _), (t, _) in zip(alone, together):
        assert_close(case, dtype, t[:1], a, "batch independence")


def check_all_properties(case: Case, dtype: torch.dtype, seed: int):
    gen = torch.Generator().manual_seed(seed)
    layer = case.build(dtype, seed)
    r, v, extra = case.inputs(2, 5, gen, dtype)
    check_group_action(case, dtype, layer, r, v, extra, gen, proper=True)
    if case.parity:
        check_group_action(case, dtype, layer, r, v, extra, gen, proper=False)
    check_permutation(case, dtype, layer, r, v, extra, gen)
    check_mask(case, dtype, layer, r, v, extra, gen)
    check_batch_independence(case, dtype, layer, r, v, extra)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=layer_cases(), seed=st.integers(0, 2**16))
def test_properties_float64(case, seed):
    check_all_properties(case, torch.float64, seed)


@settings(
    max_examples=max(EXAMPLES // 3, 20), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(case=layer_cases(), seed=st.integers(0, 2**16))
def test_properties_float32(case, seed):
    check_all_properties(case, torch.float32, seed)


@pytest.mark.parametrize("kind", sorted(LAYER_CLASSES))
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("dim", [2, 3])
def test_every_kind_rank_and_dimension(kind, rank, dim):
    """A deterministic sweep so no kind x rank x dim combination depends on hypothesis' draws."""
    for reduce in (True, False):
        for parity in (False, True):
            check_all_properties(
                Case(kind=kind, rank=rank, dim=dim, reduce=reduce, parity=parity, invariant_mode="full", covariant_mode="full"),
                torch.float64,
                seed=rank,
            )


def test_parity_off_detects_chirality():
    """Without ``parity`` a rank-3 layer reads the trivector, so mirror images differ.

    (With merge='mean' the swap of the last two tuple points maps a cloud's invariants onto
    its mirror image's, so 'concat' is needed to tell them apart.)
    """
    case = Case(kind="VectorAttention", rank=3, dim=3, reduce=True, merge="concat")
    layer = case.build()
    gen = torch.Generator().manual_seed(5)
    r, v, _ = case.inputs(1, 5, gen)
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    assert relative_error(layer(r @ mirror, v), layer(r, v)) > 1e-6
