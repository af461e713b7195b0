"""Sparse (k-nearest-neighbour) attention on point clouds up to 10,000 points.

Every point attends over the rank-tuples of its own k nearest neighbours (gaan.nn.neighbours.
knn + the layers' neighbour axis), so cost is N * k**rank: linear in N. Prints time and peak
memory per forward / training step and the fitted log-log slope (1.0 = linear).

    python bench/sparse_demo.py                 # N = 1k, 2k, 5k, 10k, k = 16, rank 2
"""

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gaan.nn as gnn  # noqa: E402
from bench import peak_memory, sync  # noqa: E402
from gaan.nn.neighbours import knn  # noqa: E402


class SparseNet(nn.Module):
    def __init__(self, width, rank, k, depth=2):
        super().__init__()
        self.k = k
        self.embed = nn.Linear(4, width)
        self.blocks = nn.ModuleList(gnn.VectorAttention(width, rank=rank, reduce=True) for _ in range(depth))
        self.head = nn.Linear(width, 1)

    def forward(self, positions, types):
        v = self.embed(types)
        for block in self.blocks:
            # neighbourhoods are rebuilt per block from the current features
            r, vn, m = knn(positions, v, self.k)
            v = v + block(r, vn, mask=m)  # (B, N, D): one reduction per neighbourhood
        return self.head(v).mean((1, 2))


def slope(xs, ys):
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.mean(lx), statistics.mean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--points", type=int, nargs="+", default=[1000, 2000, 5000, 10000])
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--rank", type=int, default=2)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    net = SparseNet(args.width, args.rank, args.k).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    print(f"sparse kNN attention: k={args.k} rank={args.rank} width={args.width} device={device} threads={torch.get_num_threads()}")
    print(f"{'N':>6} | {'forward ms':>10} | {'train ms':>9} | {'train MiB':>9}")
    rows = []
    for n in args.points:
        positions = (torch.rand(1, n, 3) * n ** (1 / 3)).to(device)  # constant density
        types = nn.functional.one_hot(torch.randint(0, 4, (1, n)), 4).float().to(device)

        def forward(positions=positions, types=types):
            with torch.no_grad():
                net(positions, types)

        def train(positions=positions, types=types):
            opt.zero_grad(set_to_none=True)
            net(positions, types).square().sum().backward()
            opt.step()

        times = {}
        for name, fn in (("forward", forward), ("train", train)):
            fn()
            samples = []
            for _ in range(args.repeats):
                sync(device)
                t0 = time.perf_counter()
                fn()
                sync(device)
                samples.append(time.perf_counter() - t0)
            times[name] = statistics.median(samples)
        mem = peak_memory(train, device)
        rows.append((n, times["forward"], times["train"], mem))
        print(f"{n:>6} | {times['forward'] * 1e3:10.1f} | {times['train'] * 1e3:9.1f} | {mem / 2**20:9.1f}", flush=True)
    ns = [r[0] for r in rows]
    print(
        f"log-log slope vs N: forward {slope(ns, [r[1] for r in rows]):.2f}, train {slope(ns, [r[2] for r in rows]):.2f}, "
        f"memory {slope(ns, [r[3] for r in rows]):.2f}  (1.0 = linear; dense rank {args.rank} would be {args.rank})"
    )


if __name__ == "__main__":
    main()
