"""InverseDistances: softened inverse powers of each pair distance."""

import pytest
import torch

from gaan.models.pair_inputs import InverseDistances
from gaan.models.views import ViewPairs

pytestmark = pytest.mark.usefixtures("float64_default_dtype")


def pairs_at(offset):
    relative = torch.zeros(1, 2, 2, 3)
    relative[0, 0, 1] = torch.tensor(offset)
    relative[0, 1, 0] = -relative[0, 0, 1]
    return ViewPairs(relative, torch.ones(1, 2, 2, dtype=torch.bool), torch.eye(2, dtype=torch.bool)[None])


def test_values_are_softened_inverse_powers():
    values = InverseDistances(0.1)(pairs_at([0.3, 0.0, 0.4]), None, None)  # d = 0.5
    base = 0.1 / (0.5**2 + 0.1**2) ** 0.5
    torch.testing.assert_close(values[0, 0, 1], torch.tensor([base, base**2, base**3]))
    torch.testing.assert_close(values[0, 1, 0], values[0, 0, 1])
    assert values[0, 0, 0].abs().max() == 0 and values[0, 1, 1].abs().max() == 0  # no self pair
    # far away they fall off like (s / d)**p
    far = InverseDistances(0.1, powers=[1, 2, 3])(pairs_at([100.0, 0.0, 0.0]), None, None)[0, 0, 1]
    torch.testing.assert_close(far, torch.tensor([1e-3, 1e-6, 1e-9]), rtol=1e-5, atol=0)


def test_powers_choose_the_columns():
    values = InverseDistances(1.0, powers=[2])(pairs_at([1.0, 0.0, 0.0]), None, None)
    torch.testing.assert_close(values[0, 0, 1], torch.tensor([0.5]))


@pytest.mark.parametrize("softening,powers", [(0.0, [1]), (-1.0, [1]), (None, [1]), (0.1, []), (0.1, [0])])
def test_bad_settings_name_the_key(softening, powers):
    with pytest.raises(ValueError, match="model.pair_inputs: InverseDistances"):
        InverseDistances(softening, powers)
