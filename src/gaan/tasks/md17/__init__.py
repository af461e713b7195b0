"""task=md17: a molecule's energy and forces.

The data module (`datamodule`), its files (`molecule_files`: rMD17 / MD17 / extxyz readers;
`xtb_dynamics`: the GFN2-xTB trajectories the project generates), the task module
(`energy_forces.EnergyForceTask`, with the per-element reference of `energy_reference` and the NVE
check of `nve_check`) and the evaluation on a data file (`file_evaluation`, `python eval.py
task=md17 ckpt_path=... data=...`). The deployment tools, the ASE calculator (`gaan.ase`) and the
`torch.export` artifact (`python -m gaan.export`), stay top-level: they import without Lightning,
which `gaan.tasks` loads.
"""
