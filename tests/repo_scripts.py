"""The repository's scripts and benchmarks (files outside the package), loaded as modules for tests."""

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_script(relative_path: str, name: str | None = None) -> ModuleType:
    """The file at `relative_path` (from the repository root, e.g. "scripts/ship_checkpoint.py")
    executed as a module named `name` (default: the file's stem)."""
    path = REPO / relative_path
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
