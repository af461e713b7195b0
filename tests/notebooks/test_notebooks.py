"""Every notebook in notebooks/ runs top to bottom on tiny settings."""

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))
TINY_SETTINGS = {"TOUR_STEPS": "30", "QUICKSTART_EPOCHS": "4", "ATTENTION_EPOCHS": "1", "ATTENTION_SAMPLES": "480"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, monkeypatch):
    for key, value in TINY_SETTINGS.items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
