"""A run that crashes closes its wandb run (marked failed): otherwise it stays open, and the next
run in the same process (a sweep, a notebook, the test suite) logs into it."""

from __future__ import annotations

import pytest
from test_train_configs import QUIET, paths, small

from gaan.tasks.base import NonFiniteLossError
from gaan.train import compose_config, run


def test_a_crashed_run_finishes_its_wandb_run(tmp_path, monkeypatch):
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    finished = []
    real_finish = wandb.finish
    monkeypatch.setattr(wandb, "finish", lambda *args, **kwargs: (finished.append(kwargs.get("exit_code")), real_finish(*args, **kwargs)))
    # an exploding learning rate: the first loss is non-finite and the run stops with an error
    blowup = ["logger=wandb", "model=deepsets", "optimizer.lr=1e30", "trainer.max_epochs=1", *QUIET, *small("synthetic_cubic")]
    with pytest.raises(NonFiniteLossError):
        run(compose_config([*blowup, *paths(tmp_path)]))
    assert finished == [1]
    assert wandb.run is None
