"""Training throughput of any configuration: frames (clouds) per second of training steps.

Composes the config like `train.py` (same overrides), builds the data module and the task module,
and times `--steps` optimizer steps (forward, loss, backward, AdamW step; for energy tasks the
forces' double backward included) after `--warmup` untimed ones, on the training loader in order.
Used to size a time-budgeted preset's cosine schedule (epochs = budget x frames/s / frames per
epoch, minus validation) before it runs, e.g. the md17 ablation of docs/chemistry.md:

    OMP_NUM_THREADS=1 python bench/train_throughput.py experiment=md17_ethanol_ga_attn
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from types import SimpleNamespace

import hydra
import torch

from gaan.train import build_module, compose_config, set_flush_denormal


def measure(overrides: list[str], steps: int = 40, warmup: int = 5) -> dict:
    with tempfile.TemporaryDirectory() as out:
        cfg = compose_config([*overrides, f"paths.output_dir={out}"])
        # as train.py does (config key flush_denormal, on by default): subnormal floats take a
        # slow path on x86 CPUs, by different amounts in different models (the md17 preset 1.2x,
        # a Gaussian-basis value network 1.7x), so speeds measured without it misjudge ratios
        set_flush_denormal(cfg)
        torch.manual_seed(int(cfg.seed))
        datamodule = hydra.utils.instantiate(cfg.task.datamodule)
        datamodule.prepare_data()
        datamodule.setup("fit")
        module = build_module(cfg, datamodule)
        # the hooks read the data module through the trainer (e.g. an energy reference fitted on
        # the training frames): a stand-in holding only the data module, for setup alone
        module._trainer = SimpleNamespace(datamodule=datamodule)
        module.setup("fit")
        module._trainer = None
        optimizer = module.configure_optimizers()
        optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
        if isinstance(optimizer, (list, tuple)):
            optimizer = optimizer[0][0] if isinstance(optimizer[0], (list, tuple)) else optimizer[0]
        module.train()
        batches = itertools.cycle(datamodule.train_dataloader())
        frames, elapsed, cpu = 0, 0.0, 0.0
        for step in range(warmup + steps):
            batch = next(batches)
            start, start_cpu = time.perf_counter(), time.process_time()
            loss = module.compute_loss(module.predict_batch(batch), batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step >= warmup:
                elapsed += time.perf_counter() - start
                cpu += time.process_time() - start_cpu
                frames += int(batch.positions.shape[0])
        parameters = sum(p.numel() for p in module.parameters())
    return {
        "overrides": overrides,
        "frames_per_second": frames / elapsed,
        # per second of this process's CPU time: what one thread would do undisturbed, nearly
        # whatever else the machine runs (wall-clock speed on a shared machine is not)
        "frames_per_cpu_second": frames / cpu,
        "parameters": parameters,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="train.py overrides, e.g. experiment=md17_ethanol_ga_attn")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(measure(args.overrides, args.steps, args.warmup)))


if __name__ == "__main__":
    main()
