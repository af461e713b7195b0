"""The checksummed array caches of the project: arrays saved as ``.npz`` with the sha256 of each
array recorded beside them (in a manifest written last), and the one way to load them back.

`save_arrays` writes an ``.npz`` whole (`gaan.files.write_atomically`, as the manifests are) and
returns the checksums to record; `load_arrays` reads one back and checks every array against
them. Any problem (missing, unreadable, other arrays, a checksum that does not match) is a
`CacheError` naming the file, the manifest and what to do. The nbody, md17 (xTB dynamics) and
qm9 caches use them.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from gaan.files import write_atomically


class CacheError(RuntimeError):
    """A cached data file is missing, unreadable, or does not match its recorded checksums."""


def array_checksum(array: np.ndarray) -> str:
    """sha256 over dtype, shape and the C-ordered bytes of ``array``."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256()
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, str]:
    """Save `arrays` to the ``.npz`` `path` whole; their checksums, for the manifest."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomically(path, buffer.getvalue())
    return {name: array_checksum(value) for name, value in arrays.items()}


def read_manifest(manifest: Path, remedy: str) -> dict[str, Any]:
    """A cache's manifest (JSON with a "checksums" entry); `remedy` says what to delete."""
    try:
        content = json.loads(manifest.read_text())
        content["checksums"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CacheError(f"{manifest} is unreadable ({type(err).__name__}: {err}); {remedy}") from err
    return content


def load_arrays(path: Path, checksums: dict[str, str], manifest: Path, remedy: str) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` `path`, each checked against `checksums` (from `manifest`).

    :param remedy: what to do about a bad file, e.g. "delete <folder> to regenerate".
    """
    if not path.is_file():
        raise CacheError(f"{path} is missing (listed in {manifest}); {remedy}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise CacheError(f"{path} is unreadable ({type(err).__name__}: {err}); {remedy}") from err
    if set(arrays) != set(checksums):
        raise CacheError(f"{path} holds arrays {sorted(arrays)}, {manifest} lists {sorted(checksums)}; {remedy}")
    for name, checksum in checksums.items():
        if array_checksum(arrays[name]) != checksum:
            raise CacheError(
                f"{path}: array {name!r} does not match its sha256 in {manifest}; the file is corrupt or was modified, {remedy}"
            )
    return arrays
