"""Unreadable cache files are kept for inspection under a new name, never silently deleted."""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


class CorruptCacheWarning(UserWarning):
    """A cache file or folder was unreadable: it was moved aside and will be rebuilt."""


def move_aside_corrupt(path: str | Path, reason: str) -> Path | None:
    """Rename ``path`` (file or folder) to ``<path>.corrupt-<UTC timestamp>`` and warn, naming both.

    Returns the new path, or None when ``path`` was already gone (another process moved it).
    """
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while target.exists():  # two corrupt copies within one second
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
        counter += 1
    try:
        path.rename(target)
    except FileNotFoundError:
        return None
    message = f"Cache {path} is unreadable ({reason}); moved it to {target} and rebuilding it."
    log.warning(message)
    warnings.warn(message, CorruptCacheWarning, stacklevel=2)
    return target
