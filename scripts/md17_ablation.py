"""The md17 ethanol ablation of GA attention (issue 30): each run changes one thing of the
preset `experiment=md17_ethanol_ga_attn`, then combinations; chosen on validation force MAE.

Budget: every run gets the preset's 10 minutes of an idle core. Its cosine schedule is sized
from training throughput measured beside the preset's (`bench/train_throughput.py`, frames per
second of CPU time, the preset and the variant in turn): epochs = the preset's epochs x (its
speed / the preset's), the preset's epochs (its `trainer.max_epochs`) being what it fits in 10
minutes. The ratio holds on a shared machine, where absolute speeds do not, so each run is capped
at `--cap-minutes` of wall clock only as a safety net and its result does not depend on the
machine's load (same seed, same epochs: the same numbers).

    OMP_NUM_THREADS=1 python scripts/md17_ablation.py --list
    OMP_NUM_THREADS=1 python scripts/md17_ablation.py units smooth --jobs 2

Each round of docs/chemistry.md's table changed the preset file of its time, which today's preset
was then written from; to re-run a round, check that file out first
(`git show <commit>:conf/experiment/md17_ethanol_ga_attn.yaml`):
- the variants up to `nearest_smooth_product_centre`: the preset before issue 30 (commit 2184f52, 50 epochs);
- `narrow_tuple_nets` to `narrow_small_batches`: the first-round preset (commit ae7f713, 35 epochs);
- `wide` to `narrower_tuple_nets`: the second-round preset (commit 88d20e4, 45 epochs);
- `ema` to `basis_filter`: the third-round preset (commit 706bb81, 40 epochs);
- `mixed_ranks` onwards: the fourth-round preset (commit 102ee6b, 35 epochs).

Each run is a plain `train.py` run (record.json in logs/md17/runs/...); a summary line per run
is appended to logs/md17_ablation.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

PRESET = "md17_ethanol_ga_attn"  # --preset md17_aspirin_ga_attn: the same changes on aspirin

UNITS = ["model.normalize=false", "model.pair_inputs.0.maximum=3.7"]  # A; 2.5 x the ~1.47 A running norm
SMOOTH = [
    "model.view._target_=gaan.models.views.SmoothNeighbourhoods",
    "model.view.k=6",
    "+model.view.envelope._target_=gaan.models.envelopes.PolynomialCutoff",
    "+model.view.envelope.cutoff=1.8",
    "+model.attention.aggregation=weighted_softmax",
]
WHOLE_SMOOTH = [  # ethanol's 9 atoms all inside 5 A: the view never changes, the envelope only weighs
    "model.view._target_=gaan.models.views.SmoothNeighbourhoods",
    "model.view.k=9",
    "+model.view.envelope._target_=gaan.models.envelopes.PolynomialCutoff",
    "+model.view.envelope.cutoff=5.0",
    "+model.attention.aggregation=weighted_softmax",
]
NEAREST_SMOOTH = [  # k nearest, weighted by an envelope reaching 0 at the (k+1)-th neighbour
    "model.view._target_=gaan.models.views.NearestSmooth",
    "model.view.k=6",
    "+model.view.cutoff=5.0",
    "+model.view.envelope._target_=gaan.models.envelopes.PolynomialCutoff",
    "+model.view.envelope.cutoff=1.0",
    "+model.attention.aggregation=weighted_softmax",
]
PRODUCT = ["model.attention.join=product"]
GATED_SUM = ["+model.attention.aggregation._target_=gaan.nn.aggregation.GatedSum", "+model.attention.aggregation.tuples=25"]
CENTRE = [
    "model.pair_inputs=[{_target_:gaan.models.pair_inputs.RadialBasis,count:32,maximum:2.5},"
    "{_target_:gaan.models.pair_inputs.CentreFeatures}]"
]
BASIS = ["+model.attention.value_net={_target_:gaan.nn.basis_network.gaussian_basis_network,_partial_:true,count:16}"]
SCALED_FRAMES = ["model.view._target_=gaan.models.views.ScaledLocalFrames", "~model.view.k", "~model.view.cutoff", "+model.view.power=16"]
SQUARED = [  # the view's envelope squared (gaan.models.envelopes.Squared)
    "model.view.envelope._target_=gaan.models.envelopes.Squared",
    "~model.view.envelope.cutoff",
    "+model.view.envelope.envelope._target_=gaan.models.envelopes.PolynomialCutoff",
    "+model.view.envelope.envelope.cutoff=1.0",
]
RECIPE = ["optimizer.lr=1e-3", "scheduler.warmup_epochs=2", "+trainer.gradient_clip_val=10.0"]

VARIANTS = {
    "preset": [],
    "units": UNITS,
    "smooth": UNITS + SMOOTH,
    "smooth_whole": UNITS + WHOLE_SMOOTH,
    "product": PRODUCT,
    "gated_sum": GATED_SUM,
    "recipe": RECIPE,
    "centre": CENTRE,
    "basis": BASIS,
    "units_product": UNITS + PRODUCT,
    "smooth_whole_product": UNITS + WHOLE_SMOOTH + PRODUCT,
    "nearest_smooth_product": UNITS + NEAREST_SMOOTH + PRODUCT,
    "nearest_smooth5_product": UNITS + NEAREST_SMOOTH + PRODUCT + ["model.view.k=5"],
    "nearest_smooth_product_centre": UNITS
    + NEAREST_SMOOTH
    + PRODUCT
    + [
        "model.pair_inputs=[{_target_:gaan.models.pair_inputs.RadialBasis,count:32,maximum:3.7},"
        "{_target_:gaan.models.pair_inputs.CentreFeatures}]"
    ],
    # second round: changes of the first-round preset (commit ae7f713)
    "narrow_tuple_nets": ["+model.attention.mlp_hidden=32"],  # tuple MLPs' hidden layer 128 -> 32: most of a step
    "small_batches": ["task.datamodule.batch_size=5"],  # twice the optimizer steps per epoch
    "narrow_small_batches": ["+model.attention.mlp_hidden=32", "task.datamodule.batch_size=5"],
    # third round: changes of the second-round preset (commit 88d20e4); train ~ val MAE there (underfit)
    "wide": ["model.width=128"],  # features of 128 instead of 64
    "deep": ["model.depth=4"],  # a fourth attention block
    "seven_nearest": ["model.view.k=7"],  # 7 nearest atoms, the envelope reaching 0 at the 8th
    "eight_nearest": ["model.view.k=8"],  # ethanol: every atom but the farthest
    "whole_molecule": ["model.view.k=9"],  # ethanol's 9 atoms: the envelope's scale is the 5 A cutoff, no kinks
    "fast_lr": ["optimizer.lr=6e-3"],  # twice the learning rate
    "narrower_tuple_nets": ["model.attention.mlp_hidden=16"],  # more epochs in the budget
    # fourth round: changes of the third-round preset (commit 706bb81; train 17.4 / val 18.6: underfit)
    "ema": ["callbacks=[default,ema]"],  # validate, keep and test an exponential moving average of the weights
    "energy_weight": ["task.module.energy_weight=10.0"],  # the energy term was ~1 % of the loss
    "narrowest_tuple_nets": ["model.attention.mlp_hidden=8"],  # tuple networks 16 -> 8: more epochs
    "narrow_features": ["model.width=48"],  # features 64 -> 48: more epochs
    # the whole molecule, the envelope scaled by a power mean of the distances: no kink (NVE drift)
    "scaled_frames": SCALED_FRAMES,
    "normalized_products": ["+model.attention.include_normalized_products=true"],  # cos and sin of each pair's angle as invariants
    "eight_heads": ["model.attention.heads=8"],  # attention heads 4 -> 8
    "tiny_batches": ["task.datamodule.batch_size=3"],  # batches 5 -> 3: more optimizer steps
    "squared_envelope": SQUARED,  # a tuple's weight (a geometric mean) stays twice differentiable at the cutoff
    "scaled_squared": SCALED_FRAMES + SQUARED,
    "hidden_vectors": ["model.geometry_updates=true", "model.vector_channels=1"],  # covariant hidden state (EGNN-like moves)
    "scaled_squared_narrow": SCALED_FRAMES + SQUARED + ["model.width=48"],  # the smooth view, paid for by narrower features
    "scaled_squared_tiny": SCALED_FRAMES + SQUARED + ["task.datamodule.batch_size=3"],  # the smooth view with batches of 3
    "pairs_scaled_squared": ["model.attention.rank=1"] + SCALED_FRAMES + SQUARED,  # the smooth whole molecule at the pairs' cost
    "pairs_only": ["model.attention.rank=1"],  # tuples of one partner: no angles, 8x fewer tuples
    "pairs_only_wide_vectors": ["model.attention.rank=1", "model.width=128", "model.geometry_updates=true", "model.vector_channels=2"],
    "basis_filter": BASIS,  # product join's filter from a Gaussian basis of each tuple invariant
    # fifth round: changes of the fourth-round preset (the whole molecule, power-mean scale, squared envelope; 35 epochs)
    "mixed_ranks": ["model.attention.rank=[2,1,1]"],  # angles in the first block, pairs after it: cheaper steps
    "late_angles": ["model.attention.rank=[1,1,2]"],  # pairs first, angles in the last block
    "deep_mixed_ranks": ["model.depth=4", "model.attention.rank=[2,1,1,1]"],  # a fourth block at the pairs' cost
    "shallow": ["model.depth=2"],  # two blocks: more epochs
    "half_lr": ["optimizer.lr=1.5e-3"],  # the rate halved
    # sums count, and the view is now smooth
    "gated_sum_smooth": ["model.attention.aggregation={_target_:gaan.nn.aggregation.GatedSum,tuples:25}"],
}


def preset_epochs(preset: str) -> int:
    """The preset's training epochs: what fits its 10-minute budget at its speed."""
    from gaan.train import compose_config

    return int(compose_config([f"experiment={preset}"]).trainer.max_epochs)


