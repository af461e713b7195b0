"""gaan vs the reference `geometric-algebra-attention` (PyTorch backend) on the same network.

Both networks are built from the same weights (the reference's score/value nets are deep
copies of gaan's), run in the same process with the same thread count, and are checked to
compute the same function before anything is timed.

    python bench/bench.py                       # full grid, CPU, 2 threads
    python bench/bench.py --quick               # rank 2 and 3, N = 12..32, 'single'
    python bench/bench.py --device cuda         # same table on a GPU (synchronised timings)

Network: features = Linear(types); ``depth`` equivariant blocks v <- v + VectorAttention(
reduce=False)(r, v); one reducing VectorAttention; Linear to one scalar; MSE loss; Adam.

The ``floor x`` column bounds what any implementation of this architecture can reach with
this machine's matrix multiply: per layer and tuple, the score net's first Linear acts on a
nonlinear function of the value net's hidden units (H of them), so a training step needs at
least three (tuples x H) @ (H x H) products (forward, input gradient, weight gradient), H the
MLP hidden width (2 * width here; going through the width-wide joined features instead costs
H * width + width * H multiply-adds per tuple, the same). Their measured time alone, divided
into the reference's step time, is the largest possible training speed-up over the reference.
The ``eager x`` column adds what an implementation made of separate PyTorch kernels (eager
mode) cannot avoid either: per layer, the two per-tuple SiLU layers (score and value nets)
forward and backward over (tuples x H) tensors; fused kernels (torch.compile) may beat it.
"""

import argparse
import copy
import functools
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

import gaan.nn as gnn

try:
    import geometric_algebra_attention.pytorch as ref
except ImportError:  # the reference is optional: gaan alone is still timed
    ref = None

TYPES = 4


class Net(nn.Module):
    """The benchmark network; ``attention(reduce)`` builds one attention layer."""

    def __init__(self, attention, width: int, depth: int):
        super().__init__()
        self.embed = nn.Linear(TYPES, width)
        self.blocks = nn.ModuleList(attention(False) for _ in range(depth))
        self.reduce = attention(True)
        self.head = nn.Linear(width, 1)
        self.reference = False

    def forward(self, r, types):
        v = self.embed(types)
        for block in self.blocks:
            v = v + (block((r, v)) if self.reference else block(r, v))
        out = self.reduce((r, v)) if self.reference else self.reduce(r, v)
        return self.head(out).squeeze(-1)


def build_pair(rank, mode, width, depth, merge, join, chunk_size=None):
    gaan_kw = dict(rank=rank, invariant_mode=mode, merge=merge, join=join, mlp_hidden=2 * width, chunk_size=chunk_size)
    gaan_net = Net(lambda red: gnn.VectorAttention(width, reduce=red, **gaan_kw), width, depth)
    if ref is None:
        return gaan_net, None
    layers = iter([*gaan_net.blocks, gaan_net.reduce])

    def reference_layer(red):
        mine = next(layers)
        layer = ref.VectorAttention(
            width,
            copy.deepcopy(mine.score_net),
            copy.deepcopy(mine.value_net),
            reduce=red,
            merge_fun=merge,
            join_fun=join,
            rank=rank,
            invariant_mode=mode,
        )
        for name in ("merge_kernels", "join_kernels"):
            if hasattr(mine, name):
                for a, b in zip(getattr(layer, name), getattr(mine, name)):
                    a.data.copy_(b.data)
        return layer

    ref_net = Net(reference_layer, width, depth)
    ref_net.reference = True
    ref_net.embed.load_state_dict(gaan_net.embed.state_dict())
    ref_net.head.load_state_dict(gaan_net.head.state_dict())
    return gaan_net, ref_net


