"""Training-step time of a trained checkpoint with subnormal floats flushed to zero or not.

A trained network can produce many subnormal floats (|x| < 1.2e-38 in float32: e.g. SiLU and
softmax tails), which x86 CPUs handle on a slow path. The config key `flush_denormal` (default
true) flushes them; this prints the step time both ways, on the checkpoint's own task batch,
and their ratio (the peer: the same step without flushing).

    python bench/flush_denormal.py logs/nbody/runs/<run>/checkpoints/last.ckpt
    python bench/flush_denormal.py <ckpt> experiment=nbody_ga_attn model.dropout=0.2  # explicit overrides

Without overrides, the run's own `.hydra/overrides.yaml` (beside `checkpoints/`) is used.
"""

import argparse
import sys
from pathlib import Path

import hydra
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import time_steps  # noqa: E402
from gaan.checkpoints import load_trained_module, run_overrides  # noqa: E402
from gaan.train import compose_config  # noqa: E402


def stored_overrides(ckpt: Path) -> list[str]:
    """The overrides of the run that wrote `ckpt`, less its checkpoint and paths."""
    overrides = run_overrides(ckpt)
    if overrides is None:
        raise FileNotFoundError(f"{ckpt}: its run's .hydra/overrides.yaml not found: pass the run's overrides after the checkpoint")
    return [o for o in overrides if not o.startswith(("ckpt_path=", "paths."))]


def training_step(module, batch, flush: bool):
    def step():
        torch.set_flush_denormal(flush)
        loss = module.training_step(batch, 0)
        loss = loss["loss"] if isinstance(loss, dict) else loss
        loss.backward()
        module.zero_grad(set_to_none=True)

    return step


def main(argv=None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ckpt", type=Path)
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per setting (after one warm-up step)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the flag is per thread: toggled here, it reaches no pool thread

    overrides = args.overrides or stored_overrides(args.ckpt)
    cfg = compose_config([*overrides, "paths.output_dir=/tmp/gaan_bench_flush_denormal"])
    datamodule = hydra.utils.instantiate(cfg.task.datamodule)
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    module = load_trained_module(args.ckpt, config=cfg, in_features=datamodule.num_features).train()

    # the two settings take turns step by step (bench.time_steps), so machine load hits both
    steps = {flush: training_step(module, batch, flush) for flush in (False, True)}
    medians = time_steps(steps, torch.device("cpu"), min_steps=args.steps, min_time=0.0)
    torch.set_flush_denormal(False)
    ratio = medians[False] / medians[True]
    print(f"{args.ckpt}: step {medians[False]:.3f} s without flushing, {medians[True]:.3f} s flushed: {ratio:.2f}x")
    return {"unflushed_s": medians[False], "flushed_s": medians[True], "ratio": ratio}


if __name__ == "__main__":
    main()
