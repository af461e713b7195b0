"""Pair inputs of the local views: `inverse_distance_softening` (softened inverse powers of each
entry's distance to the view's centre) and `relative_motion_vectors` (invariants of the pair's
relative motion). The values are what the docstrings say, padding is ignored, the model stays
rotation-covariant and permutation-equivariant, the inputs change the output, and bad settings
raise errors naming the key."""
import pytest
import torch

from geometry_helpers import random_cloud_with_velocities, random_orthogonal

from gaan.models import CovariantVectorHead, GAAttentionBackbone, GAMultivectorAttentionBackbone

pytestmark = pytest.mark.usefixtures("float64_default_dtype")

BACKBONES = [GAAttentionBackbone, GAMultivectorAttentionBackbone]
PAIR_INPUTS = {
    "inverse_distance": {"inverse_distance_softening": 0.1},
    "relative_motion": {"relative_motion_vectors": [0]},
    "both": {"inverse_distance_softening": 0.1, "relative_motion_vectors": [0]},
}
WITHOUT = {"inverse_distance_softening": None, "relative_motion_vectors": []}


def cloud(seed=0):
    return random_cloud_with_velocities(points=5, seed=seed, padded_from=3)


def build(backbone_class, options, seed=0, pair_product_features=()):
    torch.manual_seed(seed)
    backbone = backbone_class(in_features=2, width=8, depth=2, rank=2, invariant_mode="full", merge="concat",
                              vector_inputs=True, geometry_updates=True, local_frames=True, vector_channels=1,
                              pair_product_features=pair_product_features, **options)
    with torch.no_grad():
        backbone.update_gates.fill_(0.7)  # trained gates are non-zero; 0 would hide the moves
        backbone.hidden_gates.fill_(0.7)
    return backbone.double().eval(), CovariantVectorHead(width=8, num_vectors=1).double().eval()


def predict(model, positions, features, velocities, mask):
    backbone, head = model
    return head(backbone(positions, features, mask, vectors=velocities))


def test_inverse_distance_values_match_softened_inverse_powers():
    relative = torch.zeros(1, 2, 2, 3)
    relative[0, 0, 1] = torch.tensor([0.3, 0.0, 0.4])  # d = 0.5
    relative[0, 1, 0] = -relative[0, 0, 1]
    features = GAAttentionBackbone.inverse_distance_features(relative, softening=0.1)
    base = 0.1 / (0.5**2 + 0.1**2) ** 0.5
    torch.testing.assert_close(features[0, 0, 1], torch.tensor([base, base**2, base**3]))
    torch.testing.assert_close(features[0, 1, 0], features[0, 0, 1])
    assert features[0, 0, 0].abs().max() == 0 and features[0, 1, 1].abs().max() == 0  # no self pair
    # far away they fall off like (s / d)**p
    relative[0, 0, 1] = torch.tensor([100.0, 0.0, 0.0])
    far = GAAttentionBackbone.inverse_distance_features(relative, softening=0.1)[0, 0, 1]
    torch.testing.assert_close(far, torch.tensor([1e-3, 1e-6, 1e-9]), rtol=1e-5, atol=0)


@pytest.mark.parametrize("dim", [2, 3])
def test_relative_motion_values_are_approach_angular_momentum_and_speed(dim):
    positions = torch.zeros(1, 3, dim)
    positions[0, 1, 0], positions[0, 1, 1] = 0.3, 0.4  # point 1 at distance 0.5 from point 0
    relative = positions[:, None] - positions[:, :, None]
    velocities = torch.zeros(1, 3, 1, dim)
    velocities[0, 1, 0, 0] = 1.0  # point 1 moves along x, point 0 rests
    mask = torch.tensor([[True, True, False]])
    features = GAAttentionBackbone.relative_motion_features(relative, velocities, mask)
    # r . w = 0.3, |r ^ w| = |r| |w| sin = 0.4, |w|^2 = 1, seen from either point of the pair
    torch.testing.assert_close(features[0, 0, 1], torch.tensor([0.3, 0.4, 1.0]))
    torch.testing.assert_close(features[0, 1, 0], features[0, 0, 1])
    assert features[0, 0, 0].abs().max() == 0 and features[0, 1, 1].abs().max() == 0  # no self pair
    assert features[0, 2].abs().max() == 0 and features[0, :, 2].abs().max() == 0  # padded point
    # sideways motion: no approach, angular momentum |r| |w|
    velocities[0, 1, 0] = torch.zeros(dim)
    velocities[0, 1, 0, 0], velocities[0, 1, 0, 1] = -0.8, 0.6
    torch.testing.assert_close(GAAttentionBackbone.relative_motion_features(relative, velocities, mask)[0, 0, 1],
                               torch.tensor([0.0, 0.5, 1.0]))


