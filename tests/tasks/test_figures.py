"""The figure functions build pyplot-free figures, and importing gaan keeps the user's backend."""

import subprocess
import sys

import numpy as np
from matplotlib.figure import Figure

from gaan.tasks.figures import confusion_figure, parity_figure
from gaan.tasks.md17.energy_forces import energy_force_parity_figure


def test_importing_and_training_modules_keep_the_matplotlib_backend():
    code = (
        "import matplotlib; matplotlib.use('svg'); import gaan.tasks, gaan.train, gaan.tasks.figures; "
        "import matplotlib.pyplot as plt; print(matplotlib.get_backend(), len(plt.get_fignums()))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["svg", "0"]


def test_figures_are_plain_figures_outside_pyplot_and_save_to_png(tmp_path):
    import matplotlib.pyplot as plt

    open_before = set(plt.get_fignums())  # other tests in this worker may have left pyplot figures
    figures = [
        confusion_figure(np.array([0, 1, 1]), np.array([0, 1, 0]), 2, ["a", "b"]),
        parity_figure(np.arange(4.0), np.arange(4.0) + 0.1),
        energy_force_parity_figure(np.array([0.1, 0.2]), np.array([0.1, 0.25]), (np.ones(6), np.ones(6) * 1.1)),
    ]
    assert set(plt.get_fignums()) == open_before  # nothing registered with pyplot, so nothing to close
    for n, figure in enumerate(figures):
        assert isinstance(figure, Figure)
        figure.savefig(tmp_path / f"{n}.png")
        assert (tmp_path / f"{n}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
