"""Molecular dynamics the project generates itself: GFN2-xTB (tblite's ase calculator) Langevin
trajectories of a molecule given by name or SMILES (RDKit embedding), cached with provenance
and sha256 checksums.

Recipe (issue 22): Langevin at 500 K, dt 0.5 fs, one frame every 10 steps; train, validation
and test frames come from separate trajectories, each started from its own RDKit embedding
with its own seed, because neighbouring frames of one trajectory are nearly identical. Each
trajectory first runs `equilibration_steps` that are not recorded (the embedding is far from
a 500 K configuration). Units: eV, eV/A, A (ase's).

Cache: ``<data_dir>/xtb_md/<molecule>-<recipe digest>/`` holds ``<split>.npz`` (numbers,
positions, energies, forces) and ``<split>.json`` (its sha256 checksums and provenance); a
split whose files exist and match is not regenerated, so an interrupted generation resumes
at the split it was in. Run ``python -m gaan.tasks.md17.xtb_dynamics --molecule aspirin`` to
generate ahead of training; progress is logged as one line per `log_every` frames.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import ase
import numpy as np
from ase import Atoms, units
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation
from rdkit import Chem
from rdkit.Chem import AllChem
from tblite.ase import TBLite

from gaan.data.checksums import CacheError, load_arrays, read_manifest, save_arrays
from gaan.files import write_atomically

__all__ = [
    "MOLECULE_SMILES",
    "XTB_SPLITS",
    "XTBDynamicsRecipe",
    "embed_smiles",
    "load_or_generate_xtb_dynamics",
    "run_langevin",
    "xtb_calculator",
    "xtb_energy_and_forces",
]

log = logging.getLogger(__name__)

MOLECULE_SMILES = {
    "ethanol": "CCO",
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "benzene": "c1ccccc1",
    "uracil": "O=C1C=CNC(=O)N1",
    "toluene": "Cc1ccccc1",
    "malonaldehyde": "O=CCC=O",
    "naphthalene": "c1ccc2ccccc2c1",
    "salicylic": "O=C(O)c1ccccc1O",
    "paracetamol": "CC(=O)Nc1ccc(O)cc1",
    "azobenzene": "c1ccc(cc1)N=Nc1ccccc1",
}
XTB_SPLITS = ("train", "val", "test")
_PACKAGES = ("tblite", "ase", "rdkit", "numpy")


@dataclass(frozen=True)
class XTBDynamicsRecipe:
    """Everything that determines a generated data set (its digest names the cache folder)."""

    molecule: str = "ethanol"  # a name from MOLECULE_SMILES, or any SMILES
    method: str = "GFN2-xTB"
    temperature_K: float = 500.0
    timestep_fs: float = 0.5
    steps_per_frame: int = 10
    friction_per_fs: float = 0.01
    equilibration_steps: int = 1000
    frames: dict = field(default_factory=lambda: {"train": 1000, "val": 1000, "test": 3000})
    seeds: dict = field(default_factory=lambda: {"train": 1, "val": 2, "test": 3})

    def __post_init__(self):
        # plain ints (a Hydra DictConfig or numpy ints would change the digest or not serialise)
        for name in ("frames", "seeds"):
            object.__setattr__(self, name, {str(k): int(v) for k, v in dict(getattr(self, name)).items()})
        for name in ("temperature_K", "timestep_fs", "friction_per_fs"):
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("steps_per_frame", "equilibration_steps"):
            object.__setattr__(self, name, int(getattr(self, name)))
        if set(self.frames) != set(XTB_SPLITS) or set(self.seeds) != set(XTB_SPLITS):
            raise ValueError(
                f"recipe.frames and recipe.seeds need exactly the keys {XTB_SPLITS}, got {sorted(self.frames)} / {sorted(self.seeds)}"
            )
        if any(int(n) < 1 for n in self.frames.values()):
            raise ValueError(f"recipe.frames must be positive, got {self.frames}")
        if len(set(self.seeds.values())) != len(XTB_SPLITS):
            raise ValueError(f"recipe.seeds must differ between splits (separate trajectories), got {self.seeds}")
        if self.temperature_K <= 0 or self.timestep_fs <= 0 or self.steps_per_frame < 1 or self.equilibration_steps < 0:
            raise ValueError(f"recipe: temperature_K, timestep_fs, steps_per_frame must be positive, got {asdict(self)}")
        _ = self.smiles  # raises for an unknown name or invalid SMILES

    @property
    def smiles(self) -> str:
        smiles = MOLECULE_SMILES.get(self.molecule, self.molecule)
        if Chem.MolFromSmiles(smiles) is None:
            raise ValueError(f"recipe.molecule={self.molecule!r} is neither a known name ({sorted(MOLECULE_SMILES)}) nor a valid SMILES")
        return smiles

    @property
    def label(self) -> str:
        """A file-system-safe name: the molecule's name, or 'smiles' for a raw SMILES."""
        return self.molecule if self.molecule in MOLECULE_SMILES else "smiles"

    def digest(self) -> str:
        payload = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:12]


