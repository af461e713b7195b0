"""Progress of slow data generation as plain log lines (readable when output goes to a file)."""

from __future__ import annotations

import logging
import threading
import time


class ProgressLog:
    """Logs "<what>: pct (done/total), elapsed, ETA" at most every ``every_seconds`` and at the end.

    Log lines rather than a carriage-return bar: a cluster job's redirected output would keep
    only a bar's last frame. ``advance`` may be called from several threads.
    """

    def __init__(self, logger: logging.Logger, what: str, total: int, every_seconds: float = 5.0):
        self.logger = logger
        self.what = what
        self.total = max(int(total), 0)
        self.every_seconds = every_seconds
        self.done = 0
        self.started = self.last_logged = time.perf_counter()
        self._lock = threading.Lock()

    def advance(self, count: int) -> None:
        with self._lock:
            self.done += int(count)
            now = time.perf_counter()
            if self.done < self.total and now - self.last_logged < self.every_seconds:
                return
            self.last_logged = now
            elapsed = now - self.started
            fraction = self.done / self.total if self.total else 1.0
            eta = elapsed * (1 - fraction) / fraction if fraction > 0 else float("nan")
            self.logger.info(
                "%s: %.0f%% (%d/%d), %.1f s elapsed, ETA %.0f s",
                self.what,
                100 * fraction,
                self.done,
                self.total,
                elapsed,
                eta,
            )
