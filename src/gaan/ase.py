"""`GAANCalculator`: a trained gaan energy model as an ASE calculator.

    from gaan.ase import GAANCalculator
    atoms.calc = GAANCalculator("logs/md17/runs/<ts>/checkpoints/best-epoch042.ckpt")
    atoms.calc = GAANCalculator("ethanol")                  # gaan/pretrained/md17_ethanol.ckpt
    atoms.calc = GAANCalculator(["a.ckpt", "b.ckpt"])       # ensemble: results["forces_std"]
    atoms.calc = GAANCalculator("ethanol.pt")               # exported with python -m gaan.export

Energies are absolute (eV; the checkpoint stores its per-element reference energies) and
forces are -dE/dx (eV/A), for any molecule of the elements the model was trained on; an atom
of another element is an error naming it. Exported files (`gaan.export`) load without gaan's
training stack (no Lightning import).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from pathlib import Path

import torch

from gaan.models.molecular_potential import MolecularPotential
from gaan.models.potential_calculator import PotentialCalculator

__all__ = ["GAANCalculator", "load_energy_model", "resolve_model_path", "shipped_potentials"]

EXPORTED_SUFFIXES = (".pt2",)


def pretrained_dir() -> Path:
    """Where shipped potentials live: `gaan/pretrained/md17_<name>.ckpt`."""
    return Path(str(importlib.resources.files("gaan") / "pretrained"))


def shipped_potentials(directory: Path | None = None) -> list[str]:
    """Names of the shipped md17 potentials ("ethanol", ...)."""
    directory = pretrained_dir() if directory is None else directory
    return sorted(p.stem.removeprefix("md17_") for p in directory.glob("md17_*.ckpt"))


def resolve_model_path(model: str | Path, directory: Path | None = None) -> Path:
    """A file path as given, or a shipped potential's name ("ethanol") as its checkpoint."""
    path = Path(model)
    if path.is_file():
        return path
    if path.suffix or len(path.parts) > 1:
        raise FileNotFoundError(f"{model}: no such model file (a checkpoint train.py wrote, or a file python -m gaan.export wrote)")
    directory = pretrained_dir() if directory is None else directory
    shipped = directory / f"md17_{model}.ckpt"
    if not shipped.is_file():
        names = shipped_potentials(directory)
        raise FileNotFoundError(
            f"{model!r}: no such model file and no shipped potential of that name "
            f"(shipped in {directory}: {', '.join(names) if names else 'none'})"
        )
    return shipped


def load_energy_model(path: str | Path) -> torch.nn.Module:
    """The energy module of a checkpoint (train.py, task=md17) or of an exported file."""
    path = Path(path)
    if path.suffix in EXPORTED_SUFFIXES:
        from gaan.export import load_exported

        return load_exported(path)
    from gaan.checkpoints import CheckpointError, load_trained_module  # the training stack: only for checkpoints

    module = load_trained_module(path)
    if not hasattr(module, "molecular_energy"):
        task = getattr(module, "run_config", None) or {}
        raise CheckpointError(f"{path}: not an energy model (trained on task={task.get('task', {}).get('name')}); train one with task=md17")
    return module.molecular_energy()


class GAANCalculator(PotentialCalculator):
    """ASE calculator of one trained gaan energy model or an ensemble of several.

    :param model: a checkpoint or exported file, a shipped potential's name ("ethanol"), or a
        list of these (an ensemble: mean energy and forces; `results["forces_std"]`, the members'
        spread of each atom's force in eV/A, and `results["energy_std"]`)
    :param device: "cpu" (default), "cuda", ...
    :param dtype: torch.float64 (default) or torch.float32
    """

    def __init__(
        self,
        model: str | Path | Sequence[str | Path],
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float64,
        **kwargs,
    ):
        names = [model] if isinstance(model, (str, Path)) else list(model)
        self.model_paths = [resolve_model_path(name) for name in names]
        members = [load_energy_model(path) for path in self.model_paths]
        super().__init__(MolecularPotential(members, dtype=dtype, device=device), **kwargs)

    @property
    def elements(self) -> tuple[int, ...]:
        """Atomic numbers the model was trained on (every member of an ensemble)."""
        return self.potential.elements
