"""Base LightningDataModule: cached samples, seeded splits, resumable sharded loading."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import pickle
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from gaan.data.augmentation import random_rotation_matrices, rotate_batch
from gaan.data.batch import PointCloudBatch, collate_point_clouds
from gaan.data.corrupt_files import move_aside_corrupt
from gaan.files import atomic_stream

log = logging.getLogger(__name__)

# what torch.load raises on a truncated or garbled file (a 10-byte file: OSError Errno 22)
_UNREADABLE = (OSError, EOFError, RuntimeError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile)


class MissingDataError(FileNotFoundError):
    """A data file or directory a task needs is absent; the message says how to get it."""


def require_path(path: str | Path, how_to_get: str) -> Path:
    """Return `path` if it exists, else raise MissingDataError naming it and the fix."""
    path = Path(path)
    if not path.exists():
        raise MissingDataError(f"Missing data: {path} does not exist. {how_to_get}")
    return path


class ListDataset(Dataset):
    def __init__(self, samples: Sequence[dict]):
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        return self.samples[index]


class ResumableShardedSampler(Sampler[int]):
    """Index sampler whose order depends only on (seed, epoch, rank, world size).

    Shards across DDP ranks itself (trainer `use_distributed_sampler: false`), and can skip
    the batches an interrupted run already trained on, so a resumed epoch continues where
    the checkpoint was written.

    ``pad_to_equal_shards``: training repeats a few samples so every rank takes the same number
    of steps (DDP's gradient sync needs it); evaluation must not (each sample counted once), and
    uneven shards are fine there because metrics are summed over ranks at the epoch's end.
    """

    def __init__(self, num_samples: int, seed: int, shuffle: bool, pad_to_equal_shards: bool = True):
        self.num_samples = num_samples
        self.seed = seed
        self.shuffle = shuffle
        self.pad_to_equal_shards = pad_to_equal_shards
        self.epoch = 0
        self.skip_samples = 0  # per-rank samples to skip once, set when resuming mid-epoch

    @staticmethod
    def _rank_and_world() -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        rank, world = self._rank_and_world()
        if self.pad_to_equal_shards:
            return math.ceil(self.num_samples / world)
        return len(range(rank, self.num_samples, world))

    def __iter__(self) -> Iterator[int]:
        rank, world = self._rank_and_world()
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.num_samples, generator=generator).tolist()
        else:
            order = list(range(self.num_samples))
        if self.pad_to_equal_shards:
            per_rank = math.ceil(self.num_samples / world)
            order = order + order[: per_rank * world - len(order)]
        shard = order[rank::world]
        skip, self.skip_samples = self.skip_samples, 0
        return iter(shard[skip:])


class ResumableDataLoader(DataLoader):
    """DataLoader that Lightning checkpoints (it has state_dict/load_state_dict).

    The state is (epoch, batches already trained this epoch); the trained-batch count comes
    from the trainer, because the loader itself runs ahead by its prefetch.
    """

    trained_batches_fn: Callable[[], int] | None = None

    def state_dict(self) -> dict[str, int]:
        if not isinstance(self.sampler, ResumableShardedSampler):
            # Lightning replaced the sampler (a SequentialSampler for overfit_batches): such a
            # loader restarts from its first batch every epoch, so there is nothing to resume
            return {}
        trained = self.trained_batches_fn() if self.trained_batches_fn is not None else 0
        return {"epoch": self.sampler.epoch, "trained_batches": int(trained)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if not state or not isinstance(self.sampler, ResumableShardedSampler):
            return  # written by, or loaded into, a loader whose sampler Lightning replaced
        # Lightning loads this state and then builds the first iterator *before* it calls
        # set_epoch, so the sampler is positioned here: the checkpoint's epoch, minus the
        # batches already trained. A finished epoch needs no skip (Lightning re-iterates
        # after setting the next epoch).
        trained = int(state.get("trained_batches", 0))
        self.sampler.set_epoch(int(state.get("epoch", 0)))
        self.sampler.skip_samples = trained * self.batch_size if trained < len(self) else 0


class PointCloudDataModule(L.LightningDataModule):
    """Base for every task's data: subclasses implement `build_samples()`.

    Samples are built once and cached as `<data_dir>/<name>/<config hash>.pt`; splits are a
    seeded permutation, so the same `split_seed` always gives the same train/val/test sets.
    """

    name: str = "pointclouds"
    per_point_targets: tuple[str, ...] = ()
    per_label_targets: tuple[str, ...] = ()
    # targets that turn with the cloud (rotated by `rotation_augmentation`); the rest are invariant
    covariant_targets: tuple[str, ...] = ()

    def __init__(
        self,
        data_dir: str,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 0,
        shuffle_seed: int | None = 0,
        pin_memory: bool = False,
        rotation_augmentation: bool = False,
    ):
        super().__init__()
        if abs(sum(split_fractions) - 1.0) > 1e-6 or len(split_fractions) != 3:
            raise ValueError(f"datamodule.split_fractions must be three numbers summing to 1, got {list(split_fractions)}")
        self.data_dir = Path(data_dir)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.split_fractions = tuple(split_fractions)
        self.split_seed = split_seed
        self.shuffle_seed = 0 if shuffle_seed is None else int(shuffle_seed)  # seed=null still shuffles reproducibly
        self.pin_memory = pin_memory
        # each training cloud turned by its own random rotation (for models that are not equivariant)
        self.rotation_augmentation = bool(rotation_augmentation)
        self.splits: dict[str, ListDataset] = {}

    # ---- to implement -------------------------------------------------------------------
    def build_samples(self) -> list[dict]:
        """Return every sample as a dict (see `collate_point_clouds`)."""
        raise NotImplementedError

    def cache_key(self) -> dict[str, Any]:
        """Parameters that determine the samples; they name the cache file."""
        return {}

    @property
    def num_features(self) -> int:
        raise NotImplementedError

    def training_reference(self) -> dict[str, Any] | None:
        """What a task module fits on the training split before training (once, when fitting
        starts, then stored with its weights), or None when the data has none: the one way a
        task reads it. md17 gives `elements`, `numbers`, `energies`, `forces` for the
        per-element reference energies of `EnergyForceTask`; qm9 gives `targets` and
        `element_counts` for the target baseline of `MolecularPropertyTask`."""
        return None

    # ---- caching and splits -------------------------------------------------------------
    @property
    def cache_path(self) -> Path:
        key = json.dumps(self.cache_key(), sort_keys=True, default=str)
        digest = hashlib.sha1(key.encode()).hexdigest()[:12]
        return self.data_dir / self.name / f"{digest}.pt"

    def prepare_data(self) -> None:
        path = self.cache_path
        if path.exists():
            # torch.save writes a zip archive, whose directory sits at the end: a cheap check
            # that catches truncated files before any rank tries to load them
            if zipfile.is_zipfile(path):
                return
            move_aside_corrupt(path, "not a complete torch archive, e.g. a truncated write")
        path.parent.mkdir(parents=True, exist_ok=True)
        log.info("Building %s samples into %s (once; later runs load this cache)", self.name, path)
        started = time.perf_counter()
        samples = self.build_samples()
        # a temporary file per process, then an atomic rename: a concurrent rank never reads a
        # half-written file
        with atomic_stream(path) as stream:  # a stream: the archive's inner name does not vary with the file's
            torch.save(samples, stream)
        log.info("Cached %d samples in %.1f s", len(samples), time.perf_counter() - started)

    def load_samples(self) -> list:
        """The cached samples; an unreadable cache is moved aside (named in a warning) and rebuilt."""
        if not self.cache_path.exists():
            self.prepare_data()
        try:
            return torch.load(self.cache_path, weights_only=False)
        except _UNREADABLE as err:
            move_aside_corrupt(self.cache_path, f"{type(err).__name__}: {err}")
        self.prepare_data()
        return torch.load(self.cache_path, weights_only=False)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        samples = self.load_samples()
        for split, split_samples in self.split_samples(samples).items():
            self.splits[split] = ListDataset(split_samples)

    def split_samples(self, samples: list) -> dict[str, list]:
        """Seeded random train/val/test split by `split_fractions`; data sets with published
        splits override this."""
        generator = torch.Generator().manual_seed(self.split_seed)
        order = torch.randperm(len(samples), generator=generator).tolist()
        n_train = int(round(self.split_fractions[0] * len(samples)))
        n_val = int(round(self.split_fractions[1] * len(samples)))
        bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, len(samples))}
        return {split: [samples[i] for i in order[lo:hi]] for split, (lo, hi) in bounds.items()}

    # ---- loaders ------------------------------------------------------------------------
    def _trained_batches(self) -> int:
        trainer = self.trainer
        if trainer is None:
            return 0
        return trainer.fit_loop.epoch_loop.batch_progress.current.processed

    def _loader(self, split: str, shuffle: bool) -> ResumableDataLoader:
        dataset = self.splits[split]
        _, world = ResumableShardedSampler._rank_and_world()
        if split != "train" and len(dataset) < world:
            # an unpadded shard would be empty on some rank, whose missing metric sync would hang the others
            raise ValueError(
                f"The {split} split has {len(dataset)} samples, fewer than the {world} processes; "
                "use fewer devices (trainer.devices) or a larger split"
            )
        sampler = ResumableShardedSampler(len(dataset), seed=self.shuffle_seed, shuffle=shuffle, pad_to_equal_shards=split == "train")
        loader = ResumableDataLoader(
            dataset,
            batch_size=self.batch_size if split == "train" else self.eval_batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
            collate_fn=functools.partial(
                collate_point_clouds,
                per_point_targets=self.per_point_targets,
                per_label_targets=self.per_label_targets,
            ),
        )
        if split == "train":
            loader.trained_batches_fn = self._trained_batches
        return loader

    def train_dataloader(self) -> ResumableDataLoader:
        return self._loader("train", shuffle=True)

    def on_after_batch_transfer(self, batch: PointCloudBatch, dataloader_idx: int) -> PointCloudBatch:
        """Rotation augmentation of training batches (validation and test see the data as it is)."""
        if self.rotation_augmentation and self.trainer is not None and self.trainer.training:
            batch = rotate_batch(batch, random_rotation_matrices(len(batch)), self.covariant_targets)
        return batch

    def val_dataloader(self) -> ResumableDataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> ResumableDataLoader:
        return self._loader("test", shuffle=False)
