"""EGNN baseline: invariant features and a covariant displacement, for random rotations,
translations, permutations and padding, with charge-product edges and velocities as in N-body."""

import pytest
import torch
from geometry_helpers import random_cloud_with_velocities, random_orthogonal

from gaan.models import CovariantVectorHead, EGNNBackbone
from gaan.models.pair_inputs import FeatureProducts

pytestmark = pytest.mark.usefixtures("float64_default_dtype")


def build(seed=0, **options):
    torch.manual_seed(seed)
    backbone = EGNNBackbone(in_features=2, width=16, depth=2, **options).double().eval()
    with torch.no_grad():  # EGNN starts with nearly still coordinates: make the moves visible
        for layer in backbone.layers:
            layer.coordinate[-1].weight.mul_(1000)
    return backbone


@pytest.mark.parametrize("options", [{}, {"pair_inputs": [FeatureProducts([0])], "vector_inputs": True}])
def test_equivariance_translation_permutation_and_padding(options):
    positions, features, velocities, mask = random_cloud_with_velocities(points=6, seed=1)
    backbone = build(**options)
    head = CovariantVectorHead(16, num_vectors=0).double().eval()
    out = backbone(positions, features, mask, vectors=velocities)
    prediction = head(out)
    assert out.vectors[mask].abs().max() > 1e-3 and torch.all(out.vectors[~mask] == 0)
    R = random_orthogonal(3, torch.Generator().manual_seed(3), proper=False)  # EGNN is O(3)-equivariant
    moved = backbone(positions @ R.T + torch.tensor([2.0, -1.0, 0.5]), features, mask, vectors=velocities @ R.T)
    torch.testing.assert_close(moved.invariants, out.invariants, rtol=0, atol=1e-10)
    torch.testing.assert_close(moved.vectors, out.vectors @ R.T, rtol=0, atol=1e-10)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(5))
    permuted = backbone(positions[:, perm], features[:, perm], mask[:, perm], vectors=velocities[:, perm])
    torch.testing.assert_close(permuted.invariants, out.invariants[:, perm], rtol=0, atol=1e-10)
    junk_positions, junk_features = positions.clone(), features.clone()
    junk_positions[~mask], junk_features[~mask] = 9.0, -3.0
    torch.testing.assert_close(head(backbone(junk_positions, junk_features, mask, vectors=velocities)), prediction, rtol=0, atol=1e-10)


def test_charge_products_make_a_global_charge_flip_invisible():
    positions, features, velocities, mask = random_cloud_with_velocities(points=5, seed=2)
    backbone = build(pair_inputs=[FeatureProducts([0])], vector_inputs=True)
    flipped = torch.cat([-features[..., :1], features[..., 1:]], -1)
    torch.testing.assert_close(
        backbone(positions, flipped, mask, vectors=velocities).vectors,
        backbone(positions, features, mask, vectors=velocities).vectors,
        rtol=0,
        atol=1e-12,
    )


def test_velocities_are_required_when_asked_for():
    positions, features, _, mask = random_cloud_with_velocities(points=5, seed=2)
    with pytest.raises(ValueError, match="model.vector_inputs=true but the batch has no vectors"):
        build(vector_inputs=True)(positions, features, mask)
