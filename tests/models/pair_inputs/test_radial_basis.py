"""RadialBasis: Gaussians of each pair distance, peaked at evenly spaced centres."""

import pytest
import torch

from gaan.models.pair_inputs import RadialBasis
from gaan.models.views import ViewPairs

pytestmark = pytest.mark.usefixtures("float64_default_dtype")


def pairs_at_distance(distance):
    relative = torch.zeros(1, 2, 2, 3)
    relative[0, 0, 1, 0], relative[0, 1, 0, 0] = distance, -distance
    return ViewPairs(relative, torch.ones(1, 2, 2, dtype=torch.bool), torch.eye(2, dtype=torch.bool)[None])


def test_a_distance_on_a_centre_peaks_there_and_falls_off_as_a_gaussian():
    basis = RadialBasis(count=5, maximum=2.0)  # centres 0, 0.5, 1, 1.5, 2; width 0.5
    values = basis(pairs_at_distance(1.0), None, None)
    assert values.shape == (1, 2, 2, 5)
    expected = torch.exp(-0.5 * ((1.0 - torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0])) / 0.5) ** 2)
    torch.testing.assert_close(values[0, 0, 1], expected)
    torch.testing.assert_close(values[0, 1, 0], values[0, 0, 1])
    assert values[0, 0, 0].abs().max() == 0 and values[0, 1, 1].abs().max() == 0  # no self pair


def test_second_derivatives_are_finite_at_zero_distance():
    relative = torch.zeros(1, 1, 1, 3, requires_grad=True)
    pairs = ViewPairs(relative, torch.ones(1, 1, 1, dtype=torch.bool), torch.zeros(1, 1, 1, dtype=torch.bool))
    (grad,) = torch.autograd.grad(RadialBasis(4, 1.0)(pairs, None, None).sum(), relative, create_graph=True)
    (second,) = torch.autograd.grad(grad.sum(), relative)
    assert torch.isfinite(second).all()


@pytest.mark.parametrize("count,maximum", [(1, 1.0), (2.5, 1.0), (4, 0.0), (4, None)])
def test_bad_settings_name_the_key(count, maximum):
    with pytest.raises(ValueError, match="model.pair_inputs: RadialBasis"):
        RadialBasis(count, maximum)
