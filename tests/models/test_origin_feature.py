"""`origin_feature`: the cloud is seen from the points flagged in a feature column (the crystal
task's is-centre flag) instead of from its centroid. The backbone stays translation- and
rotation-invariant and permutation-equivariant, and the flagged point really is the origin."""
import pytest
import torch

from geometry_helpers import random_orthogonal

from gaan.models import GAAttentionBackbone, GAMultivectorAttentionBackbone

pytestmark = pytest.mark.usefixtures("float64_default_dtype")

BACKBONES = [GAAttentionBackbone, GAMultivectorAttentionBackbone]


def environment_cloud(seed=0, batch=3, neighbours=6):
    """Centre (flag column -1 = 1) at a random place, then its neighbours; the last cloud padded."""
    g = torch.Generator().manual_seed(seed)
    positions = torch.randn(batch, neighbours + 1, 3, generator=g) + 5 * torch.randn(batch, 1, 3, generator=g)
    types = torch.randn(batch, neighbours + 1, 2, generator=g)
    flag = torch.zeros(batch, neighbours + 1, 1)
    flag[:, 0] = 1.0
    features = torch.cat([types, flag], -1)
    mask = torch.ones(batch, neighbours + 1, dtype=torch.bool)
    mask[-1, 4:] = False
    return positions, features, mask


def build(backbone_class, origin_feature, seed=0):
    torch.manual_seed(seed)
    backbone = backbone_class(in_features=3, width=8, depth=2, rank=2, invariant_mode="full", merge="concat",
                              origin_feature=origin_feature)
    return backbone.double().eval()


@pytest.mark.parametrize("backbone_class", BACKBONES)
def test_positions_are_seen_from_the_flagged_point(backbone_class):
    positions, features, mask = environment_cloud()
    out = build(backbone_class, -1)(positions, features, mask)
    expected = (positions - positions[:, :1]) * mask[..., None]
    torch.testing.assert_close(out.positions, expected, rtol=0, atol=1e-12)
    # the default (centroid) sees them differently, and so do the invariants
    centroid_out = build(backbone_class, None)(positions, features, mask)
    assert (centroid_out.positions - expected).abs().max() > 0.1
    assert (centroid_out.invariants - out.invariants)[mask].abs().max() > 1e-4


@pytest.mark.parametrize("backbone_class", BACKBONES)
@pytest.mark.parametrize("seed", [0, 1])
def test_rotation_translation_invariance_and_permutation_equivariance(backbone_class, seed):
    positions, features, mask = environment_cloud(seed)
    backbone = build(backbone_class, 2, seed)
    invariants = backbone(positions, features, mask).invariants
    R = random_orthogonal(3, torch.Generator().manual_seed(seed + 10))
    moved = backbone(positions @ R.T + torch.tensor([0.7, -2.0, 1.5]), features, mask).invariants
    torch.testing.assert_close(moved, invariants, rtol=0, atol=1e-10)
    # any order of the points, the centre included (the origin comes from features, not order)
    perm = torch.randperm(positions.shape[1], generator=torch.Generator().manual_seed(seed + 20))
    permuted = backbone(positions[:, perm], features[:, perm], mask[:, perm]).invariants
    torch.testing.assert_close(permuted, invariants[:, perm], rtol=0, atol=1e-10)


def test_a_cloud_without_a_flagged_point_is_refused():
    positions, features, mask = environment_cloud()
    features[1, :, -1] = 0.0
    with pytest.raises(ValueError, match=r"model.origin_feature=2: every cloud needs a real point"):
        build(GAAttentionBackbone, -1)(positions, features, mask)
    # a flag only on padding does not count either
    positions, features, mask = environment_cloud()
    features[-1, 0, -1] = 0.0
    features[-1, -1, -1] = 1.0
    with pytest.raises(ValueError, match="model.origin_feature"):
        build(GAAttentionBackbone, -1)(positions, features, mask)


@pytest.mark.parametrize("column", [3, -4])
def test_an_out_of_range_column_is_refused(column):
    with pytest.raises(ValueError, match=r"model.origin_feature must be a feature column in \[-3, 3\)"):
        GAAttentionBackbone(in_features=3, width=8, origin_feature=column)
