"""task=md17: a molecule's energy and forces, from the project's GFN2-xTB dynamics (default,
offline) or from the public revised MD17 / original MD17 files a user downloads.

Every sample is one frame: positions (n, 3) in A, features = one-hot of the atom's element
(over the elements of the molecule), targets `energy` (eV, minus a per-element reference
fitted by least squares on the training frames) and `forces` (n, 3) in eV/A.

Splits (issue 22's protocol): `num_train` training and `num_val` validation frames, the rest
(or `num_test`) for testing, seeded by `split_seed`.
- source=xtb: train, validation and test frames come from three separate trajectories
  (gaan.data.xtb_dynamics); `num_train` / `num_val` frames are drawn from their trajectory.
- source=rmd17: `rmd17_<molecule>.npz` (nuclear_charges, coords, energies, forces in
  kcal/mol and kcal/mol/A). With the archive's `splits/index_train_0K.csv` and
  `index_test_0K.csv` next to the npz folder, training and test frames are official split K
  (`rmd17_split`, 1-5) and validation frames are drawn from the remaining ones.
- source=md17: `<molecule>_dft.npz` (z, R, E, F in kcal/mol, kcal/mol/A).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase import units
from rdkit import Chem

from gaan.data.base import ListDataset, PointCloudDataModule, require_path
from gaan.data.xtb_dynamics import XTB_SPLITS, XTBDynamicsRecipe, load_or_generate_xtb_dynamics

__all__ = [
    "KCAL_PER_MOL_IN_EV",
    "MD17DataModule",
    "MD17FormatError",
    "element_one_hot",
    "fit_element_reference",
    "load_md17",
    "load_rmd17",
    "load_rmd17_split",
]

log = logging.getLogger(__name__)

KCAL_PER_MOL_IN_EV = units.kcal / units.mol  # 0.0433641 eV
RMD17_URL = "https://doi.org/10.6084/m9.figshare.12672038 (rmd17.tar.bz2)"
MD17_URL = "http://www.sgdml.org/#datasets (http://quantum-machine.org/gdml/data/npz/<molecule>_dft.npz)"
SOURCES = ("xtb", "rmd17", "md17")


class MD17FormatError(ValueError):
    """A data file lacks a key or has inconsistent shapes; the message names file and key."""


# ---- public file formats --------------------------------------------------------------------


def _read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in keys if key not in archive.files]
            if missing:
                raise MD17FormatError(f"{path}: missing key(s) {missing}; it holds {sorted(archive.files)}")
            return {key: archive[key] for key in keys}
    except (OSError, ValueError) as err:
        if isinstance(err, MD17FormatError):
            raise
        raise MD17FormatError(f"{path}: not a readable .npz file ({err})") from err


def _checked(path: Path, numbers, positions, energies, forces, names: dict[str, str]) -> dict[str, np.ndarray]:
    numbers = np.asarray(numbers).astype(np.int64).reshape(-1)
    positions = np.asarray(positions, dtype=np.float64)
    energies = np.asarray(energies, dtype=np.float64).reshape(-1)
    forces = np.asarray(forces, dtype=np.float64)
    frames, atoms = len(energies), len(numbers)
    for key, array, shape in (("positions", positions, (frames, atoms, 3)), ("forces", forces, (frames, atoms, 3))):
        if array.shape != shape:
            raise MD17FormatError(f"{path}: {names[key]} has shape {array.shape}, expected {shape} ({frames} energies, {atoms} atoms)")
    for key, array in (("positions", positions), ("energies", energies), ("forces", forces)):
        if not np.isfinite(array).all():
            frame = int(np.nonzero(~np.isfinite(array.reshape(frames, -1)).all(1) if array.ndim > 1 else ~np.isfinite(array))[0][0])
            raise MD17FormatError(f"{path}: {names[key]} is not finite at frame {frame}")
    if (numbers < 1).any() or (numbers > 118).any():
        raise MD17FormatError(f"{path}: {names['numbers']} holds values outside 1..118: {sorted(set(numbers.tolist()))}")
    return {"numbers": numbers, "positions": positions, "energies": energies, "forces": forces}


def load_rmd17(path: str | Path) -> dict[str, np.ndarray]:
    """revised MD17 `rmd17_<molecule>.npz` -> numbers, positions (A), energies (eV), forces (eV/A)."""
    path = Path(path)
    raw = _read_npz(path, ("nuclear_charges", "coords", "energies", "forces"))
    return _checked(
        path,
        raw["nuclear_charges"],
        raw["coords"],
        raw["energies"] * KCAL_PER_MOL_IN_EV,
        raw["forces"] * KCAL_PER_MOL_IN_EV,
        {"numbers": "nuclear_charges", "positions": "coords", "energies": "energies", "forces": "forces"},
    )


def load_md17(path: str | Path) -> dict[str, np.ndarray]:
    """original MD17 `<molecule>_dft.npz` (z, R, E, F) -> numbers, positions (A), energies (eV), forces (eV/A)."""
    path = Path(path)
    raw = _read_npz(path, ("z", "R", "E", "F"))
    return _checked(
        path,
        raw["z"],
        raw["R"],
        raw["E"] * KCAL_PER_MOL_IN_EV,
        raw["F"] * KCAL_PER_MOL_IN_EV,
        {"numbers": "z", "positions": "R", "energies": "E", "forces": "F"},
    )


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


# ---- features and references ----------------------------------------------------------------


def element_one_hot(numbers: np.ndarray, elements: tuple[int, ...]) -> np.ndarray:
    """(n, len(elements)) one-hot rows of each atom's element."""
    lookup = {z: i for i, z in enumerate(elements)}
    unknown = sorted({int(z) for z in numbers} - set(lookup))
    if unknown:
        raise ValueError(f"atomic numbers {unknown} are not among the model's elements {list(elements)}")
    out = np.zeros((len(numbers), len(elements)), dtype=np.float32)
    out[np.arange(len(numbers)), [lookup[int(z)] for z in numbers]] = 1.0
    return out


