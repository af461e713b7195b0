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


def test_train_and_eval_close_wandb_through_one_helper(monkeypatch):
    """train.py and eval.py both wrap their work in `wandb_runs_finished`: exit code 0 when the
    work returns, 1 when it raises (and the error still propagates)."""
    import inspect

    from gaan import eval as gaan_eval
    from gaan import train as gaan_train

    closed = []
    monkeypatch.setattr(gaan_train, "finish_wandb_runs", lambda trainer, exit_code=0: closed.append(exit_code))
    with gaan_train.wandb_runs_finished(trainer=None):
        pass
    with pytest.raises(RuntimeError), gaan_train.wandb_runs_finished(trainer=None):
        raise RuntimeError("crashed")
    assert closed == [0, 1]
    for module in (gaan_train, gaan_eval):
        source = inspect.getsource(module)
        assert "with wandb_runs_finished(trainer)" in source
