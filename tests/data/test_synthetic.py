import numpy as np
import pytest
import torch

from gaan.data import MissingDataError, ResumableShardedSampler, require_path
from gaan.tasks.synthetic_cubic.datamodule import SyntheticCubicDataModule, make_cubic_environments


def anisotropy(points: np.ndarray) -> float:
    """Spread of the gyration-tensor eigenvalues: 0 for an isotropic cloud."""
    centred = points - points.mean(0)
    eig = np.linalg.eigvalsh(centred.T @ centred / len(points))
    return float((eig.max() - eig.min()) / eig.mean())


def test_generation_is_deterministic_and_classes_differ_geometrically():
    a = make_cubic_environments(200, seed=3)
    b = make_cubic_environments(200, seed=3)
    assert all(torch.equal(x["positions"], y["positions"]) for x, y in zip(a, b))
    sizes = {len(s["positions"]) for s in a}
    assert sizes <= {12, 13, 14} and len(sizes) > 1  # dropped points exercise padding
    full = make_cubic_environments(200, max_dropped=0, seed=3)  # no dropped points: pure shape
    by_class = {c: [anisotropy(s["positions"].numpy()) for s in full if int(s["targets"]["label"]) == c] for c in (0, 1)}
    assert np.median(by_class[1]) > 3 * np.median(by_class[0])


def test_datamodule_splits_are_seeded_disjoint_and_cached(tmp_path):
    def splits(seed):
        dm = SyntheticCubicDataModule(str(tmp_path), num_samples=100, split_seed=seed)
        dm.prepare_data()
        dm.setup("fit")
        return dm, {k: [s["positions"].sum().item() for s in v.samples] for k, v in dm.splits.items()}

    dm, first = splits(0)
    assert dm.cache_path.is_file() and dm.cache_path.parent == tmp_path / "synthetic_cubic"
    assert [len(first[k]) for k in ("train", "val", "test")] == [80, 10, 10]
    assert not set(first["train"]) & set(first["val"]) and not set(first["train"]) & set(first["test"])
    assert splits(0)[1] == first
    assert splits(1)[1]["train"] != first["train"]
    batch = next(iter(dm.train_dataloader()))
    assert batch.positions.shape[0] == 64 and batch.targets["label"].dtype == torch.long


def test_require_path_names_missing_path_and_remedy(tmp_path):
    missing = tmp_path / "rmd17" / "rmd17_aspirin.npz"
    with pytest.raises(MissingDataError, match="rmd17_aspirin.npz.*download it"):
        require_path(missing, "download it with scripts/get_rmd17.sh")
    assert require_path(tmp_path, "unused") == tmp_path


def test_sampler_shards_cover_dataset_and_depend_on_epoch(monkeypatch):
    sampler = ResumableShardedSampler(10, seed=1, shuffle=True)
    shards = []
    for rank in (0, 1):
        monkeypatch.setattr(ResumableShardedSampler, "_rank_and_world", staticmethod(lambda r=rank: (r, 2)))
        shards.append(list(sampler))
    assert sorted(shards[0] + shards[1]) == list(range(10)) and len(shards[0]) == len(shards[1]) == 5
    monkeypatch.setattr(ResumableShardedSampler, "_rank_and_world", staticmethod(lambda: (0, 1)))
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != epoch0
    sampler.set_epoch(0)
    assert list(sampler) == epoch0
    sampler.skip_samples = 4
    assert list(sampler) == epoch0[4:] and list(sampler) == epoch0  # skip applies once
