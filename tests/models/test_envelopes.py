"""Cutoff envelopes and the SmoothNeighbourhoods view: 1 at the centre, 0 at and beyond the
cutoff with vanishing derivatives there, and a neighbour crossing the cutoff leaves the view's
output continuously."""

import pytest
import torch

from gaan.models import GAAttentionBackbone
from gaan.models.envelopes import CosineCutoff, PolynomialCutoff
from gaan.models.views import NearestSmooth, Neighbourhoods, ScaledLocalFrames, SmoothNeighbourhoods

ENVELOPES = {"cosine": (CosineCutoff, 1), "polynomial": (PolynomialCutoff, 2)}  # derivatives that vanish at the cutoff


def derivatives(envelope, distance, order):
    d = torch.tensor(distance, dtype=torch.float64, requires_grad=True)
    values = [envelope(d)]
    for _ in range(order):
        (grad,) = torch.autograd.grad(values[-1], d, create_graph=True)
        values.append(grad)
    return [float(v) for v in values]


@pytest.mark.parametrize("name", sorted(ENVELOPES))
def test_envelope_is_one_at_zero_and_vanishes_smoothly_at_the_cutoff(name):
    cls, order = ENVELOPES[name]
    envelope = cls(2.0)
    assert derivatives(envelope, 0.0, 0)[0] == pytest.approx(1.0, abs=1e-15)
    # delta inside the cutoff, the j-th derivative (j <= order) goes like delta^(order + 1 - j):
    # its Taylor term (measured: cosine 6e-13, 1.2e-6; polynomial 0, 2e-11, 4.2e-5), bounded with
    # a constant of 100, plus float64 rounding of terms of order 1 to 30 that cancel (1e-12)
    delta = 1e-6
    near = derivatives(envelope, 2.0 - delta, order)
    assert all(abs(v) < 100 * delta ** (order + 1 - j) + 1e-12 for j, v in enumerate(near)), near
    assert all(v == 0.0 for v in derivatives(envelope, 2.5, order))
    d = torch.linspace(0, 2.0, 201, dtype=torch.float64)
    values = envelope(d)
    assert (values[1:] <= values[:-1] + 1e-15).all() and values.min() >= 0


def test_bad_envelopes_name_the_key():
    with pytest.raises(ValueError, match="model.view.envelope.cutoff"):
        PolynomialCutoff(-1.0)
    with pytest.raises(ValueError, match="model.view.envelope.p"):
        PolynomialCutoff(2.0, p=1)


def test_view_weights_are_the_envelope_and_overflow_is_counted():
    view = SmoothNeighbourhoods(PolynomialCutoff(1.5), k=3)
    r = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [0, 1.2, 0], [0, 0, 3.0]]], dtype=torch.float64)
    mask = torch.ones(1, 4, dtype=torch.bool)
    pairs = view.pairs(r, mask)
    distance = (r[0, pairs.index[0, 0]] - r[0, 0]).norm(dim=-1)
    expected = torch.where(distance == 0, 1.0, PolynomialCutoff(1.5)(distance))
    torch.testing.assert_close(pairs.weight[0, 0][pairs.mask[0, 0]], expected[pairs.mask[0, 0]])
    assert not pairs.mask[0, 3, 1:].any()  # the far point has no neighbour inside the cutoff
    assert view.overflow(r, mask) == 0
    # point 0 has itself and points 1 and 2 inside the cutoff: more than k=2 (point 1 is 1.56 from point 2)
    assert SmoothNeighbourhoods(PolynomialCutoff(1.5), k=2).overflow(r, mask) == 1


@pytest.mark.parametrize("aggregation, continuous", [("weighted_softmax", True), ("softmax", False)])
def test_a_neighbour_crossing_the_cutoff_leaves_without_a_step(aggregation, continuous):
    torch.manual_seed(0)
    backbone = GAAttentionBackbone(
        in_features=2,
        width=8,
        depth=2,
        attention={"rank": 2, "aggregation": aggregation, "join": "product"},
        view=SmoothNeighbourhoods(PolynomialCutoff(1.5), k=4),
        normalize=False,
    ).double()
    base = torch.tensor([[[0.0, 0, 0], [1.0, 0.2, 0], [0.1, 1.1, 0.3]]], dtype=torch.float64)
    features = torch.tensor([[[1.0, 0], [0, 1], [1, 0]]], dtype=torch.float64)
    mask = torch.ones(1, 4, dtype=torch.bool)

    def output(x):  # a fourth point at distance x from the first
        positions = torch.cat([base, torch.tensor([[[0.0, 0.0, x]]], dtype=torch.float64)], 1)
        return backbone(positions, torch.cat([features, features[:, :1]], 1), mask).invariants[0, 0]

    # across the cutoff, 2e-4 apart: a smooth output moves by ~ its slope x 2e-4 (the envelope's
    # is ~0 there), a step stays a step
    step = (output(1.5 - 1e-4) - output(1.5 + 1e-4)).abs().max()
    assert (step < 1e-6) if continuous else (step > 1e-3)


