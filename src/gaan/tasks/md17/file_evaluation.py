"""`python eval.py task=md17 ckpt_path=<file> data=<file>`: a trained energy model (or an
ensemble) tested on every frame of a data file, without a Trainer or a data module.

The file is read by `gaan.tasks.md17.molecule_files.read_molecule_frames` (MD17 / rMD17 .npz, or
anything ase.io reads with energies and forces: extended XYZ, ASE .traj, ...). Features come
from the atoms' atomic numbers and the elements stored in the checkpoint; energies are absolute
(the checkpoint's per-element reference), so nothing is refitted on the file. Writes
`predictions.npz` (per frame: predicted and reference energy and forces, errors; `forces_std`
for an ensemble) and `metrics.json` (energy and force MAE in meV and meV/A) to the output folder.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from gaan.models.molecular_potential import MolecularPotential
from gaan.tasks.md17.molecule_files import read_molecule_frames

log = logging.getLogger("gaan.eval")

MILLI = 1000.0  # eV -> meV


def file_metrics(predicted: dict[str, np.ndarray], frames: dict[str, np.ndarray]) -> dict[str, float]:
    """energy_mae (meV), force_mae (meV/A, over components), force_cosine (mean over atoms)."""
    force_error = predicted["forces"] - frames["forces"]
    norms = np.linalg.norm(predicted["forces"], axis=-1) * np.linalg.norm(frames["forces"], axis=-1)
    cosine = (predicted["forces"] * frames["forces"]).sum(-1) / np.maximum(norms, 1e-12)
    return {
        "test/energy_mae": float(np.abs(predicted["energy"] - frames["energies"]).mean() * MILLI),
        "test/force_mae": float(np.abs(force_error).mean() * MILLI),
        "test/force_cosine": float(cosine.mean()),
    }


def evaluate_file(
    data_path: str | Path, modules: Sequence, output_dir: str | Path, dtype: torch.dtype = torch.float64, batch_size: int = 64
) -> dict[str, float]:
    """Test every frame of `data_path` with trained energy task modules (their mean for several);
    returns the metrics and writes predictions.npz and metrics.json to `output_dir`."""
    data_path, output_dir = Path(data_path), Path(output_dir)
    frames = read_molecule_frames(data_path)
    potential = MolecularPotential([module.molecular_energy() for module in modules], dtype=dtype)
    predicted = potential.predict(frames["numbers"], frames["positions"], where=str(data_path), batch_size=batch_size)
    metrics = file_metrics(predicted, frames)
    output_dir.mkdir(parents=True, exist_ok=True)
    extra = {"forces_std": predicted["forces_std"], "energy_std": predicted["energy_std"]} if "forces_std" in predicted else {}
    np.savez(
        output_dir / "predictions.npz",
        numbers=frames["numbers"],
        positions=frames["positions"],
        energy=predicted["energy"],
        forces=predicted["forces"],
        energy_reference=frames["energies"],
        forces_reference=frames["forces"],
        energy_error=predicted["energy"] - frames["energies"],
        **extra,
    )
    (output_dir / "metrics.json").write_text(
        json.dumps({"data": str(data_path), "frames": len(frames["energies"]), "units": "meV, meV/A", **metrics}, indent=2) + "\n"
    )
    log.info("Tested every frame of %s (%d frames)", data_path, len(frames["energies"]))
    log.info("Final metrics: %s", ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items())))
    log.info("Per-frame predictions in %s", output_dir / "predictions.npz")
    log.info("Outputs in %s", output_dir)
    return metrics
