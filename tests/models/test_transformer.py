"""Transformer baseline: permutation-equivariant and blind to padding, but not rotation-equivariant
(which is why it trains with rotation augmentation)."""

import pytest
import torch
from geometry_helpers import random_cloud_with_velocities, random_orthogonal

from gaan.models import TransformerBackbone

pytestmark = pytest.mark.usefixtures("float64_default_dtype")


def test_permutations_padding_and_no_rotation_equivariance():
    positions, features, velocities, mask = random_cloud_with_velocities(points=6, seed=1)
    torch.manual_seed(0)
    backbone = TransformerBackbone(in_features=2, width=16, depth=2, heads=2, vector_inputs=True).double().eval()
    out = backbone(positions, features, mask, vectors=velocities)
    assert out.vectors.shape == positions.shape and torch.all(out.vectors[~mask] == 0)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(5))
    permuted = backbone(positions[:, perm], features[:, perm], mask[:, perm], vectors=velocities[:, perm])
    torch.testing.assert_close(permuted.invariants, out.invariants[:, perm], rtol=0, atol=1e-10)
    junk_positions, junk_features = positions.clone(), features.clone()
    junk_positions[~mask], junk_features[~mask] = 9.0, -3.0
    torch.testing.assert_close(
        backbone(junk_positions, junk_features, mask, vectors=velocities).invariants, out.invariants, rtol=0, atol=1e-10
    )
    R = random_orthogonal(3, torch.Generator().manual_seed(3))
    rotated = backbone(positions @ R.T, features, mask, vectors=velocities @ R.T)
    assert (rotated.vectors - out.vectors @ R.T)[mask].abs().max() > 1e-3


def test_bad_settings_name_the_key():
    with pytest.raises(ValueError, match="model.heads=3 must divide model.width=16"):
        TransformerBackbone(in_features=2, width=16, heads=3)
    positions, features, velocities, mask = random_cloud_with_velocities(points=4, seed=1)
    with pytest.raises(ValueError, match="model.max_vector_inputs=1, but the batch has 2"):
        TransformerBackbone(in_features=2, width=16, heads=2, vector_inputs=True).double()(
            positions, features, mask, vectors=torch.cat([velocities, velocities], 2)
        )
