"""Molecular data files, read into numbers (n,), positions (frames, n, 3) A, energies (frames,)
eV and forces (frames, n, 3) eV/A, with one-line errors naming the file, the key and the frame:

- revised MD17 `rmd17_<molecule>.npz` (nuclear_charges, coords, energies, forces; kcal/mol),
- original MD17 `<molecule>_dft.npz` (z, R, E, F; kcal/mol),
- gaan's generated splits `data/xtb_md/<molecule>-<digest>/<split>.npz` (numbers, positions,
  energies, forces; eV, `gaan.tasks.md17.xtb_dynamics`),
- anything `ase.io` reads with energies and forces (extended XYZ, ASE .traj, ...; eV).

`read_molecule_frames` picks the reader by suffix and, for .npz, by the keys inside.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import units

__all__ = [
    "KCAL_PER_MOL_IN_EV",
    "MD17FormatError",
    "load_generated",
    "load_md17",
    "load_rmd17",
    "read_ase_frames",
    "read_molecule_frames",
    "read_npz",
]

KCAL_PER_MOL_IN_EV = units.kcal / units.mol  # 0.0433641 eV


class MD17FormatError(ValueError):
    """A data file lacks a key or has inconsistent shapes; the message names file and key."""


# ---- public file formats --------------------------------------------------------------------


def read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in keys if key not in archive.files]
            if missing:
                raise MD17FormatError(f"{path}: missing key(s) {missing}; it holds {sorted(archive.files)}")
            return {key: archive[key] for key in keys}
    except (OSError, ValueError, EOFError) as err:
        if isinstance(err, MD17FormatError):
            raise
        raise MD17FormatError(f"{path}: not a readable .npz file ({type(err).__name__}: {err or 'empty file'})") from None


def checked_frames(path: Path, numbers, positions, energies, forces, names: dict[str, str]) -> dict[str, np.ndarray]:
    numbers = np.asarray(numbers).astype(np.int64).reshape(-1)
    positions = np.asarray(positions, dtype=np.float64)
    energies = np.asarray(energies, dtype=np.float64).reshape(-1)
    forces = np.asarray(forces, dtype=np.float64)
    frames, atoms = len(energies), len(numbers)
    if frames == 0:
        raise MD17FormatError(f"{path}: {names['energies']} holds no frames")
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


# each .npz format: the file's key for numbers, positions, energies and forces, and its energy unit in eV
NPZ_FORMATS = {
    "rmd17": (("nuclear_charges", "coords", "energies", "forces"), KCAL_PER_MOL_IN_EV),
    "md17": (("z", "R", "E", "F"), KCAL_PER_MOL_IN_EV),
    "generated": (("numbers", "positions", "energies", "forces"), 1.0),
}


def load_npz_format(path: str | Path, kind: str) -> dict[str, np.ndarray]:
    """An .npz file of one of NPZ_FORMATS -> numbers, positions (A), energies (eV), forces (eV/A)."""
    path = Path(path)
    keys, unit = NPZ_FORMATS[kind]
    raw = read_npz(path, keys)
    numbers, positions, energies, forces = (raw[key] for key in keys)
    names = dict(zip(("numbers", "positions", "energies", "forces"), keys))
    return checked_frames(path, numbers, positions, energies * unit, forces * unit, names)


def load_rmd17(path: str | Path) -> dict[str, np.ndarray]:
    """revised MD17 `rmd17_<molecule>.npz` (nuclear_charges, coords, energies, forces; kcal/mol)."""
    return load_npz_format(path, "rmd17")


def load_md17(path: str | Path) -> dict[str, np.ndarray]:
    """original MD17 `<molecule>_dft.npz` (z, R, E, F; kcal/mol)."""
    return load_npz_format(path, "md17")


def load_generated(path: str | Path) -> dict[str, np.ndarray]:
    """gaan's generated split (gaan.tasks.md17.xtb_dynamics: numbers, positions A, energies eV, forces eV/A)."""
    return load_npz_format(path, "generated")


ASE_KEYS = {"numbers": "numbers", "positions": "positions", "energies": "energy", "forces": "forces"}


def read_ase_frames(path: str | Path) -> dict[str, np.ndarray]:
    """Every frame of a file `ase.io` reads (extended XYZ, ASE .traj, ...), with its energy and
    forces (eV, eV/A) from the frame's calculator results; one molecule per file."""
    import ase.io

    path = Path(path)
    try:
        frames = ase.io.read(path, index=":")
    except Exception as err:  # noqa: BLE001 - any reader failure: name the file and the reader's words
        raise MD17FormatError(f"{path}: not readable by ase.io ({type(err).__name__}: {err})") from None
    if not frames:
        raise MD17FormatError(f"{path}: no frames")
    numbers = frames[0].get_atomic_numbers()
    energies, forces = [], []
    for index, atoms in enumerate(frames):
        if not np.array_equal(atoms.get_atomic_numbers(), numbers):
            raise MD17FormatError(
                f"{path}: frame {index} has atoms {atoms.get_chemical_formula()}, frame 0 {frames[0].get_chemical_formula()}; "
                "one molecule (the same atoms in the same order) per file"
            )
        results = atoms.calc.results if atoms.calc is not None else {}
        for key in ("energy", "forces"):
            if key not in results:
                raise MD17FormatError(
                    f"{path}: frame {index} has no {key} (extended XYZ: energy= in the comment line, forces in the atom columns)"
                )
        energies.append(results["energy"])
        forces.append(results["forces"])
    positions = np.stack([atoms.get_positions() for atoms in frames])
    return checked_frames(
        path,
        numbers,
        positions,
        np.array(energies),
        forces,
        ASE_KEYS,
    )


def read_molecule_frames(path: str | Path) -> dict[str, np.ndarray]:
    """Every frame of an MD17 / rMD17 .npz (told apart by their keys) or of any file ase.io reads."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such data file")
    if path.suffix != ".npz":
        return read_ase_frames(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
    except (OSError, ValueError, EOFError) as err:
        raise MD17FormatError(f"{path}: not a readable .npz file ({type(err).__name__}: {err or 'empty file'})") from None
    if "nuclear_charges" in keys:
        return load_rmd17(path)
    if "z" in keys:
        return load_md17(path)
    if "positions" in keys:
        return load_generated(path)
    raise MD17FormatError(
        f"{path}: neither an rMD17 file (nuclear_charges, coords, energies, forces), an MD17 file (z, R, E, F) nor a file "
        f"gaan generated (numbers, positions, energies, forces); it holds {sorted(keys)}"
    )