def test_nearest_smooth_weighs_the_kth_neighbour_to_zero_as_it_swaps_with_the_next():
    """Points 1 and 2 at distances 1 +- e from point 0 (k = 2: itself and one neighbour): as e
    goes through 0 they swap places as its nearest, and the neighbour's weight goes through 0."""
    view = NearestSmooth(PolynomialCutoff(1.0), k=2, cutoff=5.0)
    mask = torch.ones(1, 4, dtype=torch.bool)
    for e in (1e-2, 1e-4, -1e-4, -1e-2):
        r = torch.tensor([[[0.0, 0, 0], [1.0 + e, 0, 0], [0, 1.0 - e, 0], [0, 0, 4.0]]], dtype=torch.float64)
        pairs = view.pairs(r, mask)
        neighbour_weight = pairs.weight[0, 0][~pairs.is_self[0, 0] & pairs.mask[0, 0]]
        assert neighbour_weight.numel() <= 1 and float(neighbour_weight.sum()) < 1e-5 * (1 + 1e4 * abs(e)) ** 3
    with pytest.raises(ValueError, match="cutoff 1"):
        NearestSmooth(PolynomialCutoff(2.0))


def five_point_backbone(view):
    """A small smooth-attention backbone (float64, seeded) on `view`, with five points' features
    and mask: the swap tests' model."""
    torch.manual_seed(0)
    backbone = GAAttentionBackbone(
        in_features=2,
        width=8,
        depth=2,
        attention={"rank": 2, "aggregation": "weighted_softmax", "join": "product"},
        view=view,
        normalize=False,
    ).double()
    features = torch.tensor([[[1.0, 0], [0, 1], [1, 0], [0, 1], [1, 0]]], dtype=torch.float64)
    return backbone, features, torch.ones(1, 5, dtype=torch.bool)


@pytest.mark.parametrize("smooth", [True, False])
def test_nearest_smooth_output_is_continuous_through_a_swap(smooth):
    """Points 3 and 4 swap places as point 0's third nearest neighbour at e = 0 (k = 4 with itself): the NearestSmooth view's
    output goes through continuously, a plain k-nearest view's jumps."""
    backbone, features, mask = five_point_backbone(NearestSmooth(PolynomialCutoff(1.0), k=4, cutoff=5.0) if smooth else Neighbourhoods(k=4))

    def output(e):
        positions = torch.tensor([[[0.0, 0, 0], [0.9, 0.1, 0], [0.1, 1.0, 0.2], [0, 0, 1.5 + e], [1.5 - e, 0, 0]]], dtype=torch.float64)
        return backbone(positions, features, mask).invariants[0, 0]

    step = (output(1e-6) - output(-1e-6)).abs().max()
    assert (step < 1e-6) if smooth else (step > 1e-3)


@pytest.mark.parametrize("view_name", ["nearest_smooth", "scaled_local_frames"])
def test_forces_kink_only_with_the_nearest_scale(view_name):
    """Points 3 and 4 swap places as point 0's two farthest at e = 0. NearestSmooth with k = 4
    (all but the farthest) scales its envelope by the farthest distance, max(d_3, d_4), whose
    slope jumps there: the force on the moving points jumps. ScaledLocalFrames' power-mean scale
    is smooth: the force changes by what its curvature allows over 2e-6."""
    envelope = PolynomialCutoff(1.0)
    backbone, features, mask = five_point_backbone(
        NearestSmooth(envelope, k=4, cutoff=5.0) if view_name == "nearest_smooth" else ScaledLocalFrames(envelope)
    )

    def force(e):
        positions = torch.tensor([[[0.0, 0, 0], [0.9, 0.1, 0], [0.1, 1.0, 0.2], [0, 0, 1.5 + e], [1.5 - e, 0, 0]]], dtype=torch.float64)
        positions.requires_grad_(True)
        energy = backbone(positions, features, mask).invariants.sum()
        return torch.autograd.grad(energy, positions)[0]

    jump = float((force(1e-6) - force(-1e-6)).abs().max())
    scale = float(force(0.0).abs().max())
    if view_name == "nearest_smooth":
        assert jump > 1e-3 * scale
    else:
        assert jump < 1e-4 * scale


def test_squared_envelope_has_a_square_root_as_smooth_as_the_envelope():
    """Near the cutoff PolynomialCutoff ~ (1 - x)**3: its square root's second derivative grows
    without bound as x -> 1, the square root of its square is the envelope itself."""
    from gaan.models.envelopes import Squared

    x = torch.tensor([0.99, 0.999, 0.9999], dtype=torch.float64, requires_grad=True)

    def second_derivative(f):
        (first,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
        (second,) = torch.autograd.grad(first.sum(), x)
        return second.abs()

    plain, squared = PolynomialCutoff(1.0), Squared(PolynomialCutoff(1.0))
    assert squared.cutoff == 1.0
    torch.testing.assert_close(squared(x), plain(x) ** 2)
    growing = second_derivative(lambda d: plain(d).sqrt())
    assert growing[2] > 5 * growing[0]  # ~ (1 - x)**-0.5: 10x over these points
    vanishing = second_derivative(lambda d: squared(d).sqrt())  # the envelope's own: ~ (1 - x), to 0
    assert vanishing[2] < vanishing[0] / 5
    with pytest.raises(ValueError, match="envelope"):
        Squared(torch.nn.Identity())