@pytest.mark.parametrize("backbone_class", BACKBONES)
@pytest.mark.parametrize("pair_product_features", [(), (0,)])
@pytest.mark.parametrize("inputs", sorted(PAIR_INPUTS))
def test_rotation_covariance_and_permutation_equivariance(backbone_class, pair_product_features, inputs):
    positions, features, velocities, mask = cloud(seed=2)
    model = build(backbone_class, PAIR_INPUTS[inputs], seed=2, pair_product_features=pair_product_features)
    prediction = predict(model, positions, features, velocities, mask)
    R = random_orthogonal(3, torch.Generator().manual_seed(12))  # proper: multivectors carry pseudoscalars
    rotated = predict(model, positions @ R.T + 0.3, features, velocities @ R.T, mask)
    torch.testing.assert_close(rotated, prediction @ R.T, rtol=0, atol=1e-10)
    perm = torch.randperm(positions.shape[1], generator=torch.Generator().manual_seed(4))
    permuted = predict(model, positions[:, perm], features[:, perm], velocities[:, perm], mask[:, perm])
    torch.testing.assert_close(permuted, prediction[:, perm], rtol=0, atol=1e-10)


@pytest.mark.parametrize("inputs", sorted(PAIR_INPUTS))
def test_padding_does_not_matter(inputs):
    positions, features, velocities, mask = cloud(seed=3)
    model = build(GAAttentionBackbone, PAIR_INPUTS[inputs])
    prediction = predict(model, positions, features, velocities, mask)
    moved, moving = positions.clone(), velocities.clone()
    moved[~mask] = positions[0, 0] + 1e-3  # padding right on top of a real point
    moving[~mask] = 5.0
    torch.testing.assert_close(predict(model, moved, features, moving, mask), prediction, rtol=0, atol=1e-12)


@pytest.mark.parametrize("inputs", sorted(PAIR_INPUTS))
def test_the_inputs_reach_the_output(inputs):
    positions, features, velocities, mask = cloud(seed=4)
    with_inputs, without = build(GAAttentionBackbone, PAIR_INPUTS[inputs]), build(GAAttentionBackbone, WITHOUT)
    # same weights apart from the pair embedding, which starts random: the outputs differ
    without[0].load_state_dict(with_inputs[0].state_dict(), strict=False)
    without[1].load_state_dict(with_inputs[1].state_dict())
    difference = predict(with_inputs, positions, features, velocities, mask) - predict(without, positions, features, velocities, mask)
    assert difference[mask].abs().max() > 1e-4


@pytest.mark.parametrize(
    "options,message",
    [
        ({"inverse_distance_softening": 0.1, "local_frames": False}, "model.inverse_distance_softening needs model.local_frames"),
        ({"inverse_distance_softening": 0.0}, "model.inverse_distance_softening must be > 0"),
        ({"inverse_distance_softening": -1.0}, "model.inverse_distance_softening must be > 0"),
        ({"relative_motion_vectors": [0], "local_frames": False}, "model.relative_motion_vectors needs model.local_frames"),
        ({"relative_motion_vectors": [0], "vector_inputs": False}, "model.relative_motion_vectors needs .*vector_inputs"),
        ({"relative_motion_vectors": [0, 0]}, "model.relative_motion_vectors must be distinct"),
        ({"relative_motion_vectors": [-1]}, "model.relative_motion_vectors must be distinct"),
    ],
)
def test_bad_settings_name_the_key(options, message):
    settings = {"local_frames": True, "vector_inputs": True, **options}
    with pytest.raises(ValueError, match=message):
        GAAttentionBackbone(in_features=2, width=8, **settings)


def test_a_missing_vector_channel_names_the_key():
    positions, features, velocities, mask = cloud(seed=5)
    backbone = GAAttentionBackbone(in_features=2, width=8, local_frames=True, vector_inputs=True, relative_motion_vectors=[1])
    with pytest.raises(ValueError, match=r"model.relative_motion_vectors=\[1\]: the batch has only 1 input vector channel"):
        backbone(positions, features, mask, vectors=velocities)
