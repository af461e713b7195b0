"""bench/train_throughput.py times training steps as train.py runs them: with the config's
`flush_denormal` applied (subnormal floats take a slow path on x86 CPUs, by different amounts in
different models, so a speed ratio measured without it misjudges the epochs a budget holds)."""

import pytest
import torch
from repo_scripts import load_script


def flushes_subnormals() -> bool:
    return float(torch.tensor([1e-39], dtype=torch.float32)[0] * 1.0) == 0.0


@pytest.mark.parametrize("flush", [True, False])
def test_measure_applies_the_configs_flush_denormal(flush):
    before = flushes_subnormals()  # the suite may run with flushing on (GAAN_TEST_FLUSH_DENORMAL)
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush subnormal floats")
    torch.set_flush_denormal(not flush)
    throughput = load_script("bench/train_throughput.py", "gaan_train_throughput")
    try:
        result = throughput.measure(
            ["experiment=synthetic_cubic_ga_attn", "model.width=8", "model.depth=1", f"flush_denormal={str(flush).lower()}"],
            steps=2,
            warmup=1,
        )
        assert flushes_subnormals() == flush
    finally:
        torch.set_flush_denormal(before)
    assert result["frames_per_cpu_second"] > 0


def test_md17_preset_speed_times_the_recorded_preset_before_issue_30():
    """The speed bench's stand-in for the preset issue 30 replaced composes that run's model."""
    speed = load_script("bench/md17_preset_speed.py", "gaan_md17_preset_speed")
    composed, recorded = speed.before_issue_30_model()
    assert composed == recorded
    assert composed["view"] == {"_target_": "gaan.models.views.Neighbourhoods", "k": 5} and composed["normalize"] is True
