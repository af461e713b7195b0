"""Rotation augmentation: training batches turn (positions, input vectors, covariant targets) by one
random rotation per cloud; invariant targets and validation batches stay as they are."""

import types

import pytest
import torch

from gaan.data.augmentation import random_rotation_matrices, rotate_batch
from gaan.data.base import PointCloudDataModule
from gaan.data.batch import PointCloudBatch


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(2, 4, dtype=torch.bool)
    mask[1, 3] = False
    return PointCloudBatch(
        positions=torch.randn(2, 4, 3, generator=g) * mask[..., None],
        features=torch.randn(2, 4, 1, generator=g),
        mask=mask,
        targets={"displacement": torch.randn(2, 4, 3, generator=g), "energy": torch.randn(2, generator=g)},
        vectors=torch.randn(2, 4, 1, 3, generator=g),
    )


def test_each_cloud_turns_by_its_own_rotation():
    original = batch()
    rotations = random_rotation_matrices(2, torch.Generator().manual_seed(1)).float()
    assert torch.allclose(rotations @ rotations.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-6)
    assert torch.allclose(torch.linalg.det(rotations), torch.ones(2), atol=1e-6)
    turned = rotate_batch(original, rotations, ["displacement"])
    for b in range(2):
        R = rotations[b]
        torch.testing.assert_close(turned.positions[b], original.positions[b] @ R.T)
        torch.testing.assert_close(turned.vectors[b], original.vectors[b] @ R.T)
        torch.testing.assert_close(turned.targets["displacement"][b], original.targets["displacement"][b] @ R.T)
    torch.testing.assert_close(turned.targets["energy"], original.targets["energy"])
    torch.testing.assert_close(turned.features, original.features)
    assert torch.all(turned.positions[~original.mask] == 0)  # padding stays zero
    assert not torch.allclose(rotations[0], rotations[1])


def test_a_covariant_target_the_batch_lacks_is_named():
    with pytest.raises(ValueError, match=r"covariant targets \['forces'\] are not in the batch's targets"):
        rotate_batch(batch(), random_rotation_matrices(2), ["forces"])


@pytest.mark.parametrize("training,augment,turned", [(True, True, True), (False, True, False), (True, False, False)])
def test_only_training_batches_of_an_augmenting_datamodule_turn(training, augment, turned):
    datamodule = PointCloudDataModule("unused", rotation_augmentation=augment)
    datamodule.covariant_targets = ("displacement",)
    datamodule.trainer = types.SimpleNamespace(training=training)
    original = batch()
    out = datamodule.on_after_batch_transfer(original, 0)
    assert (not torch.allclose(out.positions, original.positions)) == turned
