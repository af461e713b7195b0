"""The N-body data cache: one ``<split>.npz`` per split plus a manifest of sha256 checksums."""

from __future__ import annotations

import json
import logging
import time
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from gaan.data.checksums import array_checksum
from gaan.tasks.nbody.simulation import NBODY_SPLITS, NBodySmallRecipe, generate_nbody_small

log = logging.getLogger(__name__)

__all__ = ["NBodyCacheError", "array_checksum", "load_or_generate_nbody_small", "nbody_cache_dir"]


class NBodyCacheError(RuntimeError):
    """A cached N-body file is missing, unreadable, or does not match its recorded checksum."""


_MANIFEST = "checksums.json"


def nbody_cache_dir(data_dir: str | Path, recipe: NBodySmallRecipe, num_train_used: int | None) -> Path:
    """The folder of one recipe's cached splits (its name must not change: old caches stay valid)."""
    used = "all" if num_train_used is None else str(num_train_used)
    return Path(data_dir) / f"nbody_small-{recipe.digest()}-train{used}"


def _save_split(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, str]:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return {name: array_checksum(value) for name, value in arrays.items()}


def _load_split(path: Path, expected: dict[str, str]) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise NBodyCacheError(f"cache file {path} is missing (listed in {_MANIFEST})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise NBodyCacheError(f"cache file {path} is unreadable ({type(err).__name__}: {err}); delete it to regenerate") from err
    if set(arrays) != set(expected):
        raise NBodyCacheError(f"cache file {path} holds arrays {sorted(arrays)}, expected {sorted(expected)}; delete it to regenerate")
    for name, checksum in expected.items():
        if array_checksum(arrays[name]) != checksum:
            raise NBodyCacheError(
                f"cache file {path}: array {name!r} does not match its sha256 in "
                f"{path.parent / _MANIFEST}; the file is corrupt or was modified, delete it "
                "to regenerate"
            )
    return arrays


def load_or_generate_nbody_small(
    data_dir: str | Path,
    recipe: NBodySmallRecipe = NBodySmallRecipe(),
    num_train_used: int | None = 3000,
    *,
    num_threads: int = 1,
    verbose: bool = False,
) -> dict[str, dict[str, np.ndarray]]:
    """Load the cached splits from ``data_dir`` (verifying checksums), generating on a miss.

    The cache lives in ``data_dir/nbody_small-<recipe digest>-train<used>/`` as one
    ``<split>.npz`` per split plus ``checksums.json`` (sha256 of every array and the recipe).
    A missing manifest means a miss; a manifest whose files are missing, unreadable or do not
    match their checksums raises :class:`NBodyCacheError` naming the file.
    """
    cache = nbody_cache_dir(data_dir, recipe, num_train_used)
    manifest_path = cache / _MANIFEST
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
            checksums = manifest["checksums"]
        except (ValueError, KeyError, TypeError) as err:
            raise NBodyCacheError(f"manifest {manifest_path} is unreadable ({err}); delete the folder to regenerate") from err
        if manifest.get("recipe") != asdict(recipe):
            raise NBodyCacheError(f"manifest {manifest_path} records another recipe than requested; delete the folder to regenerate")
        return {split: _load_split(cache / f"{split}.npz", checksums[split]) for split in NBODY_SPLITS}
    started = time.perf_counter()
    log.info("Generating nbody_small into %s; progress follows", cache)
    data = generate_nbody_small(recipe, num_train_used, num_threads=num_threads)
    cache.mkdir(parents=True, exist_ok=True)
    checksums = {split: _save_split(cache / f"{split}.npz", data[split]) for split in NBODY_SPLITS}
    manifest = {
        "recipe": asdict(recipe),
        "num_train_used": num_train_used,
        "checksums": checksums,
        "generation_seconds": round(time.perf_counter() - started, 2),
    }
    # the manifest is written last: its presence means the splits are complete
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    log.info("Generated nbody_small into %s in %.1f s", cache, manifest["generation_seconds"])
    if verbose:
        print(f"generated nbody_small into {cache} in {manifest['generation_seconds']} s")
    return data
