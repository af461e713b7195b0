"""The md17 NVE check run on the reference surface itself: GFN2-xTB's own energy drift.

The md17 task judges a trained potential by the drift of its total energy in 1 ps of velocity
Verlet (`gaan.tasks.md17.nve_check`, `val/nve_drift_max` from two validation frames,
`test/nve_drift` from the first test frame). A model's forces are exact gradients, so its drift is
the integrator's O(dt^2) error on its surface, and the better a model fits, the closer that
error comes to the one the true surface gives. This runs the same protocol (same start frames,
velocities, steps) with the xTB calculator that generated the data, at the task's time step and
at smaller ones, so a model's drift can be read against what a perfect fit would show. The SCF is
converged tightly (`--accuracy 0.01`): at the data's default the forces are not quite the
energy's gradient and xTB drifts through that, whatever the time step.

    OMP_NUM_THREADS=1 python bench/md17_reference_drift.py [task.datamodule.molecule=ethanol ...] [--timesteps 0.5 0.25] [--accuracy 0.01]

Overrides go before --timesteps, which takes every number after it.

Writes bench/results/md17_reference_drift_<molecule>.json (whole or not at all).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from hydra.utils import instantiate

from gaan.files import write_atomically
from gaan.tasks.md17.datamodule import NVE_TEST_FRAME
from gaan.tasks.md17.nve_check import NVEBlowUp, nve_energy_drift
from gaan.tasks.md17.xtb_dynamics import xtb_calculator
from gaan.train import compose_config

ROOT = Path(__file__).resolve().parents[1]


def reference_drifts(overrides: list[str], timesteps_fs: list[float], accuracy: float) -> dict:
    """xTB's NVE drift from the task's start frames (the validation frames of `val/nve_drift_max`
    and the test frame of `test/nve_drift`) for each time step, over the task's 1 ps, its SCF
    converged to `accuracy` (tblite's scale: below 1.0 is tighter than the data's). `overrides`
    are train.py's (task.datamodule.molecule=..., paths.data_dir=..., task.module.nve_steps=...)."""
    cfg = compose_config(["task=md17", *overrides])
    if cfg.task.datamodule.source != "xtb":
        raise ValueError(f"task.datamodule.source={cfg.task.datamodule.source!r}: the reference drift needs the generated xTB data")
    datamodule = instantiate(cfg.task.datamodule)
    datamodule.prepare_data()
    module = cfg.task.module
    duration_fs = module.nve_steps * module.nve_timestep_fs
    starts = [("val", frame) for frame in datamodule.nve_frames("val", module.nve_val_starts)] + [("test", NVE_TEST_FRAME)]
    runs = []
    for timestep in timesteps_fs:
        for split, frame in starts:
            start = datamodule.nve_start(frame, split=split)
            began = time.perf_counter()
            run = {"split": split, "frame": frame, "timestep_fs": timestep, "steps": round(duration_fs / timestep)}
            try:
                result = nve_energy_drift(
                    xtb_calculator(accuracy=accuracy),
                    start["numbers"],
                    start["positions"],
                    steps=run["steps"],
                    timestep_fs=timestep,
                    temperature_K=module.nve_temperature_K,
                )
                run.update({k: v for k, v in result.items() if k != "total_energy_ev"})
            except NVEBlowUp as blowup:
                run["blowup_step"] = blowup.step
            run["seconds"] = round(time.perf_counter() - began, 1)
            print(json.dumps(run), flush=True)
            runs.append(run)
    return {
        "molecule": cfg.task.datamodule.molecule,
        "overrides": list(overrides),
        "method": "GFN2-xTB (tblite, the data's generator)",
        "scf_accuracy": accuracy,
        "temperature_K": module.nve_temperature_K,
        "duration_fs": duration_fs,
        "task_timestep_fs": module.nve_timestep_fs,
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "overrides", nargs="*", help="train.py overrides, e.g. task.datamodule.molecule=aspirin paths.data_dir=... (before --timesteps)"
    )
    parser.add_argument("--timesteps", type=float, nargs="+", default=[0.5, 0.25])
    parser.add_argument(
        "--accuracy", type=float, default=0.01, help="tblite SCF accuracy (1.0 = the data's; 0.01 makes the forces the energy's gradient)"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    result = reference_drifts(args.overrides, args.timesteps, args.accuracy)
    out = args.out or ROOT / f"bench/results/md17_reference_drift_{result['molecule']}.json"
    write_atomically(out, (json.dumps(result, indent=1) + "\n").encode())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
