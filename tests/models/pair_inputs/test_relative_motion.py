"""RelativeMotion: invariants of a pair's relative motion (approach, angular momentum, speed)."""

import pytest
import torch
from geometry_helpers import random_cloud_with_velocities
from pair_input_models import build, dense_pairs

from gaan.models import GAAttentionBackbone
from gaan.models.pair_inputs import RelativeMotion

pytestmark = pytest.mark.usefixtures("float64_default_dtype")


@pytest.mark.parametrize("dim", [2, 3])
def test_values_are_approach_angular_momentum_and_speed(dim):
    positions = torch.zeros(1, 3, dim)
    positions[0, 1, 0], positions[0, 1, 1] = 0.3, 0.4  # point 1 at distance 0.5 from point 0
    mask = torch.tensor([[True, True, False]])
    velocities = torch.zeros(1, 3, 1, dim)
    velocities[0, 1, 0, 0] = 1.0  # point 1 moves along x, point 0 rests
    motion = RelativeMotion([0])
    values = motion(dense_pairs(positions, mask), None, velocities)
    # r . w = 0.3, |r ^ w| = |r| |w| sin = 0.4, |w|^2 = 1, seen from either point of the pair
    torch.testing.assert_close(values[0, 0, 1], torch.tensor([0.3, 0.4, 1.0]))
    torch.testing.assert_close(values[0, 1, 0], values[0, 0, 1])
    assert values[0, 0, 0].abs().max() == 0 and values[0, 1, 1].abs().max() == 0  # no self pair
    assert values[0, 2].abs().max() == 0 and values[0, :, 2].abs().max() == 0  # padded point
    # sideways motion: no approach, angular momentum |r| |w|
    velocities[0, 1, 0] = torch.zeros(dim)
    velocities[0, 1, 0, 0], velocities[0, 1, 0, 1] = -0.8, 0.6
    torch.testing.assert_close(motion(dense_pairs(positions, mask), None, velocities)[0, 0, 1], torch.tensor([0.0, 0.5, 1.0]))


def test_it_needs_vector_inputs():
    with pytest.raises(ValueError, match="RelativeMotion reads input vectors: it needs model.vector_inputs=true"):
        GAAttentionBackbone(in_features=2, width=8, view=build([])[0].view, pair_inputs=[RelativeMotion([0])])


@pytest.mark.parametrize("channels", [[0, 0], [-1], []])
def test_bad_channels_name_the_key(channels):
    with pytest.raises(ValueError, match="model.pair_inputs: RelativeMotion channels must be"):
        RelativeMotion(channels)


def test_a_missing_vector_channel_names_the_key():
    positions, features, velocities, mask = random_cloud_with_velocities(points=5, seed=5)
    backbone, _ = build([RelativeMotion([1])])
    with pytest.raises(ValueError, match=r"RelativeMotion channels=\[1\]: the batch has only 1 input vector channel"):
        backbone(positions, features, mask, vectors=velocities)
