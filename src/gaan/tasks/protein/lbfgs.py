"""L-BFGS with a strong-Wolfe line search on one flat float64 tensor: the minimiser of the
restrained refinement (`gaan.tasks.protein.refinement`).

The steps are those of torch.optim.LBFGS(lr=1, line_search_fn="strong_wolfe", tolerance_change=1e-12)
with its other defaults (it follows minFunc and torch7's lswolfe): the two-loop recursion over
the last `history` step and gradient changes, a first step of min(1, 1 / |g|_1), then a bracket
and zoom by safeguarded cubic interpolation until the strong Wolfe conditions hold. It is our own
because torch.optim's Optimizer imports torch._dynamo on its first step (0.85 CPU s, a quarter of
`gaan-backmap`'s call on a small protein) only to mark its methods as never compiled, and because
a function of a flat tensor needs no parameter groups.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

# the objective at x: (value, gradient with x's shape)
Objective = Callable[[torch.Tensor], tuple[float, torch.Tensor]]


@dataclass
class Minimum:
    """Where `minimise` stopped."""

    x: torch.Tensor
    value: float
    iterations: int
    evaluations: int


class _Trial(NamedTuple):
    """One point of the line search: the step along the direction, the value, the gradient and
    the slope along the direction there."""

    step: float
    value: float
    gradient: torch.Tensor
    slope: float


def cubic_minimiser(a: _Trial, b: _Trial, low: float, high: float) -> float:
    """The minimiser of the cubic with the values and slopes of `a` and `b`, kept within
    [low, high]; the middle of that interval where the cubic has no minimum."""
    if a.step == b.step:
        return (low + high) / 2
    d1 = a.slope + b.slope - 3 * (a.value - b.value) / (a.step - b.step)
    d2_square = d1 * d1 - a.slope * b.slope
    if d2_square < 0:
        return (low + high) / 2
    d2 = math.sqrt(d2_square)
    near, far = (a, b) if a.step <= b.step else (b, a)
    denominator = far.slope - near.slope + 2 * d2
    if denominator == 0:
        return (low + high) / 2
    minimiser = far.step - (far.step - near.step) * ((far.slope + d2 - d1) / denominator)
    return min(max(minimiser, low), high)


def strong_wolfe(
    evaluate: Callable[[float], _Trial],
    start: _Trial,
    step: float,
    direction_size: float,
    max_evaluations: int,
    sufficient_decrease: float = 1e-4,
    curvature: float = 0.9,
    bracket_tolerance: float = 1e-9,
) -> tuple[_Trial, int]:
    """A step along a descent direction meeting the strong Wolfe conditions (or the best point
    found in `max_evaluations`), and the number of evaluations spent.

    :param evaluate: the trial at a step along the direction
    :param start: the trial at step 0 (its slope negative)
    :param step: the first step to try
    :param direction_size: the largest absolute component of the direction (a bracket narrower
        than `bracket_tolerance` in x ends the search)
    """

    def decreases_enough(trial: _Trial) -> bool:
        return trial.value <= start.value + sufficient_decrease * trial.step * start.slope

    def flat_enough(trial: _Trial) -> bool:
        return abs(trial.slope) <= -curvature * start.slope

    previous, trial = start, evaluate(step)
    evaluations, done = 1, False
    # bracketing: widen the step until an interval holds a point meeting both conditions
    while True:
        if evaluations > max_evaluations:  # out of evaluations: the better of the start and the last trial
            bracket = [start, trial]
            break
        if not decreases_enough(trial) or (evaluations > 2 and trial.value >= previous.value):
            bracket = [previous, trial]
            break
        if flat_enough(trial):
            bracket, done = [trial], True
            break
        if trial.slope >= 0:
            bracket = [previous, trial]
            break
        next_step = cubic_minimiser(previous, trial, trial.step + 0.01 * (trial.step - previous.step), trial.step * 10)
        previous, trial = trial, evaluate(next_step)
        evaluations += 1
    low, high = (0, 1) if bracket[0].value <= bracket[-1].value else (1, 0)
    # zoom: shrink the bracket around the point, keeping the lower end where the value is lower
    insufficient_progress = False
    while not done and evaluations <= max_evaluations:
        if abs(bracket[1].step - bracket[0].step) * direction_size < bracket_tolerance:
            break
        top, bottom = max(bracket[0].step, bracket[1].step), min(bracket[0].step, bracket[1].step)
        step = cubic_minimiser(bracket[0], bracket[1], bottom, top)
        margin = 0.1 * (top - bottom)
        if min(top - step, step - bottom) < margin:  # too near an end: after twice, or at an end, move inside
            if insufficient_progress or step >= top or step <= bottom:
                step = top - margin if abs(step - top) < abs(step - bottom) else bottom + margin
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        trial = evaluate(step)
        evaluations += 1
        if not decreases_enough(trial) or trial.value >= bracket[low].value:
            bracket[high] = trial
            low, high = (0, 1) if bracket[0].value <= bracket[1].value else (1, 0)
        else:
            if flat_enough(trial):
                done = True
            elif trial.slope * (bracket[high].step - bracket[low].step) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = trial
    return bracket[low], evaluations


def two_loop_direction(gradient: torch.Tensor, pairs: list[tuple[torch.Tensor, torch.Tensor, float]], scale: float) -> torch.Tensor:
    """-H g for the L-BFGS inverse Hessian H of the stored pairs (s: a step, y: the gradient's
    change over it, 1 / y.s; oldest first) and the initial H = scale * identity."""
    alphas = []
    q = -gradient
    for s, y, rho in reversed(pairs):
        alphas.append(float(s.dot(q)) * rho)
        q = torch.add(q, y, alpha=-alphas[-1])
    direction = q * scale
    for (s, y, rho), alpha in zip(pairs, reversed(alphas)):
        direction = torch.add(direction, s, alpha=alpha - float(y.dot(direction)) * rho)
    return direction


def minimise(
    objective: Objective,
    x: torch.Tensor,
    max_iterations: int,
    max_evaluations: int | None = None,
    history: int = 100,
    gradient_tolerance: float = 1e-7,
    change_tolerance: float = 1e-12,
) -> Minimum:
    """Minimise `objective` from `x` (a flat float64 tensor, not changed) with L-BFGS.

    Stops after `max_iterations` iterations or `max_evaluations` evaluations (default 1.25 per
    iteration; as in torch's, the last line search may end one evaluation past it), when the
    largest gradient component is at most `gradient_tolerance`, or when the step, the change of
    the value or the slope along the direction is below `change_tolerance`.
    """
    max_evaluations = max_iterations * 5 // 4 if max_evaluations is None else max_evaluations
    value, gradient = objective(x)
    evaluations, iterations = 1, 0
    if float(gradient.abs().max()) <= gradient_tolerance:
        return Minimum(x, value, iterations, evaluations)
    pairs: list[tuple[torch.Tensor, torch.Tensor, float]] = []  # (s, y, 1 / y.s), oldest first
    scale, step = 1.0, 0.0
    direction = previous_gradient = gradient
    while iterations < max_iterations:
        iterations += 1
        if iterations == 1:
            direction = -gradient
            step = min(1.0, 1.0 / float(gradient.abs().sum()))
        else:
            change, moved = gradient - previous_gradient, direction * step
            curvature = float(change.dot(moved))
            if curvature > 1e-10:  # only pairs that keep H positive definite
                if len(pairs) == history:
                    pairs.pop(0)
                pairs.append((moved, change, 1.0 / curvature))
                scale = curvature / float(change.dot(change))
            direction = two_loop_direction(gradient, pairs, scale)
            step = 1.0
        previous_gradient, previous_value = gradient, value
        slope = float(gradient.dot(direction))
        if slope > -change_tolerance:
            break

        def evaluate(along: float, origin: torch.Tensor = x, towards: torch.Tensor = direction) -> _Trial:
            trial_value, trial_gradient = objective(torch.add(origin, towards, alpha=along))
            return _Trial(along, trial_value, trial_gradient, float(trial_gradient.dot(towards)))

        best, used = strong_wolfe(
            evaluate, _Trial(0.0, value, gradient, slope), step, float(direction.abs().max()), max_evaluations - evaluations
        )
        step, value, gradient = best.step, best.value, best.gradient
        x = torch.add(x, direction, alpha=step)
        evaluations += used
        if iterations == max_iterations or evaluations >= max_evaluations:
            break
        if float(gradient.abs().max()) <= gradient_tolerance:
            break
        if float((direction * step).abs().max()) <= change_tolerance or abs(value - previous_value) < change_tolerance:
            break
    return Minimum(x, value, iterations, evaluations)
