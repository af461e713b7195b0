import pytest
import torch

from gaan.data import PointCloudBatch, collate_point_clouds


def sample(n: int, label: int, with_labels: bool = False) -> dict:
    s = {
        "positions": torch.randn(n, 3),
        "features": torch.randn(n, 2),
        "targets": {"y": torch.tensor(float(label)), "forces": torch.randn(n, 3)},
    }
    if with_labels:
        s["labels"] = torch.arange(n - 1)
        s["targets"]["sites"] = torch.randn(n - 1, 3)
    return s


def test_collate_pads_positions_features_and_per_point_targets():
    samples = [sample(3, 0), sample(5, 1)]
    batch = collate_point_clouds(samples, per_point_targets=("forces",))
    assert batch.positions.shape == (2, 5, 3) and batch.features.shape == (2, 5, 2)
    assert batch.mask.tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert torch.equal(batch.positions[0, :3], samples[0]["positions"])
    assert torch.all(batch.positions[0, 3:] == 0) and torch.all(batch.targets["forces"][0, 3:] == 0)
    assert batch.targets["forces"].shape == (2, 5, 3)
    assert batch.targets["y"].tolist() == [0.0, 1.0]
    assert batch.labels is None and len(batch) == 2


def test_collate_pads_labels_and_per_label_targets():
    batch = collate_point_clouds([sample(3, 0, True), sample(6, 1, True)], per_point_targets=("forces",), per_label_targets=("sites",))
    assert batch.labels.shape == (2, 5) and batch.targets["sites"].shape == (2, 5, 3)
    assert batch.label_mask.sum(1).tolist() == [2, 5]


def test_batch_to_converts_every_tensor():
    batch = collate_point_clouds([sample(3, 0, True), sample(4, 1, True)], per_point_targets=("forces",), per_label_targets=("sites",))
    moved = batch.to(torch.float64)
    assert isinstance(moved, PointCloudBatch)
    assert moved.positions.dtype == torch.float64 and moved.targets["sites"].dtype == torch.float64
    assert moved.mask.dtype == torch.bool and moved.labels.dtype == torch.long


def test_collate_pads_covariant_vectors_and_to_keeps_them():
    samples = [sample(3, 0), sample(5, 1)]
    for s in samples:
        s["vectors"] = torch.randn(s["positions"].shape[0], 2, 3)
    batch = collate_point_clouds(samples, per_point_targets=("forces",))
    assert batch.vectors.shape == (2, 5, 2, 3)
    assert torch.equal(batch.vectors[0, :3], samples[0]["vectors"]) and torch.all(batch.vectors[0, 3:] == 0)
    assert batch.to(torch.float64).vectors.dtype == torch.float64
    assert collate_point_clouds([sample(3, 0)], per_point_targets=("forces",)).vectors is None
    with pytest.raises(ValueError, match="vectors"):
        collate_point_clouds([samples[0], sample(4, 1)], per_point_targets=("forces",))
