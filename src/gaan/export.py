"""`python -m gaan.export <checkpoint> <out.pt2> [--dtype float64|float32]`: a trained md17
energy model as a `torch.export` artifact for deployment.

The file holds the energy function (positions (B, N, 3), one-hot features (B, N, E), mask
(B, N)) -> absolute energies (B,) eV, with any number of frames and atoms, and the trained atomic
numbers (extra file `gaan.json`). `load_exported` reads it with torch alone (no Lightning, no
Hydra); `gaan.ase.GAANCalculator("out.pt2")` runs it, forces by autograd through the exported
graph. The exported graph runs on the CPU in the dtype it was exported in (inputs are cast).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["ExportedEnergy", "export_checkpoint", "load_exported", "main"]

METADATA_FILE = "gaan.json"
MAX_ATOMS = 256  # the exported graph's largest molecule
DTYPES = {"float64": torch.float64, "float32": torch.float32}


class ExportedEnergy(nn.Module):
    """An exported energy graph with the atomic numbers of its feature columns. The graph is
    kept outside the module's children so `.to(dtype)` leaves its exported dtype alone."""

    def __init__(self, graph: nn.Module, atomic_numbers: list[int], dtype: torch.dtype):
        super().__init__()
        object.__setattr__(self, "graph", graph)
        self.exported_dtype = dtype
        self.register_buffer("atomic_numbers", torch.tensor(atomic_numbers, dtype=torch.long))

    def forward(self, positions: Tensor, features: Tensor, mask: Tensor) -> Tensor:
        dtype = self.exported_dtype
        return self.graph(positions.cpu().to(dtype), features.cpu().to(dtype), mask.cpu()).to(positions.device)


def export_checkpoint(ckpt_path: str | Path, out_path: str | Path, dtype: torch.dtype = torch.float64) -> Path:
    """Export a checkpoint's energy model (task=md17) to `out_path` (torch.export format)."""
    from gaan.ase import load_energy_model  # the training stack, for reading the checkpoint

    energy_model = load_energy_model(ckpt_path).to(dtype).eval().requires_grad_(False)
    atomic_numbers = [int(z) for z in energy_model.atomic_numbers.tolist()]
    atoms = min(MAX_ATOMS, 9)
    example = (
        torch.zeros(2, atoms, 3, dtype=dtype).normal_(),
        torch.eye(len(atomic_numbers), dtype=dtype)[torch.arange(atoms) % len(atomic_numbers)].expand(2, -1, -1).contiguous(),
        torch.ones(2, atoms, dtype=torch.bool),
    )
    frames_dim, atoms_dim = torch.export.Dim("frames", min=1, max=1 << 16), torch.export.Dim("atoms", min=2, max=MAX_ATOMS)
    shapes = tuple({0: frames_dim, 1: atoms_dim} for _ in example)
    program = torch.export.export(energy_model, example, dynamic_shapes=shapes)
    metadata = {"atomic_numbers": atomic_numbers, "dtype": str(dtype).removeprefix("torch."), "checkpoint": str(ckpt_path)}
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, out_path, extra_files={METADATA_FILE: json.dumps(metadata)})
    return out_path


def load_exported(path: str | Path) -> ExportedEnergy:
    """An exported file as an energy module (torch only)."""
    extra = {METADATA_FILE: ""}
    try:
        program = torch.export.load(path, extra_files=extra)
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file: name it
        raise ValueError(f"{path}: not a file written by python -m gaan.export ({type(error).__name__}: {error})") from None
    if not extra[METADATA_FILE]:
        raise ValueError(f"{path}: a torch.export file without gaan's metadata ({METADATA_FILE}); write it with python -m gaan.export")
    metadata = json.loads(extra[METADATA_FILE])
    return ExportedEnergy(program.module(), metadata["atomic_numbers"], DTYPES[metadata["dtype"]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gaan.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a checkpoint train.py wrote (task=md17)")
    parser.add_argument("out", help="the exported file to write (e.g. ethanol.pt2)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float64")
    args = parser.parse_args(argv)
    try:
        out = export_checkpoint(args.checkpoint, args.out, DTYPES[args.dtype])
    except (ValueError, FileNotFoundError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    print(f"Exported {args.checkpoint} -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
