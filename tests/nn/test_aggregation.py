"""Aggregations (gaan.nn.aggregation): what each does with tuple weights.

The point of `weighted_softmax` and `gated_sum` is continuity: a point whose weight goes to 0
leaves the output as if it were masked away, so a cutoff envelope gives no step. The default
`softmax` (the reference package's semantics) keeps a zero-weight point's share of the
normalization, which is what makes a plain k-nearest view jump.
"""

import pytest
import torch

from gaan.nn import VectorAttention
from gaan.nn.aggregation import GatedSum, Softmax, WeightedSoftmax, build_aggregation


def layer(aggregation, join="mean", seed=0):
    torch.manual_seed(seed)
    return VectorAttention(8, rank=2, reduce=True, aggregation=aggregation, join=join, invariant_mode="full").double()


def cloud(seed=1, points=6):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(3, points, 3, generator=gen, dtype=torch.float64), torch.randn(3, points, 8, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("aggregation", ["weighted_softmax", "gated_sum"])
@pytest.mark.parametrize("join", ["mean", "product"])
def test_a_point_whose_weight_goes_to_zero_leaves_as_if_masked(aggregation, join):
    net = layer(aggregation, join)
    r, v = cloud()
    mask = torch.ones(r.shape[:2], dtype=torch.bool)
    mask[:, -1] = False
    masked = net(r, v, mask)
    for tiny in (1e-4, 1e-8):
        weights = torch.ones(r.shape[:2], dtype=torch.float64)
        weights[:, -1] = tiny
        faded = net(r, v, None, weights)
        # the tuple weight is the geometric mean sqrt(w_j w_k): the difference shrinks like sqrt(tiny)
        assert (faded - masked).abs().max() < 50 * tiny**0.5
    zero = torch.ones(r.shape[:2], dtype=torch.float64)
    zero[:, -1] = 0.0
    torch.testing.assert_close(net(r, v, None, zero), masked, rtol=0, atol=1e-12)


def test_softmax_keeps_a_zero_weight_points_share():
    """The default: weights scale values, not the normalization, so weight 0 is not masking."""
    net = layer("softmax")
    r, v = cloud()
    mask = torch.ones(r.shape[:2], dtype=torch.bool)
    mask[:, -1] = False
    zero = torch.ones(r.shape[:2], dtype=torch.float64)
    zero[:, -1] = 0.0
    assert (net(r, v, None, zero) - net(r, v, mask)).abs().max() > 1e-3


def test_weighted_softmax_without_weights_is_softmax():
    r, v = cloud()
    soft, weighted = layer("softmax"), layer("weighted_softmax")
    torch.testing.assert_close(weighted(r, v), soft(r, v), rtol=0, atol=1e-12)
    ones = torch.ones(r.shape[:2], dtype=torch.float64)
    torch.testing.assert_close(weighted(r, v, None, ones), soft(r, v), rtol=0, atol=1e-12)


def test_gated_sum_counts_what_softmax_averages():
    """Two copies of every point: a softmax average is unchanged, a gated sum doubles."""
    r, v = cloud()
    doubled = torch.cat([r, r], 1), torch.cat([v, v], 1)
    soft = layer("softmax", join="mean")
    torch.testing.assert_close(soft(*doubled), soft(r, v), rtol=0, atol=1e-12)
    gated = layer(GatedSum(tuples=4.0))
    # rank 2: four times the tuples, each duplicate tuple with the same gate and value
    torch.testing.assert_close(gated(*doubled), 4 * gated(r, v), rtol=0, atol=1e-12)


def test_coefficients_of_each_aggregation():
    logits = torch.tensor([[0.0, 1.0, 2.0]]).T[None]  # (1, T=3, heads=1)
    weights = torch.tensor([[1.0, 0.5, 0.0]]).T[None]
    soft = torch.softmax(logits, -2)
    torch.testing.assert_close(Softmax()(logits, weights), soft * weights)
    expected = torch.exp(logits) * weights / (torch.exp(logits) * weights).sum(-2, keepdim=True)
    torch.testing.assert_close(WeightedSoftmax()(logits, weights), expected)
    torch.testing.assert_close(GatedSum(tuples=2.0)(logits, weights), torch.sigmoid(logits) * weights / 2)


def test_bad_aggregations_are_named():
    with pytest.raises(ValueError, match="aggregation must be one of"):
        build_aggregation("mean")
    with pytest.raises(ValueError, match="tuples must be a number > 0"):
        GatedSum(tuples=0)


def test_product_join_and_new_aggregations_leave_the_blockwise_path():
    """The factored (blockwise) path computes a softmax over additive joins only: the other
    choices must take the general path even for large calls (and give the same function)."""
    r, v = cloud(points=6)
    for options in (dict(join="product"), dict(aggregation="weighted_softmax"), dict(aggregation="gated_sum")):
        torch.manual_seed(0)
        net = VectorAttention(8, rank=2, reduce=False, **options).double()
        small = net(r, v)
        net.blockwise_min_tuples = 0  # would force the blockwise path for the softmax layer
        torch.testing.assert_close(net(r, v), small, rtol=0, atol=1e-12)
        assert not net._factored_path_applies(r)