def make_batch(batch, points, device, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(batch, points, 3, generator=g, dtype=dtype)
    types = nn.functional.one_hot(torch.randint(0, TYPES, (batch, points), generator=g), TYPES).to(dtype)
    y = torch.randn(batch, generator=g, dtype=dtype)
    return r.to(device), types.to(device), y.to(device)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_step_fn(net, r, types, y):
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(net(r, types), y)
        loss.backward()
        opt.step()

    return step


def infer_step_fn(net, r, types):
    def step():
        with torch.no_grad():
            net(r, types)

    return step


def time_steps(steps, device, min_steps=5, min_time=0.5, max_steps=50):
    """Median seconds per call of each step, after one warm-up call each.

    The implementations take turns call by call, so a load change on the machine hits both.
    """
    for step in steps.values():
        step()
    sync(device)
    times = {name: [] for name in steps}
    start = time.perf_counter()
    while len(times[next(iter(steps))]) < min_steps or (
        time.perf_counter() - start < min_time * len(steps) and len(times[next(iter(steps))]) < max_steps
    ):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            sync(device)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def peak_memory(step, device):
    """Peak bytes of tensor memory held during one call, above what was live before it.

    GPU: torch.cuda.max_memory_allocated. CPU: the allocation/free events the profiler
    records for every tensor, summed in time order (exact, unlike RSS, which the allocator's
    caching blurs).
    """
    step()  # optimizer state etc. exists before measuring
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


def kernel_floor(batch, points, rank, width, depth, device, dtype, min_time, activations=False):
    """Seconds per training step spent in the per-tuple work no implementation can avoid: the
    (tuples x H) @ (H x H) products, and with ``activations`` the two SiLUs' forward + backward."""
    tuples, hidden = batch * points**rank, 2 * width  # build_pair's MLPs: hidden = 2 * width
    a = torch.randn(tuples, hidden, device=device, dtype=dtype)
    w = torch.randn(hidden, hidden, device=device, dtype=dtype)
    g = torch.randn(tuples, hidden, device=device, dtype=dtype)
    silu, silu_backward = nn.functional.silu, torch.ops.aten.silu_backward

    def work():
        for _ in range(depth + 1):
            a @ w  # forward
            g @ w.t()  # gradient of the input
            a.t() @ g  # gradient of the weight
            if activations:
                for _ in range(2):  # value net and score net hidden layers
                    silu(a)
                    silu_backward(g, a)

    return time_steps({"floor": work}, device, min_time=min_time)["floor"]


def estimate_bytes(batch, points, rank, width, depth):
    """Rough training footprint of the reference: ~30 (B, N**rank, D) float tensors per layer."""
    return 30 * (depth + 1) * batch * points**rank * width * 4


def run_config(args, rank, points, mode, device, dtype):
    batch = args.batch if args.batch else {1: 64, 2: 64, 3: 16}[rank]
    torch.manual_seed(0)
    chunk = args.chunk_size or None
    gaan_net, ref_net = build_pair(rank, mode, args.width, args.depth, args.merge, args.join, chunk)
    if args.blockwise != "auto":
        for module in gaan_net.modules():
            if isinstance(module, gnn.GeometricAttention):
                module.blockwise_min_tuples = 0 if args.blockwise == "always" else None
    r, types, y = make_batch(batch, points, device, dtype)
    row = dict(rank=rank, N=points, mode=mode, batch=batch)
    nets = {"gaan": gaan_net}
    if ref_net is not None and estimate_bytes(batch, points, rank, args.width, args.depth) <= args.ref_limit_gb * 2**30:
        nets["ref"] = ref_net
    for net in nets.values():
        net.to(device=device, dtype=dtype)
    if "ref" in nets:
        with torch.no_grad():
            row["max_abs_diff"] = (gaan_net(r, types) - ref_net(r, types)).abs().max().item()
    compiled = {"none": (), "gaan": ("gaan",), "both": ("gaan", "ref")}[args.compile]
    if compiled:
        # fresh caches: past dynamo's recompile limit a compiled module silently runs eagerly
        torch._dynamo.reset()
    for name in compiled:
        if name in nets:
            # dynamic=False: one graph for this batch shape; compile time is excluded (warm-up)
            nets[name] = torch.compile(nets[name], dynamic=False, mode=args.compile_mode)
    train = time_steps({n: train_step_fn(net, r, types, y) for n, net in nets.items()}, device, min_time=args.min_time)
    infer = time_steps({n: infer_step_fn(net, r, types) for n, net in nets.items()}, device, min_time=args.min_time)
    for name, net in nets.items():
        row[f"{name}_train"] = batch / train[name]
        row[f"{name}_infer"] = batch / infer[name]
        row[f"{name}_mem"] = peak_memory(train_step_fn(net, r, types, y), device)
    if args.floor:
        floor_args = (batch, points, rank, args.width, args.depth, device, dtype, args.min_time)
        row["floor_train"] = batch / kernel_floor(*floor_args)
        row["eager_floor_train"] = batch / kernel_floor(*floor_args, activations=True)
    if "ref" in nets:
        if args.floor:
            row["floor_ratio"] = row["floor_train"] / row["ref_train"]
            row["eager_floor_ratio"] = row["eager_floor_train"] / row["ref_train"]
        row["train_ratio"] = row["gaan_train"] / row["ref_train"]
        row["infer_ratio"] = row["gaan_infer"] / row["ref_infer"]
        row["mem_ratio"] = row["gaan_mem"] / row["ref_mem"]
    return row


def format_cell(row, key, spec):
    return spec.format(row[key]) if key in row else "-"


def fmt_table(rows):
    head = (
        f"{'rank':>4} {'N':>3} {'mode':>6} {'B':>3} | {'train/s gaan':>12} {'ref':>8} {'x':>6} | "
        f"{'infer/s gaan':>12} {'ref':>8} {'x':>6} | {'MiB gaan':>9} {'ref':>8} {'x':>5} | {'|diff|':>7} | {'floor x':>7} {'eager x':>7}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        g = functools.partial(format_cell, row)
        lines.append(
            f"{row['rank']:>4} {row['N']:>3} {row['mode']:>6} {row['batch']:>3} | "
            f"{g('gaan_train', '{:12.0f}')} {g('ref_train', '{:8.0f}'):>8} {g('train_ratio', '{:6.2f}'):>6} | "
            f"{g('gaan_infer', '{:12.0f}')} {g('ref_infer', '{:8.0f}'):>8} {g('infer_ratio', '{:6.2f}'):>6} | "
            f"{row['gaan_mem'] / 2**20:9.1f} {(row['ref_mem'] / 2**20 if 'ref_mem' in row else float('nan')):8.1f} "
            f"{g('mem_ratio', '{:5.2f}'):>5} | "
            f"{g('max_abs_diff', '{:7.1e}'):>7} | {g('floor_ratio', '{:7.2f}'):>7} {g('eager_floor_ratio', '{:7.2f}'):>7}"
        )
    return "\n".join(lines)


def plot(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for rank in sorted({r["rank"] for r in rows}):
        for mode in sorted({r["mode"] for r in rows}):
            sel = [r for r in rows if r["rank"] == rank and r["mode"] == mode]
            for impl, style in (("gaan", "-"), ("ref", "--")):
                pts = [
                    (r["N"], r["batch"] / r[f"{impl}_train"] * 1e3 / r["batch"], r[f"{impl}_mem"] / 2**20)
                    for r in sel
                    if f"{impl}_train" in r
                ]
                if not pts:
                    continue
                n, t, m = zip(*pts)
                label = f"{impl} rank {rank} {mode}"
                axes[0].loglog(n, t, style, marker="o", label=label)
                axes[1].loglog(n, m, style, marker="o", label=label)
    axes[0].set(xlabel="N points", ylabel="train ms per sample", title="time")
    axes[1].set(xlabel="N points", ylabel="peak MiB per train step", title="memory")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--points", type=int, nargs="+", default=[8, 12, 16, 32, 64])
    p.add_argument("--modes", nargs="+", default=["single", "full"])
    p.add_argument("--quick", action="store_true", help="rank 2 N=12,16,32 and rank 3 N=12, 'single'")
    p.add_argument("--runs", type=int, default=3, help="repeat each config; the table shows medians")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--depth", type=int, default=2, help="equivariant blocks before the reducing layer")
    p.add_argument("--merge", default="mean")
    p.add_argument("--join", default="mean")
    p.add_argument("--batch", type=int, default=0, help="0: 64 for rank 1-2, 16 for rank 3")
    p.add_argument("--chunk-size", type=int, default=0, help="gaan chunk_size (0: no chunking)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--compile",
        default="none",
        choices=["none", "gaan", "both"],
        help="torch.compile these networks before timing (compile time not counted)",
    )
    p.add_argument(
        "--compile-mode",
        default="default",
        choices=["default", "max-autotune-no-cudagraphs", "max-autotune"],
        help="torch.compile mode; max-autotune on a CPU also tries inductor's C++ GEMM templates with fused epilogues (slow to compile)",
    )
    p.add_argument(
        "--blockwise",
        default="auto",
        choices=["auto", "always", "never"],
        help="gaan layers' blockwise recomputation: for calls of >= 65,536 tuples (auto), "
        "always (least memory) or never (the general path at every size)",
    )
    p.add_argument("--no-floor", dest="floor", action="store_false", help="skip measuring the floors (columns 'floor x', 'eager x')")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--min-time", type=float, default=1.0, help="seconds of timed steps per measurement")
    p.add_argument("--max-tuples", type=float, default=2e6, help="skip configs with more B*N**rank tuples")
    p.add_argument("--ref-limit-gb", type=float, default=6.0, help="skip the reference above this estimated footprint")
    p.add_argument("--out", default="bench/results", help="folder for results.json and scaling.png")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    configs = [(rk, n, m) for rk in args.ranks for m in args.modes for n in args.points]
    if args.quick:
        configs = [(2, 12, "single"), (2, 16, "single"), (2, 32, "single"), (3, 12, "single")]
    print(
        f"device={device} threads={torch.get_num_threads()} dtype={args.dtype} width={args.width} depth={args.depth}+1 "
        f"merge={args.merge} join={args.join} gaan chunk_size={args.chunk_size or None} compile={args.compile} "
        f"mode={args.compile_mode} gaan blockwise={args.blockwise} runs={args.runs} (medians) "
        f"torch={torch.__version__}",
        flush=True,
    )
    rows = []
    for rank, points, mode in configs:
        batch = args.batch if args.batch else {1: 64, 2: 64, 3: 16}[rank]
        if batch * points**rank > args.max_tuples:
            print(f"skip rank={rank} N={points}: {batch * points**rank:.1e} tuples", flush=True)
            continue
        runs = [run_config(args, rank, points, mode, device, dtype) for _ in range(args.runs)]
        # medians over runs, ratios included (a ratio of medians would pair different runs)
        row = {key: statistics.median(r[key] for r in runs) if isinstance(value, float) else value for key, value in runs[0].items()}
        rows.append(row)
        print(fmt_table([row]).splitlines()[-1], flush=True)
    print()
    print(fmt_table(rows))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(dict(args=vars(args), rows=rows), indent=1))
    plot(rows, out / "scaling.png")


if __name__ == "__main__":
    main()
