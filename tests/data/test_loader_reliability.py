"""Data-side reliability (issue 23): debug=overfit checkpoints, every evaluation sample counted
once under DDP, corrupt caches moved aside and rebuilt, slow generation shows progress."""

from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path

import pytest
import torch

from gaan.data import CorruptCacheWarning, ProgressLog, ResumableShardedSampler
from gaan.eval import evaluate
from gaan.tasks.nbody.cache import nbody_cache_dir
from gaan.tasks.nbody.datamodule import NBodyDataModule
from gaan.tasks.nbody.simulation import NBodySmallRecipe, generate_nbody_small
from gaan.tasks.synthetic_cubic.datamodule import SyntheticCubicDataModule
from gaan.train import compose_config, run

QUIET = ["callbacks.rich_progress_bar=null", "callbacks.model_summary=null", "trainer.enable_progress_bar=false"]
# 192 samples split 0.8 / 0.1 / 0.1: 154 train, 19 validation and 19 test samples (odd)
SMALL_CUBIC = ["task.datamodule.num_samples=192", "task.datamodule.batch_size=32", "model.width=16"]
NUM_TEST = 19


def paths(root: Path) -> list[str]:
    return [f"paths.output_dir={root}/out", f"paths.data_dir={root}/data", f"paths.log_dir={root}/logs"]


def shards(num_samples: int, world: int, monkeypatch, **kwargs) -> list[list[int]]:
    sampler = ResumableShardedSampler(num_samples, seed=3, shuffle=True, **kwargs)
    out = []
    for rank in range(world):
        monkeypatch.setattr(ResumableShardedSampler, "_rank_and_world", staticmethod(lambda r=rank: (r, world)))
        out.append(list(sampler))
        assert len(sampler) == len(out[-1])
    return out


@pytest.mark.parametrize("num_samples,world", [(205, 2), (19, 2), (10, 3), (7, 4), (12, 4)])
def test_evaluation_shards_hold_every_sample_exactly_once(num_samples, world, monkeypatch):
    parts = shards(num_samples, world, monkeypatch, pad_to_equal_shards=False)
    assert sorted(i for part in parts for i in part) == list(range(num_samples))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    # training shards stay padded to equal length (every rank must take the same number of steps)
    padded = shards(num_samples, world, monkeypatch)
    assert {len(p) for p in padded} == {math.ceil(num_samples / world)}
    assert set(i for part in padded for i in part) == set(range(num_samples))


def test_datamodule_pads_only_the_training_shards(tmp_path):
    dm = SyntheticCubicDataModule(str(tmp_path), num_samples=64, batch_size=8)
    dm.setup()
    assert dm.train_dataloader().sampler.pad_to_equal_shards
    assert not dm.val_dataloader().sampler.pad_to_equal_shards
    assert not dm.test_dataloader().sampler.pad_to_equal_shards


def test_evaluation_split_smaller_than_the_process_count_is_refused(tmp_path, monkeypatch):
    dm = SyntheticCubicDataModule(str(tmp_path), num_samples=16, batch_size=4)
    dm.setup()  # 13 train, 2 validation, 1 test samples
    monkeypatch.setattr(ResumableShardedSampler, "_rank_and_world", staticmethod(lambda: (0, 4)))
    with pytest.raises(ValueError, match=r"The val split has 2 samples, fewer than the 4 processes"):
        dm.val_dataloader()
    assert len(dm.train_dataloader().sampler) == 4  # training pads 13 samples to 4 per rank


