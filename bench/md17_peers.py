"""Published peer force fields on gaan's md17 data, side by side with gaan (issue 22).

Two peers, chosen with `--model`: torch-geometric's SchNet (Schütt et al. 2017) and torchmd-net's
TensorNet (Simeon & De Fabritiis 2023), both with a plain-torch neighbour list (all atom pairs of
a molecule within `--cutoff`; PyG's radius_graph needs pyg-lib, absent here, and TensorNet's own
`OptimizedDistance` is swapped for it). Each predicts E = energy_mean + energy_scale * network and
forces -dE/dx. Everything else is gaan's: the data, splits and per-element reference
(`gaan.tasks.md17.datamodule.MD17DataModule`), the energy scale (RMS training force), the loss
(`energy_force_loss`, same weights as conf/task/md17.yaml) and the metrics
(`energy_force_metrics`), so the rows of docs/chemistry.md differ only in the model.
Training: AdamW, cosine decay over `--epochs`, stopped at `--budget-minutes` of wall clock,
validated every `--val-every` epochs; the best validation state is tested.

Setup (its own venv; peers stay out of gaan's runtime dependencies):
    echo torch==2.13.0 > /tmp/pin.txt
    python3 -m venv /tmp/chem-peers
    /tmp/chem-peers/bin/pip install -c /tmp/pin.txt torch==2.13.0 torch-geometric==2.8.1 torchmd-net==3.1.0
    /tmp/chem-peers/bin/pip install -c /tmp/pin.txt -e .
Run:
    OMP_NUM_THREADS=1 /tmp/chem-peers/bin/python bench/md17_peers.py --model schnet --molecule ethanol --budget-minutes 20
    OMP_NUM_THREADS=1 /tmp/chem-peers/bin/python bench/md17_peers.py --model tensornet --molecule ethanol --budget-minutes 20
The result is written to bench/results/md17_peers_<model>_<molecule>.json (whole or not at all).
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from importlib.metadata import version
from pathlib import Path

import torch

from gaan.data.batch import PointCloudBatch
from gaan.files import write_json_atomically
from gaan.models.molecular_energy import reference_energy
from gaan.tasks.md17.datamodule import MD17DataModule
from gaan.tasks.md17.energy_forces import energy_force_loss, energy_force_metrics, update_energy_force_metrics
from gaan.tasks.md17.energy_reference import fit_energy_reference

log = logging.getLogger("md17_peers")


def molecule_pairs(
    batch_index: torch.Tensor, positions: torch.Tensor, cutoff: float, loop: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All ordered pairs (i, j) of atoms of the same molecule within `cutoff` (a plain-torch radius
    graph): edge_index (2, E), distances (E,) and vectors positions[i] - positions[j] (E, 3), all
    differentiable in `positions`. With `loop`, every atom is also paired with itself (distance 0,
    with a finite gradient), as torchmd-net's `OptimizedDistance(loop=True)` does."""
    same = batch_index[:, None] == batch_index[None, :]
    if not loop:
        same.fill_diagonal_(False)
    i, j = same.nonzero(as_tuple=True)
    vector = positions[i] - positions[j]
    other = i != j
    # self pairs get the norm of a shifted vector, masked to 0: no 0/0 in the (double) backward
    distance = torch.where(other, (vector + (~other)[:, None].to(vector.dtype)).norm(dim=-1), 0.0)
    keep = distance < cutoff
    return torch.stack([i[keep], j[keep]]), distance[keep], vector[keep]


class MoleculeDistance(torch.nn.Module):
    """Drop-in for torchmd-net's `OptimizedDistance(loop=True, return_vecs=True,
    resize_to_fit=True)` without periodic boxes: `molecule_pairs` with self pairs."""

    def __init__(self, cutoff: float):
        super().__init__()
        self.cutoff = cutoff

    def forward(self, pos: torch.Tensor, batch: torch.Tensor, box: torch.Tensor | None = None):
        if box is not None:
            raise ValueError("MoleculeDistance has no periodic boundary conditions")
        return molecule_pairs(batch, pos, self.cutoff, loop=True)


