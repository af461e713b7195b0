"""Every notebook in notebooks/ runs top to bottom on tiny settings, is committed with the outputs
of a full run (so a reader on a code host sees the plots), and is listed in the README."""

from pathlib import Path

import nbclient
import nbformat
import pytest

REPO = Path(__file__).parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
TINY_SETTINGS = {"TOUR_STEPS": "30", "QUICKSTART_EPOCHS": "4", "ATTENTION_EPOCHS": "1", "ATTENTION_SAMPLES": "480"}


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, monkeypatch):
    for key, value in TINY_SETTINGS.items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_with_the_outputs_of_a_run(path):
    """Every code cell ran, in order, without an error, and the notebook shows a figure."""
    notebook = nbformat.read(path, as_version=4)
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1)), "execute the notebook top to bottom and save it"
    outputs = [o for c in cells for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if o.output_type in ("display_data", "execute_result") and ({"image/png", "text/html"} & set(o.data))]
    assert figures, f"{path.name} shows no figure"


def test_the_readme_lists_every_notebook():
    readme = (REPO / "README.md").read_text()
    assert [p.name for p in NOTEBOOKS if f"notebooks/{p.name}" not in readme] == []


def test_tiny_settings_are_names_the_notebooks_read():
    sources = "".join(c.source for p in NOTEBOOKS for c in nbformat.read(p, as_version=4).cells)
    assert [key for key in TINY_SETTINGS if f"os.environ.get('{key}'" not in sources and f'os.environ.get("{key}"' not in sources] == []
