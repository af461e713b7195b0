"""`python -m gaan.export <checkpoint> <out.pt2> [--dtype float64|float32]`: a trained md17
energy model as a `torch.export` artifact for deployment.

The file holds the energy function (positions (B, N, 3), one-hot features (B, N, E), mask
(B, N)) -> absolute energies (B,) eV, with any number of frames and atoms, and the trained atomic
numbers (extra file `gaan.json`). Models whose view picks the k nearest atoms or gives every atom
its own view of the whole molecule (the md17 presets) trace to one molecule size: export them with
`--atoms N` (e.g. 9 for ethanol); the file then
refuses other sizes with a message naming both. `load_exported` reads it with torch alone (no Lightning, no
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

    def __init__(self, graph: nn.Module, atomic_numbers: list[int], dtype: torch.dtype, atoms: int | None = None):
        super().__init__()
        object.__setattr__(self, "graph", graph)
        self.exported_dtype = dtype
        self.atoms = atoms
        self.register_buffer("atomic_numbers", torch.tensor(atomic_numbers, dtype=torch.long))

    def forward(self, positions: Tensor, features: Tensor, mask: Tensor) -> Tensor:
        if self.atoms is not None and positions.shape[1] != self.atoms:
            raise ValueError(
                f"this exported model was traced for molecules of {self.atoms} atoms (python -m gaan.export --atoms), "
                f"got {positions.shape[1]}; export it again with --atoms {positions.shape[1]} or use the checkpoint"
            )
        dtype = self.exported_dtype
        return self.graph(positions.cpu().to(dtype), features.cpu().to(dtype), mask.cpu()).to(positions.device)


def export_checkpoint(ckpt_path: str | Path, out_path: str | Path, dtype: torch.dtype = torch.float64, atoms: int | None = None) -> Path:
    """Export a checkpoint's energy model (task=md17) to `out_path` (torch.export format), for
    any molecule size, or for molecules of `atoms` atoms only."""
    from gaan.ase import load_energy_model  # the training stack, for reading the checkpoint

    energy_model = load_energy_model(ckpt_path).to(dtype).eval().requires_grad_(False)
    atomic_numbers = [int(z) for z in energy_model.atomic_numbers.tolist()]
    size = 9 if atoms is None else atoms
    example = (
        torch.zeros(2, size, 3, dtype=dtype).normal_(),
        torch.eye(len(atomic_numbers), dtype=dtype)[torch.arange(size) % len(atomic_numbers)].expand(2, -1, -1).contiguous(),
        torch.ones(2, size, dtype=torch.bool),
    )
    frames_dim = torch.export.Dim("frames", min=1, max=1 << 16)
    atoms_dim = torch.export.Dim("atoms", min=2, max=MAX_ATOMS) if atoms is None else None
    shapes = tuple({0: frames_dim, 1: atoms_dim} if atoms_dim is not None else {0: frames_dim} for _ in example)
    try:
        program = torch.export.export(energy_model, example, dynamic_shapes=shapes)
    except Exception as error:  # noqa: BLE001 - torch's trace errors have many classes
        # torch says "specialized" (k nearest atoms) or "Constraints violated" (the whole molecule's
        # per-atom frames) when the trace holds for one molecule size only
        if atoms is None and ("specialized" in str(error) or "Constraints violated" in str(error)):
            raise ValueError(
                f"{ckpt_path}: this model's view (the k nearest atoms, or every atom's view of the whole molecule) "
                "traces to one molecule size: export it for your molecule with --atoms N (e.g. --atoms 9 for ethanol)"
            ) from None
        raise
    metadata = {
        "atomic_numbers": atomic_numbers,
        "dtype": str(dtype).removeprefix("torch."),
        "checkpoint": str(ckpt_path),
        "atoms": atoms,
    }
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
    return ExportedEnergy(program.module(), metadata["atomic_numbers"], DTYPES[metadata["dtype"]], metadata.get("atoms"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gaan.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a checkpoint train.py wrote (task=md17)")
    parser.add_argument("out", help="the exported file to write (e.g. ethanol.pt2)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float64")
    parser.add_argument("--atoms", type=int, default=None, help="trace for molecules of this many atoms only (k-nearest views)")
    args = parser.parse_args(argv)
    try:
        out = export_checkpoint(args.checkpoint, args.out, DTYPES[args.dtype], args.atoms)
    except (ValueError, FileNotFoundError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    print(f"Exported {args.checkpoint} -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
