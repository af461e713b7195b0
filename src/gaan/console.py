"""What the entry points print: known third-party noise filtered by exact message, and whether
the console is interactive (progress bars) or redirected to a file (one log line per epoch)."""

from __future__ import annotations

import logging
import sys
import warnings

# (logger name, message prefix): lines every run printed that carry nothing a user acts on.
# Each is matched exactly on its own logger, so nothing else from these libraries is hidden.
NOISE_LOG_MESSAGES = (
    ("lightning.pytorch.utilities.rank_zero", "💡 Tip:"),  # litlogger / litmodels advertisements
    ("lightning.pytorch.utilities.rank_zero", "Trainer already configured with model summary callbacks"),
    ("freud.msd", "Using SciPy's fftpack for FFTs"),
    ("alembic.runtime.plugins", "setup plugin "),  # seven lines whenever Optuna opens its storage
)
# (message regex, category): warnings raised inside libraries for their own deprecated internals
NOISE_WARNINGS = ((r"`isinstance\(treespec, LeafSpec\)` is deprecated", Warning),)


class DropMessages(logging.Filter):
    """Rejects records whose message starts with one of `prefixes`."""

    def __init__(self, prefixes: tuple[str, ...]):
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


def quiet_known_noise() -> None:
    """Install the filters above (idempotent: a logger keeps one DropMessages filter)."""
    by_logger: dict[str, tuple[str, ...]] = {}
    for name, prefix in NOISE_LOG_MESSAGES:
        by_logger[name] = (*by_logger.get(name, ()), prefix)
    for name, prefixes in by_logger.items():
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, DropMessages)]:
            logger.removeFilter(old)
        logger.addFilter(DropMessages(prefixes))
    for message, category in NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)


def route_lightning_logs_to_root() -> None:
    """`import lightning` gives the `lightning` logger its own console handler ("INFO: ...")
    while its records also reach the root handlers Hydra configured (console and train.log), so
    every Lightning line was printed twice. When the root logger has handlers, drop Lightning's."""
    if not logging.getLogger().handlers:
        return
    lightning_logger = logging.getLogger("lightning")
    for handler in list(lightning_logger.handlers):
        if type(handler) is logging.StreamHandler:
            lightning_logger.removeHandler(handler)


def interactive_console() -> bool:
    """A terminal or a notebook shows live progress bars; a file (cluster jobs, `> log`)
    keeps only their last frame, so runs then log one line per epoch instead."""
    return sys.stdout.isatty() or "ipykernel" in sys.modules


class CurrentStdoutHandler(logging.StreamHandler):
    """The console log handler (conf/hydra/default.yaml): writes to `sys.stdout` as it is at each
    record, not as it was when logging was configured. A live progress bar (rich) swaps in a
    proxy that prints lines above the bar; a handler holding the original stream wrote through
    the bar and left broken frames on the terminal."""

    def __init__(self, stream=None):  # `stream` (Hydra's ext://sys.stdout) is read per record instead
        super().__init__()

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass
