"""Predicted against true displacements of one cloud's points, drawn as trajectories."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

PROJECTIONS = ((0, 1), (0, 2))  # x-y and x-z
AXIS_NAMES = "xyz"


def trajectory_figure(start: np.ndarray, true_end: np.ndarray, predicted_end: np.ndarray, title: str = "test system") -> Figure:
    """Two projections (x-y, x-z) of each point's start, true end and predicted end.

    Every point gets its own colour: a dot at its start, a solid line to its true end (circle) and
    a dashed line to its predicted end (cross), so a good prediction puts each cross on its circle.
    Straight lines join the ends; the path in between is not drawn (N-body: the positions at the
    input and at the target frame only).

    :param start: (n, 3) positions at the start
    :param true_end: (n, 3) true positions at the end
    :param predicted_end: (n, 3) predicted positions at the end
    :param title: the figure's title (the error is added to it)
    """
    start, true_end, predicted_end = (np.asarray(x, dtype=float) for x in (start, true_end, predicted_end))
    fig = Figure(figsize=(8.0, 4.0))
    colours = [f"C{k % 10}" for k in range(len(start))]
    for ax, (a, b) in zip(fig.subplots(1, 2), PROJECTIONS, strict=True):
        for k, colour in enumerate(colours):
            ax.plot(*start[k, [a, b]], "o", color="black", ms=3)
            ax.plot(*np.stack([start[k], true_end[k]])[:, [a, b]].T, "-", color=colour, lw=1.5)
            ax.plot(*np.stack([start[k], predicted_end[k]])[:, [a, b]].T, "--", color=colour, lw=1.0)
            ax.plot(*true_end[k, [a, b]], "o", color=colour, ms=6, mfc="none")
            ax.plot(*predicted_end[k, [a, b]], "x", color=colour, ms=6)
        ax.set_xlabel(AXIS_NAMES[a])
        ax.set_ylabel(AXIS_NAMES[b])
        ax.set_aspect("equal", adjustable="datalim")
    legend = fig.axes[0]
    legend.plot([], [], "o", color="black", ms=3, label="start")
    legend.plot([], [], "-o", color="grey", mfc="none", label="true end")
    legend.plot([], [], "--x", color="grey", label="predicted end")
    legend.legend(fontsize=8, loc="best")
    rmse = float(np.sqrt(np.square(predicted_end - true_end).sum(-1).mean()))
    fig.suptitle(f"{title}: {len(start)} points, RMS end-position error {rmse:.3g}", fontsize=10)
    fig.tight_layout()
    return fig
