"""FeatureProducts: feature columns that enter each view only as x_i[c] * x_k[c] (EGNN's q_i q_k),
so negating them everywhere changes nothing, while they still matter."""

import pytest
import torch
from geometry_helpers import random_cloud_with_velocities
from pair_input_models import build, dense_pairs, predict

from gaan.models import GAAttentionBackbone, GAMultivectorAttentionBackbone
from gaan.models.pair_inputs import FeatureProducts

pytestmark = pytest.mark.usefixtures("float64_default_dtype")


def charged_cloud(seed=0):
    positions, _, velocities, mask = random_cloud_with_velocities(points=5, seed=seed, padded_from=3)
    g = torch.Generator().manual_seed(seed + 100)
    charges = torch.where(torch.rand(*positions.shape[:2], 1, generator=g) < 0.5, -1.0, 1.0)
    return positions, torch.cat([charges, velocities.norm(dim=-1)], -1), velocities, mask  # (charge, speed)


def flip_charges(features):
    return torch.cat([-features[..., :1], features[..., 1:]], -1)


def test_values_are_products_of_centre_and_partner():
    positions, features, _, mask = charged_cloud()
    values = FeatureProducts([0, 1])(dense_pairs(positions, mask), features, None)
    assert values.shape == (3, 5, 5, 2)
    torch.testing.assert_close(values[1, 2, 4], features[1, 2] * features[1, 4])


@pytest.mark.parametrize("backbone_class", [GAAttentionBackbone, GAMultivectorAttentionBackbone])
@pytest.mark.parametrize("seed", [0, 1])
def test_negating_the_columns_changes_nothing_but_other_patterns_do(backbone_class, seed):
    positions, features, velocities, mask = charged_cloud(seed)
    model = build([FeatureProducts([0])], seed, backbone_class)
    prediction = predict(model, positions, features, velocities, mask)
    torch.testing.assert_close(predict(model, positions, flip_charges(features), velocities, mask), prediction, rtol=0, atol=1e-12)
    changed = features.clone()
    changed[:, 0, 0] = -changed[:, 0, 0]
    assert (predict(model, positions, changed, velocities, mask) - prediction)[mask].abs().max() > 1e-4


def test_without_it_a_charge_flip_changes_the_prediction():
    positions, features, velocities, mask = charged_cloud()
    model = build([])
    flipped = predict(model, positions, flip_charges(features), velocities, mask)
    assert (flipped - predict(model, positions, features, velocities, mask))[mask].abs().max() > 1e-4


@pytest.mark.parametrize(
    "columns,message",
    [([2], r"column 2 is not in \[0, 2\)"), ([0, 0], "distinct"), ([], "non-empty"), ([0, 1], "leave at least one")],
)
def test_bad_columns_name_the_key(columns, message):
    with pytest.raises(ValueError, match=message):
        build([FeatureProducts(columns)])
