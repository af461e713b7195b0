"""Files written whole or not at all: the one atomic writer of the project.

`write_atomically` writes to a temporary file in the target's folder (so the final rename never
crosses file systems), flushes it to disk (fsync), then moves it over the target with os.replace:
a reader sees the old file or the new one, never half of one, and a failure leaves the target
untouched and no temporary file behind. The file gets the permissions any new file gets (0666
less the umask), not mkstemp's private 0600. Run records, results tables, shipped checkpoints,
backmapped structures and bench results all go through it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO


def current_umask() -> int:
    """The process's umask (reading it means setting it: it is put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temporary_beside(path: str | Path) -> Path:
    """An empty temporary file in `path`'s folder (created), with a new file's permissions: for
    writers that stream into it and finish with `move_into_place` (e.g. trajectory frames)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    os.chmod(temporary, 0o666 & ~current_umask())
    return Path(temporary)


def move_into_place(temporary: str | Path, path: str | Path) -> Path:
    """Flush a finished temporary file to disk and move it over `path` in one step."""
    with open(temporary, "rb+") as stream:
        os.fsync(stream.fileno())
    os.replace(temporary, path)
    return Path(path)


@contextmanager
def atomic_stream(path: str | Path) -> Iterator[BinaryIO]:
    """A binary stream whose bytes become `path` when the block ends without an error; on an
    error the target is untouched and the temporary file removed."""
    temporary = temporary_beside(path)
    try:
        with open(temporary, "wb") as stream:
            yield stream
        move_into_place(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomically(path: str | Path, content: str | bytes) -> Path:
    """Write `content` (text as UTF-8, or bytes) to `path`, creating its folder; returns `path`."""
    with atomic_stream(path) as stream:
        stream.write(content.encode() if isinstance(content, str) else content)
    return Path(path)


def write_json_atomically(path: str | Path, payload: Any) -> Path:
    """`payload` as JSON (indent 1, sorted keys, final newline: the run records' format)."""
    return write_atomically(path, json.dumps(payload, indent=1, sort_keys=True) + "\n")


def copy_atomically(source: str | Path, target: str | Path) -> Path:
    """A copy of `source` at `target`, whole or not at all."""
    return write_atomically(target, Path(source).read_bytes())
