"""Test a checkpoint: `python eval.py task=<name> ckpt_path=<file>` (see README.md, "Experiments")."""

from gaan.eval import main
from gaan.train import cli

if __name__ == "__main__":
    cli(main, config_name="eval")
