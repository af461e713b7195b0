"""The N-body data cache: one ``<split>.npz`` per split plus a manifest of sha256 checksums."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from gaan.data.checksums import CacheError, load_arrays, read_manifest, save_arrays
from gaan.files import write_atomically
from gaan.tasks.nbody.simulation import NBODY_SPLITS, NBodySmallRecipe, generate_nbody_small

log = logging.getLogger(__name__)

__all__ = ["load_or_generate_nbody_small", "nbody_cache_dir"]


_MANIFEST = "checksums.json"


def nbody_cache_dir(data_dir: str | Path, recipe: NBodySmallRecipe, num_train_used: int | None) -> Path:
    """The folder of one recipe's cached splits (its name must not change: old caches stay valid)."""
    used = "all" if num_train_used is None else str(num_train_used)
    return Path(data_dir) / f"nbody_small-{recipe.digest()}-train{used}"


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
    match their checksums raises :class:`gaan.data.checksums.CacheError` naming the file.
    """
    cache = nbody_cache_dir(data_dir, recipe, num_train_used)
    manifest_path = cache / _MANIFEST
    if manifest_path.is_file():
        remedy = f"delete {cache} to regenerate"
        manifest = read_manifest(manifest_path, remedy)
        if manifest.get("recipe") != asdict(recipe):
            raise CacheError(f"manifest {manifest_path} records another recipe than requested; {remedy}")
        return {split: load_arrays(cache / f"{split}.npz", manifest["checksums"][split], manifest_path, remedy) for split in NBODY_SPLITS}
    started = time.perf_counter()
    log.info("Generating nbody_small into %s; progress follows", cache)
    data = generate_nbody_small(recipe, num_train_used, num_threads=num_threads)
    cache.mkdir(parents=True, exist_ok=True)
    checksums = {split: save_arrays(cache / f"{split}.npz", data[split]) for split in NBODY_SPLITS}
    manifest = {
        "recipe": asdict(recipe),
        "num_train_used": num_train_used,
        "checksums": checksums,
        "generation_seconds": round(time.perf_counter() - started, 2),
    }
    # the manifest is written last: its presence means the splits are complete
    write_atomically(manifest_path, json.dumps(manifest, indent=2, sort_keys=True))
    log.info("Generated nbody_small into %s in %.1f s", cache, manifest["generation_seconds"])
    if verbose:
        print(f"generated nbody_small into {cache} in {manifest['generation_seconds']} s")
    return data
