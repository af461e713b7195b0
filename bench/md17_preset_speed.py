"""Training speed of the md17 ethanol GA attention preset against the preset before issue 30.

Issue 30 asks that the chosen preset train at least as fast, per thread, as the preset it
replaced (the record `results/records/md17/md17_ethanol_ga_attn-seed2024-bd091ab.json`: 5 nearest
atoms, normalized units, softmax, mean join; commit 2184f52). Both are timed in one process, in
alternating rounds of `bench/train_throughput.py`'s probes (frames per second of this process's
CPU time, subnormal floats flushed as in training), and the medians compared, so the ratio holds
on a shared machine where absolute speeds drift with the load:

    OMP_NUM_THREADS=1 python bench/md17_preset_speed.py [--rounds 3] [--preset md17_ethanol_ga_attn]

Writes bench/results/md17_preset_speed.json (whole or not at all).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

BEFORE_ISSUE_30_RECORD = ROOT / "results/records/md17/md17_ethanol_ga_attn-seed2024-bd091ab.json"
# the preset before issue 30, written as changes of today's ethanol preset (whose data, optimizer
# and task it shares); `before_issue_30_model` checks them against that run's record
BEFORE_ISSUE_30 = [
    "experiment=md17_ethanol_ga_attn",
    "model.depth=3",
    "model.normalize=true",
    "model.pair_inputs.0.maximum=2.5",
    "~model.view",
    "+model.view={_target_:gaan.models.views.Neighbourhoods,k:5}",
    "model.attention.rank=2",
    "model.attention.join=mean",
    "model.attention.aggregation=softmax",
    "model.attention.mlp_hidden=null",
    "task.datamodule.batch_size=10",
]
# layer options the record's config left out because they were the defaults then
LAYER_DEFAULTS = {"aggregation": "softmax", "mlp_hidden": None}


def before_issue_30_model() -> tuple[dict, dict]:
    """(the model BEFORE_ISSUE_30 composes, the record's model), layer defaults dropped from both."""
    from omegaconf import OmegaConf

    from gaan.train import compose_config

    composed = OmegaConf.to_container(compose_config(BEFORE_ISSUE_30).model)
    recorded = json.loads(BEFORE_ISSUE_30_RECORD.read_text())["config"]["model"]
    for model in (composed, recorded):
        for key, default in LAYER_DEFAULTS.items():
            if key in model["attention"] and model["attention"][key] == default:
                del model["attention"][key]
    return composed, recorded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="md17_ethanol_ga_attn")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/md17_preset_speed.json")
    args = parser.parse_args()
    composed, recorded = before_issue_30_model()
    if composed != recorded:
        raise SystemExit(f"the overrides no longer compose {BEFORE_ISSUE_30_RECORD.name}'s model:\n{composed}\n{recorded}")

    from train_throughput import measure

    configs = {"before_issue_30": BEFORE_ISSUE_30, args.preset: [f"experiment={args.preset}"]}
    speeds = {name: [] for name in configs}
    for _ in range(args.rounds):
        for name, overrides in configs.items():
            speeds[name].append(measure(overrides, steps=args.steps)["frames_per_cpu_second"])
    medians = {name: statistics.median(values) for name, values in speeds.items()}
    result = {
        "frames_per_cpu_second": speeds,
        "medians": medians,
        "ratio": medians[args.preset] / medians["before_issue_30"],
        "rounds": args.rounds,
        "steps": args.steps,
    }
    from gaan.files import write_atomically

    write_atomically(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
