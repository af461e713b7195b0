"""task=nbody: predict the positions of five charged bodies 10 frames ahead (nbody_small).

The simulator is in :mod:`gaan.tasks.nbody.simulation`, the checksummed cache of its
trajectories in :mod:`gaan.tasks.nbody.cache`; this module turns them into task samples.
"""

from __future__ import annotations

import numpy as np
import torch

from gaan.data.base import PointCloudDataModule
from gaan.data.checksums import CacheError
from gaan.data.corrupt_files import move_aside_corrupt
from gaan.tasks.nbody.cache import load_or_generate_nbody_small, nbody_cache_dir
from gaan.tasks.nbody.simulation import NBODY_SPLITS, NBodySmallRecipe

__all__ = ["NBodyDataModule", "charge_flipped", "nbody_task_arrays", "task_arrays_to_samples"]


def nbody_task_arrays(split_arrays: dict[str, np.ndarray], frame_in: int = 30, frame_out: int = 40) -> dict[str, np.ndarray]:
    """The prediction task: state at ``frame_in`` -> positions at ``frame_out``.

    Returns ``pos``, ``vel``, ``target`` (S, n, 3) and ``charges`` (S, n), float64.
    """
    num_frames = split_arrays["loc"].shape[1]
    for name, frame in (("frame_in", frame_in), ("frame_out", frame_out)):
        if not 0 <= frame < num_frames:
            raise ValueError(f"{name} must be in [0, {num_frames}), got {frame}")
    return {
        "pos": split_arrays["loc"][:, frame_in],
        "vel": split_arrays["vel"][:, frame_in],
        "charges": split_arrays["charges"],
        "target": split_arrays["loc"][:, frame_out],
    }


def task_arrays_to_samples(task: dict[str, np.ndarray]) -> list[dict]:
    """Harness samples from :func:`nbody_task_arrays` output.

    positions: (n, 3) at the input frame; features: (n, 2) charge and speed; targets:
    ``vectors`` = displacement to the output frame (n, 3) (MSE on it equals the published
    position MSE) and ``velocity`` (n, 3), the input velocities; ``vectors`` (n, 1, 3): the
    same velocities as the covariant model input (`PointCloudBatch.vectors`).
    """
    speed = np.linalg.norm(task["vel"], axis=-1)
    features = np.stack([task["charges"], speed], axis=-1).astype(np.float32)
    displacement = (task["target"] - task["pos"]).astype(np.float32)
    samples = []
    for s in range(len(task["pos"])):
        samples.append(
            {
                "positions": torch.from_numpy(task["pos"][s].astype(np.float32)),
                "features": torch.from_numpy(features[s]),
                "vectors": torch.from_numpy(task["vel"][s].astype(np.float32))[:, None, :],
                "targets": {
                    "vectors": torch.from_numpy(displacement[s]),
                    "velocity": torch.from_numpy(task["vel"][s].astype(np.float32)),
                },
            }
        )
    return samples


class NBodyDataModule(PointCloudDataModule):
    """task=nbody: positions at ``frame_out`` from the state at ``frame_in`` (nbody_small).

    Uses the recipe's splits (the first ``num_train`` train simulations, then all valid and
    test simulations), not the harness's random split; ``split_fractions`` is ignored.
    ``recipe`` (fields of :class:`NBodySmallRecipe`) changes the published recipe, e.g. for
    small smoke-test datasets.

    ``charge_flip_augmentation=True`` adds to the training split a copy of every system with
    all charges negated and the same target: forces depend on q_i q_j only, so the flipped
    system follows exactly the same trajectory (tested on the simulator). It uses no data
    beyond the published inputs; an epoch then has twice the steps.
    """

    name = "nbody"
    per_point_targets = ("vectors", "velocity")
    covariant_targets = ("vectors", "velocity")

    def __init__(
        self,
        data_dir: str,
        num_train: int = 3000,
        frame_in: int = 30,
        frame_out: int = 40,
        recipe: NBodySmallRecipe | dict | None = None,
        charge_flip_augmentation: bool = False,
        **kwargs,
    ):
        super().__init__(data_dir, **kwargs)
        self.charge_flip_augmentation = bool(charge_flip_augmentation)
        if recipe is None:
            recipe = NBodySmallRecipe()
        elif not isinstance(recipe, NBodySmallRecipe):
            try:
                recipe = NBodySmallRecipe(**dict(recipe))
            except TypeError as err:
                raise ValueError(f"datamodule.recipe: {err}") from None
        if not 1 <= num_train <= recipe.num_train:
            raise ValueError(f"num_train must be in [1, {recipe.num_train}], got {num_train}")
        for name, frame in (("frame_in", frame_in), ("frame_out", frame_out)):
            if not 0 <= frame < recipe.num_frames:
                raise ValueError(f"{name} must be in [0, {recipe.num_frames}), got {frame}")
        self.recipe = recipe
        self.num_train = int(num_train)
        self.frame_in = int(frame_in)
        self.frame_out = int(frame_out)

    @property
    def num_features(self) -> int:
        return 2

    def cache_key(self) -> dict:
        return {
            "recipe": self.recipe.digest(),
            "num_train": self.num_train,
            "frame_in": self.frame_in,
            "frame_out": self.frame_out,
            "version": 2,  # 2: samples carry "vectors" (velocities as covariant inputs)
        }

    def _split_sizes(self) -> dict[str, int]:
        return {"train": self.num_train, "val": self.recipe.num_valid, "test": self.recipe.num_test}

    def build_samples(self) -> list[dict]:
        try:
            data = load_or_generate_nbody_small(self.data_dir, self.recipe, self.num_train)
        except CacheError as err:
            # a corrupt trajectory cache is regenerated (deterministic) after keeping it aside
            move_aside_corrupt(nbody_cache_dir(self.data_dir, self.recipe, self.num_train), str(err))
            data = load_or_generate_nbody_small(self.data_dir, self.recipe, self.num_train)
        samples: list[dict] = []
        for split in NBODY_SPLITS:
            task = nbody_task_arrays(data[split], self.frame_in, self.frame_out)
            samples.extend(task_arrays_to_samples(task))
        return samples

    def split_samples(self, samples: list) -> dict[str, list]:
        """The published splits, stored in order (train, valid, test)."""
        splits, start = {}, 0
        for split, size in self._split_sizes().items():
            splits[split] = samples[start : start + size]
            start += size
        if start != len(samples):
            raise RuntimeError(f"{self.cache_path} holds {len(samples)} samples, expected {start}; delete it")
        if self.charge_flip_augmentation:
            splits["train"] = splits["train"] + [charge_flipped(sample) for sample in splits["train"]]
        return splits


def charge_flipped(sample: dict) -> dict:
    """The same system with every charge negated (feature column 0): same dynamics, same target."""
    features = sample["features"].clone()
    features[:, 0] = -features[:, 0]
    return {**sample, "features": features}
