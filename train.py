"""Train and test a model: `python train.py task=<name> model=<name> [overrides]` (see README.md, "Experiments")."""

from gaan.train import cli

if __name__ == "__main__":
    cli()