def molecule_tag(preset: str) -> str:
    return preset.split("md17_", 1)[1].split("_", 1)[0]


def probe(preset: str, overrides: list[str]) -> float:
    from train_throughput import measure

    return measure([f"experiment={preset}", *overrides], steps=40, warmup=5)["frames_per_cpu_second"]


def run(preset: str, name: str, overrides: list[str], epochs: int, cap_minutes: float) -> dict:
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        f"experiment={preset}",
        *overrides,
        f"trainer.max_epochs={epochs}",
        "trainer.max_time=00:{:02d}:{:02d}:00".format(*divmod(int(cap_minutes), 60)),  # DD:HH:MM:SS
        "logger=csv",
        "trainer.enable_progress_bar=false",
        "callbacks.rich_progress_bar=null",
        f"tags=[md17,{molecule_tag(preset)},ga_attn,ablation,{name}]",
    ]
    start = time.time()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    line = next((x for x in done.stdout.splitlines()[::-1] if "output" in x.lower()), "")
    tail = done.stderr[-2000:] if done.returncode else line
    wall = time.time() - start
    return {"name": name, "overrides": overrides, "epochs": epochs, "returncode": done.returncode, "wall_s": wall, "tail": tail}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"variants among {list(VARIANTS)}, or NAME=override,override,...")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--cap-minutes", type=float, default=25)
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--preset", default=PRESET, help="the experiment the variants change")
    args = parser.parse_args()
    preset = args.preset
    if args.list:
        for name, overrides in VARIANTS.items():
            print(name, " ".join(overrides))
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    variants = {}
    for entry in args.names:
        name, _, extra = entry.partition("=")
        variants[name] = VARIANTS[name] if not extra else [o for part in extra.split("+") for o in VARIANTS.get(part, [part])]
    plans, budget_epochs = {}, preset_epochs(preset)
    for name, overrides in variants.items():
        # the preset and the variant in turn, three times each: on a shared machine the load
        # drifts between probes, and the median of each is compared
        speeds = {"preset": [], name: []}
        for _ in range(3):
            speeds["preset"].append(probe(preset, []))
            speeds[name].append(probe(preset, overrides))
        base, speed = (statistics.median(speeds[key]) for key in ("preset", name))
        # a multiple of 5 (the preset validates every 5 epochs), so the schedule's last epoch is validated
        plans[name] = (overrides, max(5, 5 * round(budget_epochs * speed / base / 5)), speed, base)
        print(f"{name}: {speed:.1f} frames per CPU second in training steps (preset {base:.1f}) -> {plans[name][1]} epochs", flush=True)
    molecule = molecule_tag(preset)
    log = ROOT / "logs" / ("md17_ablation.jsonl" if molecule == "ethanol" else f"md17_ablation_{molecule}.jsonl")
    log.parent.mkdir(exist_ok=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {name: pool.submit(run, preset, name, o, e, args.cap_minutes) for name, (o, e, _, _) in plans.items()}
        for name, future in futures.items():
            result = future.result() | {"probe_frames_per_second": plans[name][2], "preset_probe_frames_per_second": plans[name][3]}
            with log.open("a") as f:
                f.write(json.dumps(result) + "\n")
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
