"""Train and test a model: `python train.py task=<name> model=<name> [overrides]` (see docs/harness.md)."""
from gaan.train import cli

if __name__ == "__main__":
    cli()
