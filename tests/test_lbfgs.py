"""gaan.tasks.protein.lbfgs: the refinement's L-BFGS finds the minima of a quadratic and of the
Rosenbrock function, takes torch.optim.LBFGS's steps (same iterates, same evaluation count), and
stops at once where the start is already a minimum."""

import pytest
import torch

from gaan.tasks.protein.lbfgs import _Trial, cubic_minimiser, minimise, strong_wolfe


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def objective_of(function):
    calls = []

    def objective(x):
        calls.append(x.clone())
        leaf = x.detach().requires_grad_(True)
        value = function(leaf)
        (gradient,) = torch.autograd.grad(value, leaf)
        return float(value.detach()), gradient

    return objective, calls


def test_quadratic_minimum_to_tolerance():
    generator = torch.Generator().manual_seed(1)
    a = torch.randn(8, 8, dtype=torch.float64, generator=generator)
    hessian = a @ a.T + torch.eye(8, dtype=torch.float64)  # positive definite
    b = torch.randn(8, dtype=torch.float64, generator=generator)
    objective, _ = objective_of(lambda x: 0.5 * x @ hessian @ x - b @ x)
    found = minimise(objective, torch.zeros(8, dtype=torch.float64), max_iterations=100)
    exact = torch.linalg.solve(hessian, b)
    assert (found.x - exact).abs().max() < 1e-6
    assert found.iterations < 30  # far fewer than gradient descent on this conditioning needs


def test_rosenbrock_minimum_to_tolerance_and_the_start_untouched():
    objective, _ = objective_of(rosenbrock)
    start = torch.tensor([-1.2, 1.0, -1.2, 1.0, 0.5], dtype=torch.float64)
    kept = start.clone()
    found = minimise(objective, start, max_iterations=500)
    assert (found.x - 1).abs().max() < 1e-6
    assert found.value < 1e-12
    assert torch.equal(start, kept)


@pytest.mark.parametrize("iterations", [1, 5, 20, 200])
def test_same_steps_as_torch_lbfgs(iterations):
    """The refinement's settings (lr 1, strong Wolfe, tolerance_change 1e-12) give torch's iterate,
    value and number of evaluations, to rounding, whether it stops on the iteration limit or converges."""
    start = torch.randn(10, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    objective, _ = objective_of(rosenbrock)
    ours = minimise(objective, start, max_iterations=iterations)
    parameter = start.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([parameter], lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe", tolerance_change=1e-12)

    def closure():
        optimizer.zero_grad()
        value = rosenbrock(parameter)
        value.backward()
        return value

    optimizer.step(closure)
    state = optimizer.state[parameter]
    assert (ours.x - parameter.detach()).abs().max() < 1e-12
    assert (ours.iterations, ours.evaluations) == (state["n_iter"], state["func_evals"])


def test_a_converged_start_is_returned_after_one_evaluation():
    objective, calls = objective_of(rosenbrock)
    minimum = torch.ones(4, dtype=torch.float64)
    found = minimise(objective, minimum, max_iterations=50)
    assert torch.equal(found.x, minimum)
    assert (found.iterations, found.evaluations, found.value) == (0, 1, 0.0)
    assert len(calls) == 1


def test_the_evaluation_budget_is_kept():
    objective, calls = objective_of(rosenbrock)
    start = torch.tensor([-1.2, 1.0, 0.3], dtype=torch.float64)
    found = minimise(objective, start, max_iterations=400, max_evaluations=17)
    assert found.iterations < 400  # stopped by the budget: the minimum takes more than 17 evaluations
    assert found.evaluations == len(calls) <= 18  # the line search may end one past it, as torch's


def test_line_search_step_meets_the_strong_wolfe_conditions():
    """On a 1-d quartic whose first trial overshoots far, the accepted step decreases the value
    enough and has a slope at most 0.9 of the start's in size."""
    function = lambda t: (t - 3.0) ** 4 - 2 * t  # noqa: E731
    slope = lambda t: 4 * (t - 3.0) ** 3 - 2  # noqa: E731

    def evaluate(step):
        return _Trial(step, function(step), torch.zeros(1), slope(step))

    start = _Trial(0.0, function(0.0), torch.zeros(1), slope(0.0))
    best, used = strong_wolfe(evaluate, start, 50.0, 1.0, 25)
    assert best.value <= start.value + 1e-4 * best.step * start.slope
    assert abs(best.slope) <= 0.9 * abs(start.slope)
    assert 1 <= used <= 25


def test_cubic_minimiser_is_exact_for_a_cubic_and_stays_in_bounds():
    cubic = lambda t: t**3 - 3 * t  # noqa: E731  local minimum at t = 1
    slope = lambda t: 3 * t**2 - 3  # noqa: E731
    a, b = (_Trial(t, cubic(t), torch.zeros(1), slope(t)) for t in (0.0, 2.0))
    assert cubic_minimiser(a, b, 0.0, 2.0) == pytest.approx(1.0)
    assert cubic_minimiser(b, a, 0.0, 2.0) == pytest.approx(1.0)
    assert cubic_minimiser(a, b, 1.5, 2.0) == 1.5
