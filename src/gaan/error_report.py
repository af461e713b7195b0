"""How the entry points report a failed run: a data or config error (a wrong value, a missing
file, a corrupt cache) is one line naming what to change, not a traceback through Lightning and
Hydra; anything else (a bug) keeps its traceback. `HYDRA_FULL_ERROR=1` shows every traceback."""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gaan.config_types import ConfigValueError

PACKAGE = Path(__file__).resolve().parent


@functools.cache
def input_checking() -> tuple[Path, ...]:
    """Code that checks what a user gives (data files, caches, checkpoints, the command line, and
    the task packages `gaan/tasks/<name>/`, which hold each task's data module and file formats):
    its ValueErrors and file errors describe the input, not a bug. Listed on first use, not at
    import: only a failed run needs it."""
    tasks = (path for path in (PACKAGE / "tasks").iterdir() if (path / "__init__.py").is_file())
    return (PACKAGE / "data", PACKAGE / "checkpoints.py", PACKAGE / "train.py", PACKAGE / "eval.py", *tasks)


INPUT_ERRORS = (ValueError, TypeError, OSError, RuntimeError)
# a message that starts with a config key (`task.datamodule.k must be ...`) is about the config
CONFIG_KEY = re.compile(r"^\+*(task|model|trainer|optimizer|scheduler|callbacks|logger|datamodule|paths|ckpt_path|seed)\b[.= :]")


def original(error: BaseException) -> BaseException:
    """The error under Hydra's InstantiationException ("Error in call to target ...")."""
    while type(error).__name__ == "InstantiationException" and error.__cause__ is not None:
        error = error.__cause__
    return error


def raised_in(error: BaseException) -> Path | None:
    """The file of the innermost gaan frame of the error's traceback."""
    innermost = None
    traceback = error.__traceback__
    while traceback is not None:
        path = Path(traceback.tb_frame.f_code.co_filename).resolve()
        if path.is_relative_to(PACKAGE):
            innermost = path
        traceback = traceback.tb_next
    return innermost


def input_error_line(error: BaseException) -> str | None:
    """One line for a data or config error; None for anything else."""
    from gaan.data.base import MissingDataError  # imports torch: only once something failed

    error = original(error)
    message = str(error).strip()
    if isinstance(error, (ConfigValueError, MissingDataError)):
        return " ".join(message.split())
    if not isinstance(error, INPUT_ERRORS) or not message:
        return None
    origin = raised_in(error)
    from_input_checks = origin is not None and any(origin == p or origin.is_relative_to(p) for p in input_checking())
    if from_input_checks or CONFIG_KEY.match(message):
        return " ".join(message.split())  # one line, whatever the message's layout
    return None


def in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@contextmanager
def input_errors_in_one_line() -> Iterator[None]:
    """Around a Hydra task function: print a data or config error as `Error: <message>` on
    stderr and exit with status 1; re-raise everything else (and everything with
    HYDRA_FULL_ERROR=1) for Hydra to report with its traceback. In a sweep (-m) every error is
    left to Hydra and the sweeper, which decide whether the other jobs go on."""
    try:
        yield
    except Exception as error:
        line = input_error_line(error)
        if line is None or os.environ.get("HYDRA_FULL_ERROR") == "1" or in_multirun():
            raise
        print(f"Error: {line} (HYDRA_FULL_ERROR=1 shows the traceback)", file=sys.stderr)
        raise SystemExit(1) from None
