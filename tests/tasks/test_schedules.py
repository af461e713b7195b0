import math

import pytest
import torch

from gaan.tasks.schedules import warmup_cosine


def rates(scheduler_factory, epochs: int) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    scheduler = scheduler_factory(optimizer)
    out = []
    for _ in range(epochs):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def test_without_warmup_it_is_torch_cosine_annealing():
    ours = rates(lambda o: warmup_cosine(o, T_max=37), 37)
    torch_cosine = rates(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=37), 37)
    assert ours == pytest.approx(torch_cosine, abs=1e-12)


def test_warmup_ramps_linearly_then_decays_to_zero():
    lr = rates(lambda o: warmup_cosine(o, T_max=20, warmup_epochs=4), 22)
    assert lr[:5] == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.0])  # first epoch already trains
    decay = lr[4:21]
    assert all(a > b for a, b in zip(decay, decay[1:]))
    assert lr[12] == pytest.approx(1.0)  # half-way through the decay: half the rate
    assert lr[20] == pytest.approx(0.0, abs=1e-12) and lr[21] == pytest.approx(0.0, abs=1e-12)  # stays at 0 after T_max


def test_resumed_schedule_continues_where_it_stopped():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = warmup_cosine(optimizer, T_max=10, warmup_epochs=3)
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    state = scheduler.state_dict()
    fresh_optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    resumed = warmup_cosine(fresh_optimizer, T_max=10, warmup_epochs=3)
    resumed.load_state_dict(state)
    fresh_optimizer.step()
    resumed.step()
    assert fresh_optimizer.param_groups[0]["lr"] == pytest.approx(0.5 * (1 + math.cos(math.pi * 3 / 7)))


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"T_max": 0}, "scheduler.T_max"),
        ({"T_max": 2.5}, "scheduler.T_max"),
        ({"T_max": 10, "warmup_epochs": 10}, "scheduler.warmup_epochs"),
        ({"T_max": 10, "warmup_epochs": -1}, "scheduler.warmup_epochs"),
    ],
)
def test_bad_values_name_the_key(kwargs, key):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match=key):
        warmup_cosine(optimizer, **kwargs)
