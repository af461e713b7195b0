"""task=md17: a molecule's energy and forces, from the project's GFN2-xTB dynamics (default,
offline) or from the public revised MD17 / original MD17 files a user downloads.

Every sample is one frame: positions (n, 3) in A, features = one-hot of the atom's element
over `elements` (atomic numbers; by default the molecule's own, sorted; a trained model's when
evaluating it), targets `energy` (absolute, eV, float64) and `forces` (n, 3) in eV/A. The task
fits its per-element reference energies on `training_reference()` once, and keeps them.

Splits (issue 22's protocol): `num_train` training and `num_val` validation frames, the rest
(or `num_test`) for testing, seeded by `split_seed`.
- source=xtb: train, validation and test frames come from three separate trajectories
  (gaan.tasks.md17.xtb_dynamics); `num_train` / `num_val` frames are drawn from their trajectory.
- source=rmd17: `rmd17_<molecule>.npz` (nuclear_charges, coords, energies, forces in
  kcal/mol and kcal/mol/A). With the archive's `splits/index_train_0K.csv` and
  `index_test_0K.csv` next to the npz folder, training and test frames are official split K
  (`rmd17_split`, 1-5) and validation frames are drawn from the remaining ones.
- source=md17: `<molecule>_dft.npz` (z, R, E, F in kcal/mol, kcal/mol/A).
- source=ase: `path` is any file ase.io reads with energies and forces (extended XYZ, ASE
  .traj; eV, eV/A), or an MD17 / rMD17 .npz (`gaan.tasks.md17.molecule_files`); seeded splits.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rdkit import Chem

from gaan.data.base import ListDataset, PointCloudDataModule, require_path
from gaan.elements import element_one_hot
from gaan.tasks.md17.molecule_files import KCAL_PER_MOL_IN_EV, MD17FormatError, load_md17, load_rmd17, read_molecule_frames, read_npz
from gaan.tasks.md17.xtb_dynamics import XTB_SPLITS, XTBDynamicsRecipe, load_or_generate_xtb_dynamics

__all__ = [
    "KCAL_PER_MOL_IN_EV",
    "MD17DataModule",
    "MD17FormatError",
    "load_md17",
    "load_rmd17",
    "load_rmd17_split",
]

log = logging.getLogger(__name__)

RMD17_URL = "https://doi.org/10.6084/m9.figshare.12672038 (rmd17.tar.bz2)"
MD17_URL = "http://www.sgdml.org/#datasets (http://quantum-machine.org/gdml/data/npz/<molecule>_dft.npz)"
SOURCES = ("xtb", "rmd17", "md17", "ase")
# the frame of the test split that `test/nve_drift` starts from
NVE_TEST_FRAME = 0


def _read_index_file(path: Path, num_frames: int) -> np.ndarray:
    indices = []
    for line_number, line in enumerate(path.read_text().splitlines(), 1):
        for field in line.replace(",", " ").split():
            try:
                index = int(float(field))
            except ValueError:
                raise MD17FormatError(f"{path}, line {line_number}: {field!r} is not a frame index") from None
            if not 0 <= index < num_frames or index != float(field):
                raise MD17FormatError(f"{path}, line {line_number}: index {field} is outside the file's {num_frames} frames")
            indices.append(index)
    if not indices:
        raise MD17FormatError(f"{path}: no indices")
    if len(set(indices)) != len(indices):
        raise MD17FormatError(f"{path}: repeated indices")
    return np.array(indices, dtype=np.int64)


def rmd17_split_dir(npz_path: str | Path) -> Path | None:
    """The archive's `splits/` folder for an npz at `rmd17/npz_data/rmd17_<m>.npz` (or next to it)."""
    npz_path = Path(npz_path)
    for candidate in (npz_path.parent.parent / "splits", npz_path.parent / "splits"):
        if candidate.is_dir():
            return candidate
    return None


