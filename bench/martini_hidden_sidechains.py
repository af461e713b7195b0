"""Martini checkpoints on the validation split with the side-chain beads given and hidden.

A Martini CG file may lack some residues' side-chain beads (or all: BB beads only); gaan-backmap
then gives the network those residues without side-chain points. This scores each checkpoint on
the protein validation split (the task's own metrics: all-heavy, backbone and side-chain RMSD,
equivalent atoms matched) twice: with every residue's side-chain beads, and with all of them
hidden (`sidechain_points.drop_sidechain_points` with fraction 1, which is what a missing bead
is at inference). A checkpoint trained without side-chain beads is scored on its own input.

    python bench/martini_hidden_sidechains.py CKPT [CKPT ...] [--data-dir data]
"""

from __future__ import annotations

import argparse
import sys

import torch

from gaan.checkpoint_file import load_checkpoint
from gaan.checkpoints import load_trained_module
from gaan.tasks.protein.datamodule import ProteinDataModule
from gaan.tasks.protein.sidechain_points import drop_sidechain_points, environment_feature_count

METRICS = ("rmsd", "rmsd_backbone", "rmsd_sidechain")


def validation_rmsd(module, datamodule: ProteinDataModule, hide_sidechains: bool) -> dict[str, float]:
    metrics = module.make_metrics()
    with torch.inference_mode():
        for batch in datamodule.val_dataloader():
            if hide_sidechains:
                batch = drop_sidechain_points(batch, 1.0)
            module.update_metrics(metrics, module.predict_batch(batch), batch)
    return {name: float(metrics[name].compute()) for name in METRICS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("| checkpoint | side-chain beads | val all heavy | backbone | side chain |\n|---|---|---|---|---|")
    for path in args.checkpoints:
        stored = load_checkpoint(path)["gaan_config"]["task"]["datamodule"]
        sidechains = bool(stored.get("sidechain_beads", False))
        datamodule = ProteinDataModule(args.data_dir, beads="martini", k=int(stored["k"]), sidechain_beads=sidechains, eval_batch_size=256)
        datamodule.setup()
        module = load_trained_module(path, in_features=environment_feature_count(sidechains))
        modes = [("given", False), ("hidden", True)] if sidechains else [("not read", False)]
        for label, hide in modes:
            scores = validation_rmsd(module, datamodule, hide)
            print(f"| {path} | {label} | " + " | ".join(f"{scores[m]:.3f}" for m in METRICS) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