def embed_smiles(smiles: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """3-D coordinates (with hydrogens) of a SMILES from RDKit's ETKDG and an MMFF relaxation.

    Returns atomic numbers (n,) int64 and positions (n, 3) float64 in A.
    """
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse SMILES {smiles!r}")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise RuntimeError(f"RDKit could not embed {smiles!r} in 3-D (seed {seed})")
    AllChem.MMFFOptimizeMolecule(mol)
    numbers = np.array([atom.GetAtomicNum() for atom in mol.GetAtoms()], dtype=np.int64)
    return numbers, mol.GetConformer().GetPositions().astype(np.float64)


def xtb_calculator(method: str = "GFN2-xTB", accuracy: float = 1.0) -> TBLite:
    """tblite's ASE calculator. `accuracy` scales its SCF convergence thresholds: at the default
    1.0 the forces are not quite the energy's gradient (an NVE run of ethanol drifts 0.1-0.3
    meV/atom/ps whatever the time step); at 0.01 they are, to the integrator's error."""
    return TBLite(method=method, verbosity=0, accuracy=accuracy)


def xtb_energy_and_forces(numbers: np.ndarray, positions: np.ndarray, method: str = "GFN2-xTB") -> tuple[float, np.ndarray]:
    """One single-point calculation: energy (eV) and forces (n, 3) (eV/A)."""
    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.calc = xtb_calculator(method)
    return float(atoms.get_potential_energy()), atoms.get_forces().copy()


def run_langevin(
    numbers: np.ndarray,
    positions: np.ndarray,
    recipe: XTBDynamicsRecipe,
    seed: int,
    num_frames: int,
    *,
    log_every: int = 100,
    name: str = "",
) -> dict[str, np.ndarray]:
    """A Langevin trajectory: `recipe.equilibration_steps` unrecorded steps, then `num_frames`
    frames, one every `recipe.steps_per_frame` steps.

    Returns positions (F, n, 3), energies (F,) and forces (F, n, 3), float64, eV and eV/A.
    """
    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.calc = xtb_calculator(recipe.method)
    rng = np.random.RandomState(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=recipe.temperature_K, rng=rng)
    Stationary(atoms)
    ZeroRotation(atoms)
    # the centre of mass stays put through a constraint (ase's recommended form of fixcm);
    # recorded forces are the calculator's, not the constrained ones
    atoms.set_constraint(FixCom())
    dynamics = Langevin(
        atoms,
        timestep=recipe.timestep_fs * units.fs,
        temperature_K=recipe.temperature_K,
        friction=recipe.friction_per_fs / units.fs,
        fixcm=False,
        rng=rng,
    )
    if recipe.equilibration_steps:
        dynamics.run(recipe.equilibration_steps)
    n = len(numbers)
    out = {
        "positions": np.empty((num_frames, n, 3)),
        "energies": np.empty(num_frames),
        "forces": np.empty((num_frames, n, 3)),
    }
    started = time.perf_counter()
    for frame in range(num_frames):
        dynamics.run(recipe.steps_per_frame)
        # the calculator caches the last step's results: these two calls cost nothing
        out["positions"][frame] = atoms.get_positions()
        out["energies"][frame] = atoms.get_potential_energy()
        out["forces"][frame] = atoms.get_forces(apply_constraint=False)
        if not (np.isfinite(out["energies"][frame]) and np.isfinite(out["forces"][frame]).all()):
            raise RuntimeError(f"{name}: xTB returned a non-finite energy or force at frame {frame} (seed {seed})")
        done = frame + 1
        if done % log_every == 0 or done == num_frames:
            elapsed = time.perf_counter() - started
            log.info(
                "%s: %d/%d frames, %.0f s elapsed, ~%.0f s left, T = %.0f K",
                name,
                done,
                num_frames,
                elapsed,
                elapsed / done * (num_frames - done),
                atoms.get_temperature(),
            )
    return out


def _versions() -> dict[str, str]:
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "unknown"
    versions["ase"] = ase.__version__
    return versions


def cache_dir(data_dir: str | Path, recipe: XTBDynamicsRecipe) -> Path:
    return Path(data_dir) / "xtb_md" / f"{recipe.label}-{recipe.digest()}"


def _load_split(folder: Path, split: str, recipe: XTBDynamicsRecipe) -> dict[str, np.ndarray] | None:
    """The cached split, None when it was never completed; raises CacheError when corrupt."""
    data_path, meta_path = folder / f"{split}.npz", folder / f"{split}.json"
    if not meta_path.is_file():
        return None  # the metadata is written last: without it the split is incomplete
    remedy = f"delete {folder} to regenerate"
    meta = read_manifest(meta_path, remedy)
    if meta.get("recipe") != asdict(recipe):
        raise CacheError(f"{meta_path} records another recipe than requested; {remedy}")
    return load_arrays(data_path, meta["checksums"], meta_path, remedy)


def load_or_generate_xtb_dynamics(
    data_dir: str | Path, recipe: XTBDynamicsRecipe, *, splits: tuple[str, ...] = XTB_SPLITS, log_every: int = 100
) -> dict[str, dict[str, np.ndarray]]:
    """The `splits` of `recipe` (numbers, positions, energies, forces), each generated on a miss.

    Verifies the sha256 of every cached array; a corrupt file raises CacheError naming it.
    """
    unknown = set(splits) - set(XTB_SPLITS)
    if unknown:
        raise ValueError(f"unknown split(s) {sorted(unknown)}; expected some of {XTB_SPLITS}")
    folder = cache_dir(data_dir, recipe)
    out = {}
    for split in splits:
        arrays = _load_split(folder, split, recipe)
        if arrays is None:
            seed = int(recipe.seeds[split])
            frames = int(recipe.frames[split])
            log.info(
                "generating %s %s frames of %s (%s, %s K, dt %s fs, a frame every %d steps, seed %d) into %s",
                frames,
                split,
                recipe.molecule,
                recipe.method,
                recipe.temperature_K,
                recipe.timestep_fs,
                recipe.steps_per_frame,
                seed,
                folder,
            )
            started = time.perf_counter()
            numbers, positions = embed_smiles(recipe.smiles, seed)
            trajectory = run_langevin(numbers, positions, recipe, seed, frames, log_every=log_every, name=f"{recipe.label} {split}")
            arrays = {"numbers": numbers, **trajectory}
            folder.mkdir(parents=True, exist_ok=True)
            checksums = save_arrays(folder / f"{split}.npz", arrays)
            meta = {
                "recipe": asdict(recipe),
                "smiles": recipe.smiles,
                "split": split,
                "seed": seed,
                "units": {"positions": "angstrom", "energies": "eV", "forces": "eV/angstrom"},
                "versions": _versions(),
                "generation_seconds": round(time.perf_counter() - started, 1),
                "checksums": checksums,
            }
            write_atomically(folder / f"{split}.json", json.dumps(meta, indent=2, sort_keys=True))
            log.info("%s %s: %d frames in %.0f s", recipe.label, split, frames, meta["generation_seconds"])
        out[split] = arrays
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate (or verify) the GFN2-xTB Langevin data set of a molecule.")
    parser.add_argument("--molecule", default="ethanol", help=f"one of {sorted(MOLECULE_SMILES)} or a SMILES")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--log-every", type=int, default=100)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    data = load_or_generate_xtb_dynamics(args.data_dir, XTBDynamicsRecipe(molecule=args.molecule), log_every=args.log_every)
    for split, arrays in data.items():
        log.info("%s: %d frames of %d atoms", split, len(arrays["energies"]), len(arrays["numbers"]))


if __name__ == "__main__":
    main()
