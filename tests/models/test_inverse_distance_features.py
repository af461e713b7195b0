"""`inverse_distance_softening`: each local-view entry also gets softened inverse powers of its
distance to the view's centre. The values are what the docstring says, padding is ignored, the
model stays rotation-covariant and permutation-equivariant, and the features change the output."""
import pytest
import torch

from geometry_helpers import random_cloud_with_velocities, random_orthogonal

from gaan.models import CovariantVectorHead, GAAttentionBackbone, GAMultivectorAttentionBackbone

pytestmark = pytest.mark.usefixtures("float64_default_dtype")

BACKBONES = [GAAttentionBackbone, GAMultivectorAttentionBackbone]


def cloud(seed=0):
    return random_cloud_with_velocities(points=5, seed=seed, padded_from=3)


def build(backbone_class, softening, seed=0, pair_product_features=()):
    torch.manual_seed(seed)
    backbone = backbone_class(in_features=2, width=8, depth=2, rank=2, invariant_mode="full", merge="concat",
                              vector_inputs=True, geometry_updates=True, local_frames=True, vector_channels=1,
                              inverse_distance_softening=softening, pair_product_features=pair_product_features)
    with torch.no_grad():
        backbone.update_gates.fill_(0.7)  # trained gates are non-zero; 0 would hide the moves
        backbone.hidden_gates.fill_(0.7)
    return backbone.double().eval(), CovariantVectorHead(width=8, num_vectors=1).double().eval()


def predict(model, positions, features, velocities, mask):
    backbone, head = model
    return head(backbone(positions, features, mask, vectors=velocities))


def test_feature_values_match_softened_inverse_powers():
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


@pytest.mark.parametrize("backbone_class", BACKBONES)
@pytest.mark.parametrize("pair_product_features", [(), (0,)])
def test_rotation_covariance_and_permutation_equivariance(backbone_class, pair_product_features):
    positions, features, velocities, mask = cloud(seed=2)
    model = build(backbone_class, 0.1, seed=2, pair_product_features=pair_product_features)
    prediction = predict(model, positions, features, velocities, mask)
    R = random_orthogonal(3, torch.Generator().manual_seed(12))  # proper: multivectors carry pseudoscalars
    rotated = predict(model, positions @ R.T + 0.3, features, velocities @ R.T, mask)
    torch.testing.assert_close(rotated, prediction @ R.T, rtol=0, atol=1e-10)
    perm = torch.randperm(positions.shape[1], generator=torch.Generator().manual_seed(4))
    permuted = predict(model, positions[:, perm], features[:, perm], velocities[:, perm], mask[:, perm])
    torch.testing.assert_close(permuted, prediction[:, perm], rtol=0, atol=1e-10)


def test_padding_positions_do_not_matter():
    positions, features, velocities, mask = cloud(seed=3)
    model = build(GAAttentionBackbone, 0.1)
    prediction = predict(model, positions, features, velocities, mask)
    moved = positions.clone()
    moved[~mask] = positions[0, 0] + 1e-3  # padding right on top of a real point
    torch.testing.assert_close(predict(model, moved, features, velocities, mask), prediction, rtol=0, atol=1e-12)


def test_the_features_reach_the_output():
    positions, features, velocities, mask = cloud(seed=4)
    with_features, without = build(GAAttentionBackbone, 0.1), build(GAAttentionBackbone, None)
    # same weights apart from the pair embedding, which starts random: the outputs differ
    without[0].load_state_dict(with_features[0].state_dict(), strict=False)
    without[1].load_state_dict(with_features[1].state_dict())
    difference = predict(with_features, positions, features, velocities, mask) - predict(without, positions, features, velocities, mask)
    assert difference[mask].abs().max() > 1e-4


@pytest.mark.parametrize(
    "softening,local_frames,message",
    [(0.1, False, "needs model.local_frames"), (0.0, True, "must be > 0"), (-1.0, True, "must be > 0")],
)
def test_bad_softening_names_the_key(softening, local_frames, message):
    with pytest.raises(ValueError, match=f"model.inverse_distance_softening.*{message}|{message}"):
        GAAttentionBackbone(in_features=2, width=8, local_frames=local_frames, inverse_distance_softening=softening)
