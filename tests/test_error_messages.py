"""A data or config error ends a run with one line on stderr that names the key (or file) and
what to pass, not a traceback through Lightning and Hydra; HYDRA_FULL_ERROR=1 keeps the
traceback. The entry points run in-process here (`gaan.train.cli`, as train.py and eval.py)."""

from __future__ import annotations

import sys

import pytest
from hydra.core.global_hydra import GlobalHydra
from test_train_configs import QUIET, paths

from gaan.config_types import ConfigValueError, check_config_types
from gaan.error_report import input_error_line
from gaan.eval import main as eval_main
from gaan.train import cli, compose_config


def launch(monkeypatch, capsys, argv: list[str], config_name: str = "train") -> tuple[int, str]:
    """Run train.py (or eval.py) with `argv`; its exit status and stderr."""
    GlobalHydra.instance().clear()
    script = "eval.py" if config_name == "eval" else "train.py"
    monkeypatch.setattr(sys, "argv", [script, *argv])
    with pytest.raises(SystemExit) as exit_:
        cli(eval_main if config_name == "eval" else None, config_name=config_name)
    GlobalHydra.instance().clear()
    return exit_.value.code, capsys.readouterr().err


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_a_word_for_the_learning_rate_names_the_key_and_the_expected_type(monkeypatch, capsys, tmp_path):
    code, stderr = launch(monkeypatch, capsys, ["optimizer.lr=fast", *paths(tmp_path)])
    assert code == 1
    assert error_lines(stderr) == [
        "Error: optimizer.lr=fast: expected a number, got the string 'fast' (HYDRA_FULL_ERROR=1 shows the traceback)"
    ]


def test_eval_without_a_checkpoint_says_what_to_pass(monkeypatch, capsys, tmp_path):
    code, stderr = launch(monkeypatch, capsys, ["ckpt_path=null", *paths(tmp_path)], config_name="eval")
    assert code == 1
    (line,) = error_lines(stderr)
    assert line.startswith("Error: ckpt_path is not set: pass ckpt_path=<path/to/file.ckpt>") and "Traceback" not in stderr


def test_a_data_error_raised_deep_inside_fit_is_one_line(monkeypatch, capsys, tmp_path):
    """One protein entry leaves the validation split empty: the data module finds out in its
    setup, inside trainer.fit, many frames below the entry point."""
    argv = ["task=protein", "task.datamodule.entries=[6flr]", "trainer.max_epochs=1", *QUIET, *paths(tmp_path)]
    code, stderr = launch(monkeypatch, capsys, argv)
    assert code == 1
    (line,) = error_lines(stderr)
    assert line.startswith("Error: protein data: the val split is empty (entries: [('6flr', 'train')])")


def test_hydra_full_error_keeps_the_traceback(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    GlobalHydra.instance().clear()
    monkeypatch.setattr(sys, "argv", ["train.py", "optimizer.lr=fast", *paths(tmp_path)])
    with pytest.raises(ConfigValueError, match="optimizer.lr=fast"):
        cli()
    GlobalHydra.instance().clear()


@pytest.mark.parametrize(
    "override, message",
    [
        ("seed=1.5", "seed=1.5: expected an integer or null, got the number 1.5"),
        ("trainer.max_epochs=true", "trainer.max_epochs=true: expected an integer or null, got the boolean true"),
        ("optimizer.weight_decay=[1]", "optimizer.weight_decay=[1]: expected a number, got a ListConfig"),
        ("task.datamodule.batch_size=big", "task.datamodule.batch_size=big: expected an integer, got the string 'big'"),
        ("compile=yes", "compile=yes: expected true or false, got the string 'yes'"),
    ],
)
def test_typed_checks_name_key_value_and_expected_type(override, message):
    with pytest.raises(ConfigValueError) as error:
        check_config_types(compose_config([override, "paths.output_dir=unused"]))
    assert str(error.value) == message


def test_every_preset_and_the_defaults_pass_the_typed_checks():
    from gaan.train import available_choices

    for preset in [None, *available_choices("experiment")]:
        check_config_types(compose_config([*([f"experiment={preset}"] if preset else []), "paths.output_dir=unused"]))


def test_bugs_keep_their_traceback():
    """Only input errors become one line: an AttributeError, or a ValueError raised outside the
    code that checks input and not naming a config key, is a bug to be read with its traceback."""
    assert input_error_line(AttributeError("'NoneType' object has no attribute 'shape'")) is None
    try:
        import torch

        torch.zeros(2) @ torch.zeros(3)
    except RuntimeError as error:
        assert input_error_line(error) is None
    assert input_error_line(ValueError("model.view.radius must be a number > 0 (or null), got -1")) is not None