def load_rmd17_split(split_dir: str | Path, split: int, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Official rMD17 split `split` (1-5): (train indices, test indices), 0-based frame indices,
    from `index_train_0K.csv` / `index_test_0K.csv` (one index per line)."""
    if not 1 <= split <= 5:
        raise ValueError(f"datamodule.rmd17_split must be 1..5 (the archive's five splits), got {split}")
    split_dir = Path(split_dir)
    train = _read_index_file(
        require_path(split_dir / f"index_train_0{split}.csv", f"It ships in the rMD17 archive, {RMD17_URL}."), num_frames
    )
    test = _read_index_file(
        require_path(split_dir / f"index_test_0{split}.csv", f"It ships in the rMD17 archive, {RMD17_URL}."), num_frames
    )
    if np.intersect1d(train, test).size:
        raise MD17FormatError(f"{split_dir}: split {split} has frames in both its train and test index files")
    return train, test


# ---- the datamodule ----------------------------------------------------------------------------


class MD17DataModule(PointCloudDataModule):
    """Energies and forces of one molecule's frames (see the module docstring for the sources).

    `recipe` overrides fields of `XTBDynamicsRecipe` (source=xtb; `molecule` is taken from
    `molecule`); `path` points at the real data file (default: `<data_dir>/rmd17/npz_data/
    rmd17_<molecule>.npz` or `<data_dir>/md17/<molecule>_dft.npz`). `split_fractions` is ignored.
    """

    name = "md17"
    per_point_targets = ("forces",)
    covariant_targets = ("forces",)

    def __init__(
        self,
        data_dir: str,
        molecule: str = "ethanol",
        source: str = "xtb",
        path: str | None = None,
        num_train: int = 1000,
        num_val: int = 1000,
        num_test: int | None = None,
        rmd17_split: int = 1,
        recipe: dict | None = None,
        elements: list[int] | None = None,
        **kwargs,
    ):
        super().__init__(data_dir, **kwargs)
        if source not in SOURCES:
            raise ValueError(f"datamodule.source must be one of {SOURCES}, got {source!r}")
        for key, value in (("num_train", num_train), ("num_val", num_val)):
            if int(value) < 1:
                raise ValueError(f"datamodule.{key} must be >= 1, got {value}")
        if num_test is not None and int(num_test) < 1:
            raise ValueError(f"datamodule.num_test must be >= 1 or null (all remaining frames), got {num_test}")
        self.molecule, self.source = molecule, source
        self.num_train, self.num_val = int(num_train), int(num_val)
        self.num_test = None if num_test is None else int(num_test)
        self.rmd17_split = int(rmd17_split)
        self.recipe = None
        if source == "xtb":
            fields = dict(recipe or {})
            fields["molecule"] = molecule
            defaults = XTBDynamicsRecipe()
            for name in ("frames", "seeds"):  # a partial override keeps the other splits' values
                fields[name] = {**getattr(defaults, name), **dict(fields.get(name) or {})}
            try:
                self.recipe = XTBDynamicsRecipe(**fields)
            except TypeError as err:
                raise ValueError(f"datamodule.recipe: {err}") from None
        if source == "ase" and not path:
            raise ValueError("datamodule.source=ase needs datamodule.path=<file> (any file ase.io reads with energies and forces)")
        self.path = Path(path) if path else self._default_path()
        self._file_frames: dict[str, np.ndarray] | None = None
        # a trained model's elements (eval.py passes the checkpoint's), else the molecule's own
        self.elements = tuple(int(z) for z in elements) if elements else self._elements()

    # ---- locations -----------------------------------------------------------------------
    def _default_path(self) -> Path | None:
        if self.source == "rmd17":
            return self.data_dir / "rmd17" / "npz_data" / f"rmd17_{self.molecule}.npz"
        if self.source == "md17":
            stem = "benzene2017" if self.molecule == "benzene" else self.molecule
            return self.data_dir / "md17" / f"{stem}_dft.npz"
        return None

    def _require_file(self) -> Path:
        if self.source == "rmd17":
            how = (
                f"Download the revised MD17 archive from {RMD17_URL}, unpack it into {self.data_dir} "
                f"(giving {self.data_dir}/rmd17/npz_data/rmd17_<molecule>.npz and {self.data_dir}/rmd17/splits/), "
                "or set task.datamodule.path=<file>."
            )
        elif self.source == "md17":
            how = f"Download it from {MD17_URL} into {self.data_dir}/md17/, or set task.datamodule.path=<file>."
        else:
            how = "Pass task.datamodule.path=<file> (any file ase.io reads with energies and forces, or an MD17 / rMD17 .npz)."
        return require_path(self.path, how)

    def _elements(self) -> tuple[int, ...]:
        """The one-hot vocabulary: the molecule's elements (known before any data is loaded,
        because the model is built before `setup`)."""
        if self.source == "xtb":
            mol = Chem.AddHs(Chem.MolFromSmiles(self.recipe.smiles))
            return tuple(sorted({atom.GetAtomicNum() for atom in mol.GetAtoms()}))
        path = self._require_file()
        if self.source == "ase":
            return tuple(sorted(set(self._read_file()["numbers"].tolist())))
        key = "nuclear_charges" if self.source == "rmd17" else "z"
        return tuple(sorted(set(read_npz(path, (key,))[key].astype(int).reshape(-1).tolist())))

    def _read_file(self) -> dict[str, np.ndarray]:
        """Every frame of the data file (read once)."""
        if self._file_frames is None:
            path = self._require_file()
            loaders = {"rmd17": load_rmd17, "md17": load_md17, "ase": read_molecule_frames}
            self._file_frames = loaders[self.source](path)
        return self._file_frames

    @property
    def num_features(self) -> int:
        return len(self.elements)

    def cache_key(self) -> dict[str, Any]:
        return {"source": self.source, "molecule": self.molecule, "recipe": None if self.recipe is None else self.recipe.digest()}

    # ---- data ----------------------------------------------------------------------------
    # splits each stage needs (the reference energies always come from the training split);
    # the xTB test trajectory is generated only when something is tested
    STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("train", "val"), "test": ("train", "test"), "predict": ("train", "test")}

    def prepare_data(self) -> None:
        if self.source == "xtb":
            load_or_generate_xtb_dynamics(self.data_dir, self.recipe, splits=("train", "val"))
        else:
            self._require_file()

    def _draw(self, available: np.ndarray, count: int | None, generator: np.random.Generator, what: str) -> np.ndarray:
        if count is None:
            return available
        if count > len(available):
            raise ValueError(f"datamodule.{what}={count} but only {len(available)} frames are available for it")
        return np.sort(generator.permutation(available)[:count])

    def split_arrays(self, splits: tuple[str, ...] = XTB_SPLITS) -> dict[str, dict[str, np.ndarray]]:
        """Per split: numbers, positions, energies (eV, unshifted), forces (source=xtb: only `splits`)."""
        if self.source == "xtb":
            data = load_or_generate_xtb_dynamics(self.data_dir, self.recipe, splits=splits)
            counts = {"train": self.num_train, "val": self.num_val, "test": self.num_test}
            out = {}
            for split in splits:
                arrays = data[split]
                # one generator per split: a split's frames do not depend on which others are loaded
                rng = np.random.default_rng([self.split_seed, XTB_SPLITS.index(split)])
                chosen = self._draw(np.arange(len(arrays["energies"])), counts[split], rng, f"num_{split}")
                out[split] = {"numbers": arrays["numbers"], **{k: arrays[k][chosen] for k in ("positions", "energies", "forces")}}
            return out
        rng = np.random.default_rng(self.split_seed)
        path = self._require_file()
        data = self._read_file()
        frames = len(data["energies"])
        split_dir = rmd17_split_dir(path) if self.source == "rmd17" else None
        if split_dir is not None:
            train, test = load_rmd17_split(split_dir, self.rmd17_split, frames)
            log.info("rMD17: official split %d from %s (%d train, %d test frames)", self.rmd17_split, split_dir, len(train), len(test))
            rest = np.setdiff1d(np.arange(frames), np.concatenate([train, test]))
            val = self._draw(rest, self.num_val, rng, "num_val")
            if self.num_test is not None:
                test = self._draw(test, self.num_test, rng, "num_test")
        else:
            order = rng.permutation(frames)
            if self.num_train + self.num_val >= frames:
                raise ValueError(f"{path}: {frames} frames, fewer than num_train + num_val + 1 = {self.num_train + self.num_val + 1}")
            train, val = np.sort(order[: self.num_train]), np.sort(order[self.num_train : self.num_train + self.num_val])
            test = self._draw(np.sort(order[self.num_train + self.num_val :]), self.num_test, rng, "num_test")
        split_indices = {"train": train, "val": val, "test": test}
        return {
            split: {"numbers": data["numbers"], **{k: data[k][idx] for k in ("positions", "energies", "forces")}}
            for split, idx in split_indices.items()
        }

    def setup(self, stage: str | None = None) -> None:
        needed = self.STAGE_SPLITS.get(stage, XTB_SPLITS)
        if all(split in self.splits for split in needed):
            return
        if self.source == "xtb":
            arrays = self.split_arrays(tuple(s for s in XTB_SPLITS if s in needed or s in self.splits))
        else:
            arrays = self.split_arrays()  # one file: every split at once
        log.info("md17 %s/%s: %s frames", self.source, self.molecule, {s: len(a["energies"]) for s, a in arrays.items()})
        self.arrays = arrays
        for split, split_arrays in arrays.items():
            self.splits[split] = ListDataset(self._samples(split_arrays))

    def _samples(self, arrays: dict[str, np.ndarray]) -> list[dict]:
        numbers = arrays["numbers"]
        features = torch.from_numpy(element_one_hot(numbers, self.elements, where=str(self.path or self.molecule)))
        # absolute energies in float64: O(1000) eV, where float32 would round by ~0.5 meV
        energies = torch.from_numpy(np.asarray(arrays["energies"], dtype=np.float64))
        positions = torch.from_numpy(arrays["positions"].astype(np.float32))
        forces = torch.from_numpy(arrays["forces"].astype(np.float32))
        return [
            {"positions": positions[i], "features": features, "targets": {"energy": energies[i], "forces": forces[i]}}
            for i in range(len(energies))
        ]

    def training_reference(self) -> dict[str, Any]:
        """The trained `elements` and the training split's numbers (n,), energies (frames,) eV
        and forces (frames, n, 3): what `EnergyForceTask` fits its reference energies on."""
        if "train" not in getattr(self, "arrays", {}):
            self.setup("fit")
        return {"elements": tuple(self.elements), **self.arrays["train"]}

    def nve_start(self, frame: int = NVE_TEST_FRAME, split: str = "test") -> dict[str, np.ndarray]:
        """A frame of `split` (test or val) to start an NVE check from: numbers, positions (A)."""
        arrays = self._loaded(split)
        return {"numbers": arrays["numbers"], "positions": arrays["positions"][frame]}

    def nve_frames(self, split: str, count: int) -> list[int]:
        """`count` frames of `split` spread evenly from the first (0 and 500 of 1,000 for 2)."""
        frames = len(self._loaded(split)["positions"])
        return sorted({i * frames // count for i in range(count)})

    def _loaded(self, split: str) -> dict[str, np.ndarray]:
        """The arrays of `split` (test or val), set up on first use."""
        if split not in ("test", "val"):
            raise ValueError(f"an NVE check starts from a 'test' or 'val' frame, got split={split!r}")
        if split not in getattr(self, "arrays", {}):
            self.setup("test" if split == "test" else "fit")
        return self.arrays[split]
