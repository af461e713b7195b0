"""Which run records `python -m gaan.results` collects: runs of an `experiment=` preset, not debug
runs, and only those that trained their preset's budget as the preset sets it. A smoke run
(`experiment=nbody_ga_attn trainer.max_epochs=2`) or a run stopped before its last epoch is
partial: it is left out of results/records/ (and so of the tables) and named, with the reason,
among the runs not collected. No Lightning here (`python -m gaan.results` runs without it); what a
run writes about its own budget is `gaan.tasks.run_record.training_budget`."""

from __future__ import annotations

# Overrides that change how long a run trains (epochs, steps, time, batches per epoch).
BUDGET_KEYS = (
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.max_time",
    "trainer.min_epochs",
    "trainer.min_steps",
    "trainer.limit_train_batches",
    "trainer.overfit_batches",
    "trainer.fast_dev_run",
)


def budget_overrides(command: list[str]) -> list[str]:
    """The overrides of a run's command line that change its preset's training budget."""
    return [o for o in command if o.lstrip("+~").split("=", 1)[0] in BUDGET_KEYS]


def collectable(record: dict) -> str | None:
    """Why a run record is not collected (None: it is)."""
    if record.get("debug"):
        return f"debug={record['debug']}"
    if not record.get("preset"):
        return "no experiment= preset"
    if record["global_steps"] <= 0:
        return "no training steps"
    return partial_reason(record)


def partial_reason(record: dict) -> str | None:
    """Why a run record is partial (None: it trained its preset's full budget).

    `budget` (written by runs since this check) says whether the run reached its last epoch or
    step or was stopped by early stopping; records without it are judged by their command."""
    changed = budget_overrides(record["command"])
    if changed:
        return f"partial: {' '.join(changed)} changes the preset's training budget"
    budget = record.get("budget")
    if budget is not None and not budget.get("completed", False):
        return f"partial: stopped after {record['epochs']} of {budget.get('max_epochs')} epochs ({record['global_steps']} steps)"
    return None
