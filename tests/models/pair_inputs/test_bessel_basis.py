"""BesselBasis: sqrt(2 / c) sin(n pi d / c) / d inside the cutoff, 0 beyond it and for the centre."""

import math

import pytest
import torch

from gaan.models.pair_inputs import BesselBasis
from gaan.models.views import ViewPairs

pytestmark = pytest.mark.usefixtures("float64_default_dtype")


def pairs_at_distance(distance, requires_grad=False):
    relative = torch.zeros(1, 2, 2, 3)
    relative[0, 0, 1, 0], relative[0, 1, 0, 0] = distance, -distance
    relative.requires_grad_(requires_grad)
    return ViewPairs(relative, torch.ones(1, 2, 2, dtype=torch.bool), torch.eye(2, dtype=torch.bool)[None])


def test_values_are_the_bessel_functions_of_the_distance():
    basis = BesselBasis(count=3, cutoff=4.0)
    values = basis(pairs_at_distance(1.5), None, None)
    assert values.shape == (1, 2, 2, 3)
    n = torch.tensor([1.0, 2.0, 3.0])
    expected = math.sqrt(2.0 / 4.0) * torch.sin(n * math.pi * 1.5 / 4.0) / 1.5
    torch.testing.assert_close(values[0, 0, 1], expected)
    torch.testing.assert_close(values[0, 1, 0], values[0, 0, 1])
    assert values[0, 0, 0].abs().max() == 0 and values[0, 1, 1].abs().max() == 0  # no self pair


def test_every_function_falls_to_zero_at_the_cutoff_and_stays_there():
    basis = BesselBasis(count=8, cutoff=2.0)
    near = basis(pairs_at_distance(2.0 - 1e-7), None, None)[0, 0, 1]
    assert near.abs().max() < 1e-5
    for beyond in (2.0, 2.5, 10.0):
        assert basis(pairs_at_distance(beyond), None, None).abs().max() == 0


def test_derivatives_are_finite_near_zero_distance():
    pairs = pairs_at_distance(1e-9, requires_grad=True)
    values = BesselBasis(4, 1.0)(pairs, None, None)
    torch.testing.assert_close(values[0, 0, 1], math.sqrt(2.0) * torch.arange(1.0, 5.0) * math.pi, rtol=1e-6, atol=0)
    (grad,) = torch.autograd.grad(values.sum(), pairs.relative, create_graph=True)
    (second,) = torch.autograd.grad(grad.sum(), pairs.relative)
    assert torch.isfinite(grad).all() and torch.isfinite(second).all()


def test_rotating_the_pair_leaves_the_features_unchanged():
    relative = torch.randn(2, 5, 5, 3)
    pairs = ViewPairs(relative, torch.ones(2, 5, 5, dtype=torch.bool), torch.eye(5, dtype=torch.bool).expand(2, 5, 5))
    q, _ = torch.linalg.qr(torch.randn(3, 3))
    rotated = ViewPairs(relative @ q.T, pairs.mask, pairs.is_self)
    basis = BesselBasis(6, 3.0)
    torch.testing.assert_close(basis(rotated, None, None), basis(pairs, None, None))


@pytest.mark.parametrize("count,cutoff", [(0, 1.0), (2.5, 1.0), (True, 1.0), (4, 0.0), (4, None)])
def test_bad_settings_name_the_key(count, cutoff):
    with pytest.raises(ValueError, match="model.pair_inputs: BesselBasis"):
        BesselBasis(count, cutoff)