def test_debug_overfit_run_finishes_and_writes_checkpoints(tmp_path):
    """`train.py debug=overfit`: Lightning swaps the sampler for overfit_batches, and saving a
    checkpoint used to fail in ResumableDataLoader.state_dict (SequentialSampler has no epoch)."""
    cfg = compose_config(["debug=overfit", "trainer.max_epochs=2", "checkpoint_every_n_steps=1", *QUIET, *SMALL_CUBIC, *paths(tmp_path)])
    metrics = run(cfg)
    assert "test/acc" in metrics and all(math.isfinite(v) for v in metrics.values())
    last = torch.load(tmp_path / "out" / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == 4  # overfit_batches=2, two epochs


@pytest.mark.slow  # spawning two processes took 110 s on the shared 2-core machine (load 18)
def test_ddp_sim_test_metrics_equal_one_process(tmp_path):
    """The same checkpoint tested by one process and by two (ddp_sim) gives the same numbers:
    19 test samples used to be padded to 20 on two ranks, counting one sample twice, and
    Lightning's integer sample count then truncated 19 / 2 ranks to 9 in the mean loss."""
    trained = run(compose_config(["trainer.max_epochs=1", *QUIET, *SMALL_CUBIC, *paths(tmp_path / "train")]))
    best = next((tmp_path / "train" / "out" / "checkpoints").glob("best-epoch*.ckpt"))

    def test_metrics(*overrides: str) -> dict[str, float]:
        cfg = compose_config([f"ckpt_path={best}", *SMALL_CUBIC, *overrides, *paths(tmp_path / "eval")], config_name="eval")
        return evaluate(cfg)

    one = test_metrics()
    two = test_metrics("trainer=ddp_sim")
    assert one["test/acc"] == pytest.approx(trained["test/acc"], abs=1e-7)
    correct = one["test/acc"] * NUM_TEST
    assert correct == pytest.approx(round(correct), abs=1e-4)  # accuracy over the 19 test samples
    assert 0 < one["test/acc"] < 1  # a duplicate would then change the accuracy
    assert two.keys() == one.keys()
    for name in one:
        assert two[name] == pytest.approx(one[name], rel=1e-5, abs=1e-7), name


def truncate(path: Path, keep_bytes: int) -> None:
    path.write_bytes(path.read_bytes()[:keep_bytes])


@pytest.mark.parametrize("keep_bytes", [0, 10, 1000])
def test_truncated_sample_cache_is_moved_aside_and_rebuilt(tmp_path, keep_bytes, caplog):
    dm = SyntheticCubicDataModule(str(tmp_path), num_samples=64)
    dm.prepare_data()
    path = dm.cache_path
    original = path.read_bytes()
    truncate(path, keep_bytes)  # 10 bytes used to give "OSError: [Errno 22] Invalid argument"
    fresh = SyntheticCubicDataModule(str(tmp_path), num_samples=64)
    with pytest.warns(CorruptCacheWarning, match=rf"{path.name} is unreadable .* moved it to .*{path.name}\.corrupt-"):
        fresh.setup()  # without prepare_data first, as a process that only loads would
    (aside,) = path.parent.glob(f"{path.name}.corrupt-*")
    assert len(aside.read_bytes()) == keep_bytes
    assert path.read_bytes() == original  # rebuilt, bit for bit
    assert sum(len(s) for s in fresh.splits.values()) == 64
    # prepare_data (Lightning's rank-0 step) also notices a truncated file before anyone loads it
    truncate(path, 1000)
    with pytest.warns(CorruptCacheWarning):
        SyntheticCubicDataModule(str(tmp_path), num_samples=64).prepare_data()
    assert path.read_bytes() == original and len(list(path.parent.glob("*.corrupt-*"))) == 2


def test_truncated_nbody_trajectory_cache_is_regenerated(tmp_path):
    recipe = {"num_steps": 1000, "num_train": 6, "num_valid": 3, "num_test": 2}
    dm = NBodyDataModule(str(tmp_path), num_train=4, frame_in=3, frame_out=5, recipe=recipe)
    dm.setup()
    expected = [s["positions"] for s in dm.splits["train"]]
    dm.cache_path.unlink()  # the sample cache is rebuilt from the trajectory cache below
    trajectories = nbody_cache_dir(tmp_path, NBodySmallRecipe(**recipe), 4)
    truncate(trajectories / "train.npz", 100)
    again = NBodyDataModule(str(tmp_path), num_train=4, frame_in=3, frame_out=5, recipe=recipe)
    with pytest.warns(CorruptCacheWarning, match=r"train\.npz"):
        again.setup()
    rebuilt = [s["positions"] for s in again.splits["train"]]
    assert len(rebuilt) == len(expected) and all(torch.equal(a, b) for a, b in zip(rebuilt, expected))
    assert len(list(tmp_path.glob(f"{trajectories.name}.corrupt-*"))) == 1


def test_nbody_generation_logs_progress_lines(caplog):
    caplog.set_level(logging.INFO, logger="gaan.tasks.nbody")
    recipe = NBodySmallRecipe(num_steps=1000, num_train=6, num_valid=3, num_test=3)
    generate_nbody_small(recipe, num_train_used=6, chunk_size=2)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("nbody_small: integrating")]
    # 12 simulations x 900 steps (9 saved frames of 100 steps), reported per frame, not per chunk
    assert lines and lines[-1].startswith("nbody_small: integrating 12 simulations x 900 steps: 100% (10800/10800)")
    assert "ETA 0 s" in lines[-1]


def test_progress_log_reports_every_few_seconds(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="test.progress")
    clock = iter([0.0, 1.0, 2.0, 6.0, 7.0, 8.0])
    monkeypatch.setattr("gaan.data.progress.time.perf_counter", lambda: next(clock))
    progress = ProgressLog(logging.getLogger("test.progress"), "steps", total=5, every_seconds=5.0)
    for _ in range(5):
        progress.advance(1)  # at t = 1, 2, 6, 7, 8
    messages = [r.getMessage() for r in caplog.records]
    # a line once 5 s have passed (t = 6: 3 of 5 done, ETA 4 s) and one at the end
    assert messages == [
        "steps: 60% (3/5), 6.0 s elapsed, ETA 4 s",
        "steps: 100% (5/5), 8.0 s elapsed, ETA 0 s",
    ]


def test_building_a_sample_cache_logs_where_and_how_long(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="gaan.data")
    dm = SyntheticCubicDataModule(str(tmp_path), num_samples=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fresh build is not a corrupt cache
        dm.prepare_data()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert f"Building synthetic_cubic samples into {dm.cache_path}" in text
    assert "Cached 16 samples" in text
