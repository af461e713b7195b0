"""The md17 loss's force errors (gaan.tasks.md17.force_errors): the square, and a Huber error that
is the square up to delta and linear beyond with the same value and slope; the task's loss uses the
configured one over real atoms only, and a Huber-trained potential's loss falls."""

import pytest
import torch
from test_energy_forces import make_task, molecules, training_losses

from gaan.tasks.md17.force_errors import HuberError, SquaredError
from gaan.train import compose_config

pytestmark = pytest.mark.usefixtures("float64_default_dtype")


def test_huber_is_the_square_inside_delta_and_its_tangent_line_beyond():
    delta = 0.02
    huber = HuberError(delta)
    inside = torch.tensor([-0.019, -0.005, 0.0, 0.011, 0.02])
    torch.testing.assert_close(huber(inside), inside.square())
    outside = torch.tensor([-1.3, -0.03, 0.021, 0.5])
    torch.testing.assert_close(huber(outside), 2 * delta * outside.abs() - delta**2)
    # continuous with a continuous slope at +-delta, and the slope beyond is bounded by 2 delta
    errors = torch.linspace(-0.1, 0.1, 2001, requires_grad=True)
    (slope,) = torch.autograd.grad(huber(errors).sum(), errors)
    assert slope.abs().max() <= 2 * delta + 1e-12
    assert (slope.diff().abs() <= 2 * 1e-4 + 1e-12).all()  # no jump: at most 2 x the grid step
    torch.testing.assert_close(SquaredError()(outside), outside.square())


def test_a_large_error_counts_linearly_so_it_weighs_less_than_in_the_square():
    huber = HuberError(0.01)
    small, large = torch.tensor(0.01), torch.tensor(1.0)
    assert huber(large) / huber(small) == pytest.approx(199.0)  # (2 x 0.01 x 1 - 1e-4) / 1e-4
    assert SquaredError()(large) / SquaredError()(small) == pytest.approx(1e4)


def test_the_task_loss_takes_the_configured_error_over_real_atoms():
    batch = molecules(4, seed=5)
    squared, huber = make_task(), make_task(force_error=HuberError(0.01))
    predictions = squared.predict_batch(batch)
    errors = (predictions["forces"] - batch.targets["forces"])[batch.mask]
    energy = (predictions["energy"] - batch.targets["energy"]).square().mean()
    expected = energy + 10.0 * HuberError(0.01)(errors).mean()
    torch.testing.assert_close(huber.compute_loss(predictions, batch), expected)
    torch.testing.assert_close(squared.compute_loss(predictions, batch), energy + 10.0 * errors.square().mean())
    assert huber.compute_loss(predictions, batch) < squared.compute_loss(predictions, batch)


def test_a_huber_trained_potential_fits():
    losses = training_losses(make_task(force_error=HuberError(0.05)), molecules(8, seed=3))
    assert min(losses[-5:]) < 0.5 * losses[0]


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="task.module.force_error.delta must be > 0"):
        HuberError(0.0)
    with pytest.raises(ValueError, match="task.module.force_error must be a module"):
        make_task(force_error="huber")


def test_the_config_key_builds_the_error():
    huber = "task.module.force_error={_target_:gaan.tasks.md17.force_errors.HuberError,delta:0.01}"
    cfg = compose_config(["experiment=md17_ethanol_ga_covariant_state", huber])
    assert cfg.task.module.force_error.delta == 0.01
    assert compose_config(["experiment=md17_ethanol_ga_covariant_state"]).task.module.force_error is None
