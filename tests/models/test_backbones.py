import math

import pytest
import torch
from geometry_helpers import random_rotation

from gaan.models import (
    ClassificationHead,
    CovariantVectorHead,
    DeepSetsBackbone,
    GAAttentionBackbone,
    GAMultivectorAttentionBackbone,
    LabeledVectorHead,
    ScalarHead,
)

BACKBONES = [DeepSetsBackbone, GAAttentionBackbone, GAMultivectorAttentionBackbone]


@pytest.fixture
def cloud():
    g = torch.Generator().manual_seed(0)
    positions = torch.randn(3, 6, 3, generator=g, dtype=torch.float64)
    features = torch.randn(3, 6, 2, generator=g, dtype=torch.float64)
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[0, 4:] = False
    mask[1, 5:] = False
    return positions, features, mask


@pytest.mark.parametrize("backbone_cls", BACKBONES)
def test_backbone_invariant_to_rotation_translation_and_padding(backbone_cls, cloud):
    positions, features, mask = cloud
    torch.manual_seed(0)
    backbone = backbone_cls(in_features=2, width=8).double().eval()
    out = backbone(positions, features, mask)
    assert out.invariants.shape == (3, 6, 8)
    assert torch.all(out.invariants[~mask] == 0)
    moved = positions @ random_rotation().T + torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    torch.testing.assert_close(backbone(moved, features, mask).invariants, out.invariants, atol=1e-9, rtol=1e-7)
    # junk in padded rows must not leak into real points
    junk_pos, junk_feat = positions.clone(), features.clone()
    junk_pos[~mask] = 50.0
    junk_feat[~mask] = -7.0
    torch.testing.assert_close(backbone(junk_pos, junk_feat, mask).invariants, out.invariants, atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("backbone_cls", BACKBONES)
def test_heads_on_every_backbone_have_task_shapes_and_symmetries(backbone_cls, cloud):
    positions, features, mask = cloud
    torch.manual_seed(0)
    backbone = backbone_cls(in_features=2, width=8).double().eval()
    vector_head = CovariantVectorHead(8).double()
    labeled_head = LabeledVectorHead(8, num_labels=4).double()
    labels = torch.tensor([[0, 1, 2], [3, 3, 0], [1, 2, 0]])
    label_mask = torch.tensor([[True, True, True], [True, True, False], [True, False, False]])

    def predict(pos):
        out = backbone(pos, features, mask)
        return vector_head(out), labeled_head(out, labels, label_mask)

    out = backbone(positions, features, mask)
    assert ClassificationHead(8, 5).double()(out).shape == (3, 5)
    assert ScalarHead(8).double()(out).shape == (3,)
    vectors, sites = predict(positions)
    assert vectors.shape == (3, 6, 3) and torch.all(vectors[~mask] == 0)
    assert sites.shape == (3, 3, 3)
    R = random_rotation(1)
    vectors_r, sites_r = predict(positions @ R.T)
    torch.testing.assert_close(vectors_r, vectors @ R.T, atol=1e-8, rtol=1e-6)
    torch.testing.assert_close(sites_r[label_mask], (sites @ R.T)[label_mask], atol=1e-8, rtol=1e-6)


def test_scalar_head_pooling_is_extensive_or_intensive(cloud):
    positions, features, mask = cloud
    backbone = DeepSetsBackbone(in_features=2, width=8).double()
    out = backbone(positions, features, mask)
    head = ScalarHead(8, pool="sum").double()
    mean_head = ScalarHead(8, pool="mean").double()
    mean_head.load_state_dict(head.state_dict())
    torch.testing.assert_close(mean_head(out) * mask.sum(1), head(out))
    with pytest.raises(ValueError, match="head.pool"):
        ScalarHead(8, pool="max")
    assert not math.isnan(head(out).sum().item())


def test_per_block_ranks_build_their_layers_and_keep_the_symmetries(cloud):
    from gaan.models.views import LocalFrames

    positions, features, mask = cloud
    torch.manual_seed(0)
    backbone = GAAttentionBackbone(in_features=2, width=8, depth=3, view=LocalFrames(), attention={"rank": [2, 1, 1]}).double().eval()
    assert [layer.rank for layer in backbone.attention] == [2, 1, 1]
    out = backbone(positions, features, mask).invariants
    perm = torch.tensor([2, 0, 1, 3, 4, 5])  # real points of every cloud among the first four
    moved = positions[:, perm] @ random_rotation().T
    torch.testing.assert_close(backbone(moved, features[:, perm], mask[:, perm]).invariants, out[:, perm], atol=1e-9, rtol=1e-7)
    with pytest.raises(ValueError, match=r"model.attention.rank lists one rank per block: 2 entries for model.depth=3"):
        GAAttentionBackbone(in_features=2, width=8, depth=3, view=LocalFrames(), attention={"rank": [2, 1]})


def test_labeled_head_product_join_is_covariant_and_ignores_padding(cloud):
    positions, features, mask = cloud
    torch.manual_seed(0)
    backbone = GAAttentionBackbone(in_features=2, width=8).double().eval()
    head = LabeledVectorHead(8, num_labels=4, rank=1, join="product").double()
    assert head.attention.join == "product"
    labels = torch.tensor([[0, 1, 2], [3, 3, 0], [1, 2, 0]])
    label_mask = torch.tensor([[True, True, True], [True, True, False], [True, False, False]])

    def predict(pos, feat=features, m=mask):
        return head(backbone(pos, feat, m), labels, label_mask)

    sites = predict(positions)
    perm = torch.tensor([2, 0, 1, 3, 4, 5])  # real points of every cloud among the first four
    R = random_rotation(2)
    torch.testing.assert_close(predict(positions[:, perm] @ R.T, features[:, perm], mask[:, perm])[label_mask], (sites @ R.T)[label_mask])
    junk_pos, junk_feat = positions.clone(), features.clone()
    junk_pos[~mask], junk_feat[~mask] = 40.0, -3.0
    torch.testing.assert_close(predict(junk_pos, junk_feat)[label_mask], sites[label_mask])
    mean_head = LabeledVectorHead(8, num_labels=4, rank=1).double()
    mean_head.load_state_dict(head.state_dict())
    assert not torch.allclose(mean_head(backbone(positions, features, mask), labels, label_mask), sites)