def fit_element_reference(counts: np.ndarray, energies: np.ndarray) -> np.ndarray:
    """Per-element energies e minimising |counts @ e - energies|^2 (minimum norm when the
    compositions do not determine them, e.g. one molecule: then counts @ e is the mean energy).

    counts: (frames, elements) how many atoms of each element a frame has; energies (frames,).
    """
    counts = np.asarray(counts, dtype=np.float64)
    energies = np.asarray(energies, dtype=np.float64)
    reference, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return reference


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
        self.path = Path(path) if path else self._default_path()
        self.elements = self._elements()
        self.element_reference: dict[int, float] = {}
        self._statistics: dict[str, float] = {}

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
        else:
            how = f"Download it from {MD17_URL} into {self.data_dir}/md17/, or set task.datamodule.path=<file>."
        return require_path(self.path, how)

    def _elements(self) -> tuple[int, ...]:
        """The one-hot vocabulary: the molecule's elements (known before any data is loaded,
        because the model is built before `setup`)."""
        if self.source == "xtb":
            mol = Chem.AddHs(Chem.MolFromSmiles(self.recipe.smiles))
            return tuple(sorted({atom.GetAtomicNum() for atom in mol.GetAtoms()}))
        path = self._require_file()
        key = "nuclear_charges" if self.source == "rmd17" else "z"
        return tuple(sorted(set(_read_npz(path, (key,))[key].astype(int).reshape(-1).tolist())))

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
        data = load_rmd17(path) if self.source == "rmd17" else load_md17(path)
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
        # per-element reference energies from the training frames only
        train = arrays["train"]
        composition = np.array([[np.sum(train["numbers"] == z) for z in self.elements]], dtype=np.float64)
        reference = fit_element_reference(np.repeat(composition, len(train["energies"]), 0), train["energies"])
        self.element_reference = {int(z): float(e) for z, e in zip(self.elements, reference, strict=True)}
        shifted_train = train["energies"] - composition[0] @ reference
        forces = train["forces"]
        self._statistics = {"energy_mean": float(shifted_train.mean()), "energy_scale": float(np.sqrt(np.mean(forces**2)))}
        log.info(
            "md17 %s/%s: %s frames; per-element reference (eV) %s; training force RMS %.4g eV/A",
            self.source,
            self.molecule,
            {s: len(a["energies"]) for s, a in arrays.items()},
            self.element_reference,
            self._statistics["energy_scale"],
        )
        self.arrays = arrays
        for split, split_arrays in arrays.items():
            self.splits[split] = ListDataset(self._samples(split_arrays))

    def _samples(self, arrays: dict[str, np.ndarray]) -> list[dict]:
        numbers = arrays["numbers"]
        features = torch.from_numpy(element_one_hot(numbers, self.elements))
        offset = sum(self.element_reference[int(z)] for z in numbers)
        # subtract in float64, then store float32: the shifted energies are O(1) eV
        energies = torch.from_numpy((arrays["energies"] - offset).astype(np.float32))
        positions = torch.from_numpy(arrays["positions"].astype(np.float32))
        forces = torch.from_numpy(arrays["forces"].astype(np.float32))
        return [
            {"positions": positions[i], "features": features, "targets": {"energy": energies[i], "forces": forces[i]}}
            for i in range(len(energies))
        ]

    def energy_statistics(self) -> dict[str, float]:
        """Mean shifted training energy and RMS training force component (EnergyForceTask reads them)."""
        if not self._statistics:
            self.setup("fit")
        return dict(self._statistics)

    def nve_start(self, frame: int = 0) -> dict[str, np.ndarray]:
        """A test frame to start the NVE check from: numbers, positions (A), features."""
        if "test" not in getattr(self, "arrays", {}):
            self.setup("test")
        test = self.arrays["test"]
        return {
            "numbers": test["numbers"],
            "positions": test["positions"][frame],
            "features": element_one_hot(test["numbers"], self.elements),
        }
