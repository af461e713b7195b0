"""`pair_product_features`: feature columns that enter each local view only as the product of
the centre's and the point's values (EGNN's q_i q_k), so negating them everywhere changes
nothing, while the model stays rotation-covariant and permutation-equivariant."""
import pytest
import torch

from geometry_helpers import random_orthogonal

from gaan.models import CovariantVectorHead, GAAttentionBackbone, GAMultivectorAttentionBackbone

pytestmark = pytest.mark.usefixtures("float64_default_dtype")

BACKBONES = [GAAttentionBackbone, GAMultivectorAttentionBackbone]


def charged_cloud(seed=0, batch=3, points=5):
    g = torch.Generator().manual_seed(seed)
    positions = torch.randn(batch, points, 3, generator=g)
    charges = torch.where(torch.rand(batch, points, 1, generator=g) < 0.5, -1.0, 1.0)
    velocities = torch.randn(batch, points, 1, 3, generator=g)
    features = torch.cat([charges, velocities.norm(dim=-1)], -1)  # (charge, speed), as task=nbody
    mask = torch.ones(batch, points, dtype=torch.bool)
    mask[0, 3:] = False
    return positions, features, velocities, mask


def build(backbone_class, pair_product_features, seed=0):
    torch.manual_seed(seed)
    backbone = backbone_class(in_features=2, width=8, depth=2, rank=2, invariant_mode="full", merge="concat",
                              vector_inputs=True, geometry_updates=True, local_frames=True, vector_channels=1,
                              pair_product_features=pair_product_features)
    with torch.no_grad():
        backbone.update_gates.fill_(0.7)  # trained gates are non-zero; 0 would hide the moves
        backbone.hidden_gates.fill_(0.7)
    head = CovariantVectorHead(width=8, num_vectors=1)
    return backbone.double().eval(), head.double().eval()


def predict(backbone, head, positions, features, velocities, mask):
    return head(backbone(positions, features, mask, vectors=velocities))


def flip_charges(features):
    return torch.cat([-features[..., :1], features[..., 1:]], -1)


@pytest.mark.parametrize("backbone_class", BACKBONES)
@pytest.mark.parametrize("seed", [0, 1])
def test_negating_pair_product_features_changes_nothing(backbone_class, seed):
    positions, features, velocities, mask = charged_cloud(seed)
    backbone, head = build(backbone_class, [0], seed)
    prediction = predict(backbone, head, positions, features, velocities, mask)
    flipped = predict(backbone, head, positions, flip_charges(features), velocities, mask)
    torch.testing.assert_close(flipped, prediction, rtol=0, atol=1e-12)
    # the charges still matter: other charge patterns (not a global flip) change the prediction
    changed = features.clone()
    changed[:, 0, 0] = -changed[:, 0, 0]
    assert (predict(backbone, head, positions, changed, velocities, mask) - prediction)[mask].abs().max() > 1e-4


def test_without_the_option_a_charge_flip_changes_the_prediction():
    positions, features, velocities, mask = charged_cloud()
    backbone, head = build(GAAttentionBackbone, [])
    prediction = predict(backbone, head, positions, features, velocities, mask)
    flipped = predict(backbone, head, positions, flip_charges(features), velocities, mask)
    assert (flipped - prediction)[mask].abs().max() > 1e-4


@pytest.mark.parametrize("backbone_class", BACKBONES)
def test_rotation_covariance_and_permutation_equivariance(backbone_class):
    positions, features, velocities, mask = charged_cloud(seed=2)
    backbone, head = build(backbone_class, [0], seed=2)
    prediction = predict(backbone, head, positions, features, velocities, mask)
    R = random_orthogonal(3, torch.Generator().manual_seed(12))  # proper: multivectors carry pseudoscalars
    rotated = predict(backbone, head, positions @ R.T + 0.3, features, velocities @ R.T, mask)
    torch.testing.assert_close(rotated, prediction @ R.T, rtol=0, atol=1e-10)
    mask[:] = True
    prediction = predict(backbone, head, positions, features, velocities, mask)
    perm = torch.randperm(positions.shape[1], generator=torch.Generator().manual_seed(4))
    permuted = predict(backbone, head, positions[:, perm], features[:, perm], velocities[:, perm], mask)
    torch.testing.assert_close(permuted, prediction[:, perm], rtol=0, atol=1e-10)


def test_padding_values_do_not_matter():
    positions, features, velocities, mask = charged_cloud(seed=3)
    backbone, head = build(GAAttentionBackbone, [0])
    prediction = predict(backbone, head, positions, features, velocities, mask)
    noisy = features.clone()
    noisy[~mask] = 7.0
    torch.testing.assert_close(predict(backbone, head, positions, noisy, velocities, mask), prediction, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "columns,local_frames,message",
    [
        ([0], False, "needs model.local_frames"),
        ([2], True, "distinct feature columns in \\[0, 2\\)"),
        ([0, 0], True, "distinct"),
        ([0, 1], True, "at least one feature column"),
    ],
)
def test_bad_pair_product_features_name_the_key(columns, local_frames, message):
    with pytest.raises(ValueError, match=f"model.pair_product_features.*{message}|{message}"):
        GAAttentionBackbone(in_features=2, width=8, local_frames=local_frames, pair_product_features=columns)