class TorchMDNetEnergy(torch.nn.Module):
    """A torchmd-net model called like PyG's SchNet: (z, pos, batch) -> (molecules, 1)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor, pos: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        return self.model(z, pos, batch)[0]


def build_schnet(args: argparse.Namespace, elements: tuple[int, ...]) -> torch.nn.Module:
    from torch_geometric.nn.models import SchNet

    cutoff = args.cutoff
    return SchNet(
        hidden_channels=args.hidden,
        num_filters=args.filters,
        num_interactions=args.interactions,
        num_gaussians=args.gaussians,
        cutoff=cutoff,
        readout="add",
        interaction_graph=lambda pos, batch: molecule_pairs(batch, pos, cutoff)[:2],
    )


def build_tensornet(args: argparse.Namespace, elements: tuple[int, ...]) -> torch.nn.Module:
    """TensorNet + torchmd-net's Scalar head summed over atoms, via torchmd-net's own
    `create_model` (no prior, mean 0, std 1: the scaling is the wrapper's, as for SchNet)."""
    from torchmdnet.models.model import create_model

    model = create_model(
        {
            "model": "tensornet",
            "embedding_dimension": args.hidden,
            "num_layers": args.layers,
            "num_rbf": args.rbfs,
            "rbf_type": "expnorm",
            "trainable_rbf": False,
            "activation": "silu",
            "cutoff_lower": 0.0,
            "cutoff_upper": args.cutoff,
            "max_z": max(elements) + 1,
            "max_num_neighbors": 64,  # unused: the neighbour list is replaced below
            "equivariance_invariance_group": args.equivariance,
            "static_shapes": False,
            "precision": 32,
            "derivative": False,  # forces come from the wrapper's autograd, as for SchNet
            "atom_filter": -1,
            "prior_model": None,
            "output_model": "Scalar",
            "reduce_op": "sum",
        }
    )
    model.representation_model.distance = MoleculeDistance(args.cutoff)
    return TorchMDNetEnergy(model)


PEERS = {
    "schnet": ("SchNet", "torch-geometric", build_schnet),
    "tensornet": ("TensorNet", "torchmd-net", build_tensornet),
}


class PeerEnergyForces(torch.nn.Module):
    """A peer's energy, scaled like gaan's (E = per-element reference + energy_mean + energy_scale *
    net(z, pos, batch), the reference fitted on the training frames as gaan's task does), and
    forces -dE/dx."""

    def __init__(self, net: torch.nn.Module, elements: tuple[int, ...], reference: dict):
        super().__init__()
        self.net = net
        self.register_buffer("elements", torch.tensor(elements, dtype=torch.long))
        self.register_buffer("element_energies", torch.as_tensor(reference["element_energies"], dtype=torch.float64))
        self.energy_mean, self.energy_scale = reference["energy_mean"], reference["energy_scale"]

    def forward(self, batch: PointCloudBatch, create_graph: bool) -> dict[str, torch.Tensor]:
        positions = batch.positions.detach().requires_grad_(True)
        mask = batch.mask
        z = self.elements[batch.features.argmax(-1)][mask]  # one-hot -> atomic numbers of real atoms
        batch_index = torch.arange(len(batch), device=mask.device)[:, None].expand_as(mask)[mask]
        relative = self.net(z, positions[mask], batch_index).squeeze(-1) * self.energy_scale + self.energy_mean
        energy = relative.double() + reference_energy(batch.features, mask, self.elements, self.element_energies)
        (grad,) = torch.autograd.grad(energy.sum(), positions, create_graph=create_graph)
        return {"energy": energy, "forces": -grad * mask[..., None].to(grad.dtype)}


def evaluate(model: PeerEnergyForces, loader) -> dict[str, float]:
    metrics = energy_force_metrics()
    model.eval()
    for batch in loader:
        with torch.enable_grad():
            update_energy_force_metrics(metrics, model(batch, create_graph=False), batch)
    return {key: float(value) for key, value in metrics.compute().items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(PEERS), default="schnet")
    parser.add_argument("--molecule", default="ethanol")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--budget-minutes", type=float, default=20.0)
    parser.add_argument("--epochs", type=int, default=20, help="cosine schedule length (training stops at the budget)")
    parser.add_argument("--val-every", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=64, help="hidden channels (both peers)")
    parser.add_argument("--cutoff", type=float, default=5.0, help="A (both peers)")
    parser.add_argument("--filters", type=int, default=64, help="SchNet")
    parser.add_argument("--interactions", type=int, default=3, help="SchNet")
    parser.add_argument("--gaussians", type=int, default=50, help="SchNet")
    parser.add_argument("--layers", type=int, default=2, help="TensorNet interaction layers")
    parser.add_argument("--rbfs", type=int, default=32, help="TensorNet radial basis functions")
    parser.add_argument("--equivariance", choices=["O(3)", "SO(3)"], default="O(3)", help="TensorNet")
    parser.add_argument("--energy-weight", type=float, default=1.0)
    parser.add_argument("--force-weight", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.manual_seed(args.seed)

    datamodule = MD17DataModule(
        args.data_dir, molecule=args.molecule, batch_size=args.batch_size, eval_batch_size=100, shuffle_seed=args.seed
    )
    datamodule.setup("fit")
    frames = datamodule.training_reference()
    reference = fit_energy_reference(frames["numbers"], datamodule.elements, frames["energies"], frames["forces"])
    name, package, build = PEERS[args.model]
    net = build(args, datamodule.elements)
    model = PeerEnergyForces(net, datamodule.elements, reference)
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("%s: %d parameters", name, parameters)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    train_loader, val_loader = datamodule.train_dataloader(), datamodule.val_dataloader()
    budget = args.budget_minutes * 60
    started = time.perf_counter()
    train_seconds, train_frames, best, best_state, history = 0.0, 0, math.inf, None, []
    for epoch in range(args.epochs):
        train_loader.sampler.set_epoch(epoch)
        model.train()
        epoch_started = time.perf_counter()
        for batch in train_loader:
            loss = energy_force_loss(model(batch, create_graph=True), batch, args.energy_weight, args.force_weight)
            if not torch.isfinite(loss):
                raise RuntimeError(f"{name}: training loss {loss.item()} at epoch {epoch}")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            train_frames += len(batch)
            if time.perf_counter() - started > budget:
                break
        train_seconds += time.perf_counter() - epoch_started
        scheduler.step()
        out_of_time = time.perf_counter() - started > budget
        if (epoch + 1) % args.val_every == 0 or out_of_time or epoch == args.epochs - 1:
            values = evaluate(model, val_loader)
            history.append({"epoch": epoch + 1, **{f"val/{k}": v for k, v in values.items()}})
            log.info(
                "epoch %d: val force MAE %.2f meV/A, energy MAE %.2f meV (%.0f s)",
                epoch + 1,
                values["force_mae"],
                values["energy_mae"],
                time.perf_counter() - started,
            )
            if values["force_mae"] < best:
                best, best_state = values["force_mae"], {k: v.clone() for k, v in model.state_dict().items()}
        if out_of_time:
            break
    wall = time.perf_counter() - started
    model.load_state_dict(best_state)
    datamodule.setup("test")
    test = evaluate(model, datamodule.test_dataloader())
    result = {
        "model": f"{name} ({package} {version(package)})",
        "molecule": args.molecule,
        "arguments": vars(args),
        "parameters": parameters,
        "train_frames_per_second": train_frames / train_seconds,
        "train_frames": train_frames,
        "wall_seconds": wall,
        "best_val_force_mae": best,
        "test": test,
        "history": history,
        "threads": torch.get_num_threads(),
    }
    log.info(
        "test: energy MAE %.2f meV, force MAE %.2f meV/A, force cosine %.4f; %d parameters, %.1f frames/s, %.0f s",
        test["energy_mae"],
        test["force_mae"],
        test["force_cosine"],
        parameters,
        result["train_frames_per_second"],
        wall,
    )
    default_out = Path(__file__).parent / "results" / f"md17_peers_{args.model}_{args.molecule}.json"
    write_json_atomically(Path(args.out or default_out), result)


if __name__ == "__main__":
    main()
