"""QM9's files: the molecules and their 12 properties as arrays, from either source.

* ``qm9pack`` (default, offline): the CSV files ``qm9_part{1,2,3}.csv`` shipped by the installed
  ``qm9pack`` wheel. Importing that package fails (it needs the removed ``pkg_resources``), so
  the folder is located with ``importlib.util.find_spec`` and the CSVs are read directly. They
  hold the 130,831 molecules left after removing the 3,054 that failed the original
  geometry-consistency check, in ``gdb`` index order.
* ``xyz``: the original archive ``dsgdb9nsd.xyz.tar.bz2`` (or a folder of its
  ``dsgdb9nsd_NNNNNN.xyz`` files), plus optionally ``uncharacterized.txt`` listing the 3,054
  excluded molecules (both from figshare, see ``QM9_XYZ_URL``).

The parsed arrays are cached with sha256 checksums (``load_qm9_arrays``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaan.data.base import MissingDataError, require_path
from gaan.data.checksums import load_arrays, read_manifest, save_arrays
from gaan.files import write_atomically

ELEMENTS = ("H", "C", "N", "O", "F")  # feature columns: one-hot in this order
HARTREE_TO_EV = 27.211386246  # CODATA 2018
HARTREE_TO_MEV = 1000.0 * HARTREE_TO_EV

QM9_XYZ_URL = "https://springernature.figshare.com/ndownloader/files/3195389"  # dsgdb9nsd.xyz.tar.bz2
QM9_EXCLUDED_URL = "https://springernature.figshare.com/ndownloader/files/3195404"  # uncharacterized.txt
NUM_QM9_MOLECULES = 130_831  # after removing the 3,054 uncharacterized ones


@dataclass(frozen=True)
class TargetSpec:
    """One QM9 property: where it is in each source, and how it becomes a reported number."""

    csv_column: str
    xyz_column: int  # index among "A B C mu alpha homo lumo gap r2 zpve U0 U H G Cv"
    factor: float  # file units -> reported units
    unit: str
    atom_reference: str | None = None  # column of ATOM_REFERENCE_HARTREE subtracted first


QM9_TARGETS: dict[str, TargetSpec] = {
    "mu": TargetSpec("Dipole_debye", 3, 1.0, "D"),
    "alpha": TargetSpec("Polarizability_bohr3", 4, 1.0, "bohr^3"),
    "homo": TargetSpec("HOMO_au", 5, HARTREE_TO_MEV, "meV"),
    "lumo": TargetSpec("LUMO_au", 6, HARTREE_TO_MEV, "meV"),
    "gap": TargetSpec("HOMO_LUMO_gap_au", 7, HARTREE_TO_MEV, "meV"),
    "r2": TargetSpec("R2_bohr2", 8, 1.0, "bohr^2"),
    "zpve": TargetSpec("ZPVE_au", 9, HARTREE_TO_MEV, "meV"),
    "u0": TargetSpec("InternalEnergy_0K_au", 10, HARTREE_TO_MEV, "meV", "u0"),
    "u": TargetSpec("InternalEnergy_298K_au", 11, HARTREE_TO_MEV, "meV", "u"),
    "h": TargetSpec("Enthalphy_298K_au", 12, HARTREE_TO_MEV, "meV", "h"),
    "g": TargetSpec("GibbsFreeEnergy_298K_au", 13, HARTREE_TO_MEV, "meV", "g"),
    "cv": TargetSpec("Heatcapacity_Cv_cal_mol_K", 14, 1.0, "cal/(mol K)"),
}
TARGET_NAMES = tuple(QM9_TARGETS)

# Free-atom energies (Hartree) at B3LYP/6-31G(2df,p), from QM9's atomref.txt (figshare
# 1057643, file 3195395): U(0 K), U(298.15 K), H(298.15 K), G(298.15 K), rows H, C, N, O, F.
ATOM_REFERENCE_HARTREE = {
    "u0": np.array([-0.500273, -37.846772, -54.583861, -75.064579, -99.718730]),
    "u": np.array([-0.498857, -37.845355, -54.582445, -75.063163, -99.717314]),
    "h": np.array([-0.497912, -37.844411, -54.581501, -75.062219, -99.716370]),
    "g": np.array([-0.510927, -37.861317, -54.598897, -75.079532, -99.733544]),
}


class QM9FormatError(ValueError):
    """A QM9 source file does not have the expected layout; the message names file and line."""


@dataclass
class QM9Arrays:
    """All molecules of a source, concatenated.

    gdb_index (M,) the molecule's number in QM9 (1-based); atom_counts (M,); elements (A,) int8
    indices into ``ELEMENTS``; positions (A, 3) float64 in Angstrom; properties (M, 12) float64
    in the file units (Hartree, D, bohr^3, bohr^2, cal/(mol K)), columns ``TARGET_NAMES``.
    """

    gdb_index: np.ndarray
    atom_counts: np.ndarray
    elements: np.ndarray
    positions: np.ndarray
    properties: np.ndarray

    def __len__(self) -> int:
        return len(self.atom_counts)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.atom_counts)])

    def element_counts(self) -> np.ndarray:
        """(M, 5) number of H, C, N, O, F atoms of every molecule."""
        molecule = np.repeat(np.arange(len(self)), self.atom_counts)
        counts = np.zeros((len(self), len(ELEMENTS)), dtype=np.int64)
        np.add.at(counts, (molecule, self.elements.astype(np.int64)), 1)
        return counts

    def as_dict(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ("gdb_index", "atom_counts", "elements", "positions", "properties")}


def _element_indices(symbols: np.ndarray, where: str) -> np.ndarray:
    """Byte codes of one-letter element symbols -> indices into ELEMENTS."""
    lookup = np.full(256, -1, dtype=np.int8)
    for i, symbol in enumerate(ELEMENTS):
        lookup[ord(symbol)] = i
    indices = lookup[symbols]
    if (indices < 0).any():
        bad = chr(int(symbols[np.argmax(indices < 0)]))
        raise QM9FormatError(f"{where}: element {bad!r} is not one of {ELEMENTS}")
    return indices


# --------------------------------------------------------------------------------------------
# qm9pack CSV files
# --------------------------------------------------------------------------------------------


def qm9pack_csv_paths() -> list[Path]:
    """The three CSV files of the installed qm9pack wheel (the package itself is not imported)."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataError(
            "Missing data: the Python package qm9pack (the QM9 CSV files) is not installed. "
            "Install the project (`make train` / `pip install -e .`), or `pip install qm9pack`."
        )
    folder = Path(spec.submodule_search_locations[0]) / "data"
    return [
        require_path(folder / f"qm9_part{i}.csv", "Reinstall qm9pack: `pip install --force-reinstall --no-deps qm9pack`.")
        for i in (1, 2, 3)
    ]


_CSV_COLUMNS = ["Index", "N_atoms", "Elements", "XYZ_Ang", *(spec.csv_column for spec in QM9_TARGETS.values())]


def read_qm9_csv(paths: Sequence[str | Path], nrows: int | None = None) -> QM9Arrays:
    """Parse qm9pack's CSV files (all rows, or the first ``nrows`` of each), vectorised.

    Coordinates come from one ``numpy.fromstring`` over all rows; every row's atom count is
    checked against its element list and coordinates, so a malformed row is named by file and
    line rather than shifting all later molecules.
    """
    import pandas as pd  # a dependency of qm9pack; heavy import kept out of the module's import

    parts = []
    for path in paths:
        path = Path(path)
        try:
            frame = pd.read_csv(path, usecols=_CSV_COLUMNS, nrows=nrows, dtype={"Elements": str, "XYZ_Ang": str})
        except ValueError as err:  # missing columns
            raise QM9FormatError(f"{path}: {err} (expected the columns of qm9pack's CSV files: {_CSV_COLUMNS})") from err
        for column in _CSV_COLUMNS:
            if frame[column].isna().any():
                row = int(np.argmax(frame[column].isna().to_numpy()))
                raise QM9FormatError(f"{path}, line {row + 2}: column {column} is empty")
        counts = frame["N_atoms"].to_numpy(np.int64)
        xyz_text = ",".join(frame["XYZ_Ang"].tolist())
        element_text = ",".join(frame["Elements"].tolist())
        # per-row character counts over the joined bytes (one pass, no per-row Python)
        xyz_brackets, xyz_commas = _per_row_counts(xyz_text, frame["XYZ_Ang"], (b"[", b","))
        (element_quotes,) = _per_row_counts(element_text, frame["Elements"], (b"'",))
        checks = (
            ("XYZ_Ang", xyz_brackets - 1, "atoms"),  # "[[x,y,z],...]"
            ("XYZ_Ang", (xyz_commas + 1) / 3, "atoms (numbers / 3)"),
            ("Elements", element_quotes / 2, "atoms"),
        )
        for name, found, what in checks:
            bad = np.flatnonzero(found != counts)
            if len(bad):
                row = int(bad[0])
                raise QM9FormatError(f"{path}, line {row + 2}: {name} has {found[row]:g} {what} but N_atoms is {counts[row]}")
        positions = np.fromstring(xyz_text.replace("[", "").replace("]", ""), sep=",")
        if positions.size != 3 * counts.sum() or not np.isfinite(positions).all():
            raise QM9FormatError(f"{path}: XYZ_Ang holds non-numeric or non-finite coordinates")
        symbols = re.sub(r"[^A-Za-z]", "", element_text)
        elements = _element_indices(np.frombuffer(symbols.encode("ascii"), dtype=np.uint8), str(path))
        if elements.size != counts.sum():
            raise QM9FormatError(f"{path}: Elements lists {elements.size} atoms, N_atoms sums to {counts.sum()}")
        properties = frame[[spec.csv_column for spec in QM9_TARGETS.values()]].to_numpy(np.float64)
        parts.append(QM9Arrays(frame["Index"].to_numpy(np.int64), counts, elements, positions.reshape(-1, 3), properties))
    return _concatenate(parts)


def _per_row_counts(joined: str, column, characters: tuple[bytes, ...]) -> list[np.ndarray]:
    """How often each character occurs in every row of ``column``, given the rows joined by one
    separator character into ``joined``."""
    data = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).copy()
    starts = np.concatenate([[0], np.cumsum(column.str.len().to_numpy() + 1)[:-1]])
    data[starts[1:] - 1] = 0  # the separators belong to no row
    return [np.add.reduceat((data == ord(c)).astype(np.int64), starts) for c in characters]


def _concatenate(parts: Sequence[QM9Arrays]) -> QM9Arrays:
    return QM9Arrays(
        *(np.concatenate([getattr(p, k) for p in parts]) for k in ("gdb_index", "atom_counts", "elements", "positions", "properties"))
    )


# --------------------------------------------------------------------------------------------
# original xyz archive
# --------------------------------------------------------------------------------------------


def _xyz_float(token: str) -> float:
    # the archive writes some exponents Mathematica-style: 1.2*^-6
    return float(token.replace("*^", "e"))


def read_qm9_xyz(text: str, where: str = "<xyz>") -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """One ``dsgdb9nsd_NNNNNN.xyz`` file -> (gdb index, elements (n,), positions (n, 3) in A,
    properties (12,) in file units, ``TARGET_NAMES`` order).

    Layout: atom count; ``gdb N A B C mu alpha homo lumo gap r2 zpve U0 U H G Cv``; one line
    per atom ``symbol x y z mulliken_charge``; harmonic frequencies; SMILES; InChI.
    """
    lines = text.splitlines()
    try:
        count = int(lines[0].strip())
    except (IndexError, ValueError):
        raise QM9FormatError(f"{where}, line 1: expected the number of atoms") from None
    if len(lines) < count + 2:
        raise QM9FormatError(f"{where}: {len(lines)} lines, but {count} atoms need at least {count + 2}")
    header = lines[1].split()
    if len(header) != 17 or header[0] != "gdb":
        raise QM9FormatError(f"{where}, line 2: expected 'gdb N' and 15 properties, got {len(header)} fields")
    try:
        gdb_index = int(header[1])
        values = np.array([_xyz_float(t) for t in header[2:]])
    except ValueError as err:
        raise QM9FormatError(f"{where}, line 2: {err}") from None
    properties = values[[spec.xyz_column for spec in QM9_TARGETS.values()]]
    symbols, positions = [], []
    for k in range(count):
        fields = lines[2 + k].split()
        if len(fields) != 5:
            raise QM9FormatError(f"{where}, line {k + 3}: expected 'element x y z charge', got {len(fields)} fields")
        symbols.append(fields[0])
        try:
            positions.append([_xyz_float(t) for t in fields[1:4]])
        except ValueError as err:
            raise QM9FormatError(f"{where}, line {k + 3}: {err}") from None
    if any(len(s) != 1 for s in symbols):
        raise QM9FormatError(f"{where}: element symbols {symbols} are not all among {ELEMENTS}")
    elements = _element_indices(np.frombuffer("".join(symbols).encode("ascii"), dtype=np.uint8), where)
    return gdb_index, elements, np.array(positions, dtype=np.float64), properties


def read_excluded_indices(path: str | Path) -> set[int]:
    """``uncharacterized.txt``: the gdb indices (first column of numeric rows) to leave out."""
    excluded = set()
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if fields and fields[0].isdigit():
            excluded.add(int(fields[0]))
    return excluded


def read_qm9_xyz_archive(path: str | Path, excluded: set[int] | None = None) -> QM9Arrays:
    """All ``*.xyz`` members of a tar archive (any compression) or a folder, sorted by gdb
    index, minus the ``excluded`` gdb indices."""
    path = Path(path)
    molecules = []

    def add(text: str, where: str) -> None:
        molecule = read_qm9_xyz(text, where)
        if excluded is None or molecule[0] not in excluded:
            molecules.append(molecule)

    if path.is_dir():
        files = sorted(path.glob("*.xyz"))
        for file in files:
            add(file.read_text(), str(file))
    else:
        try:
            with tarfile.open(path) as archive:
                for member in archive:
                    if member.isfile() and member.name.endswith(".xyz"):
                        add(archive.extractfile(member).read().decode("ascii"), f"{path}:{member.name}")
        except tarfile.TarError as err:
            raise QM9FormatError(f"{path}: not a readable tar archive ({err})") from err
    if not molecules:
        raise QM9FormatError(f"{path}: no .xyz molecules found")
    molecules.sort(key=lambda m: m[0])
    return QM9Arrays(
        gdb_index=np.array([m[0] for m in molecules], dtype=np.int64),
        atom_counts=np.array([len(m[1]) for m in molecules], dtype=np.int64),
        elements=np.concatenate([m[1] for m in molecules]),
        positions=np.concatenate([m[2] for m in molecules]),
        properties=np.stack([m[3] for m in molecules]),
    )


# --------------------------------------------------------------------------------------------
# cache with checksums
# --------------------------------------------------------------------------------------------

_PARSER_VERSION = 1


def _source_fingerprint(files: Sequence[Path]) -> str:
    stats = [(f.name, f.stat().st_size) for f in files]
    return hashlib.sha256(json.dumps([stats, _PARSER_VERSION]).encode()).hexdigest()[:12]


def load_qm9_arrays(
    data_dir: str | Path, source: str = "qm9pack", xyz_archive: str | Path | None = None, verbose: bool = True
) -> QM9Arrays:
    """Parsed QM9 arrays of ``source`` ("qm9pack" or "xyz"), from the cache
    ``<data_dir>/qm9/<source>-<fingerprint>.npz`` (verified against the sha256 sums in the
    ``.json`` next to it) or parsed and cached on a miss (written whole, then renamed)."""
    if source == "qm9pack":
        files = qm9pack_csv_paths()
    elif source == "xyz":
        if xyz_archive is None:
            raise ValueError("task.datamodule.xyz_archive must name the QM9 xyz archive when source=xyz")
        files = [
            require_path(
                xyz_archive,
                f"Download dsgdb9nsd.xyz.tar.bz2 from {QM9_XYZ_URL} and put it there (or set "
                "task.datamodule.xyz_archive=<archive or folder of dsgdb9nsd_*.xyz files>); put "
                f"uncharacterized.txt ({QM9_EXCLUDED_URL}) next to it to leave out the 3,054 excluded molecules.",
            )
        ]
    else:
        raise ValueError(f"task.datamodule.source must be 'qm9pack' or 'xyz', got {source!r}")
    cache = Path(data_dir) / "qm9" / f"{source}-{_source_fingerprint(files)}.npz"
    manifest = cache.with_suffix(".json")
    if manifest.is_file() and cache.is_file():
        return _load_cache(cache, manifest)
    started = time.perf_counter()
    if verbose:
        print(f"QM9: parsing {', '.join(str(f) for f in files)} (once; cached in {cache})", flush=True)
    if source == "qm9pack":
        arrays = read_qm9_csv(files)
    else:
        excluded_path = files[0].parent / "uncharacterized.txt"
        excluded = read_excluded_indices(excluded_path) if excluded_path.is_file() else None
        arrays = read_qm9_xyz_archive(files[0], excluded)
    cache.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "source": [str(f) for f in files],
        "checksums": save_arrays(cache, arrays.as_dict()),
        "molecules": len(arrays),
        "parse_seconds": round(time.perf_counter() - started, 2),
    }
    write_atomically(manifest, json.dumps(record, indent=2))  # last: its presence means the cache is complete
    if verbose:
        print(f"QM9: {len(arrays):,} molecules parsed in {record['parse_seconds']} s", flush=True)
    return arrays


def _load_cache(cache: Path, manifest: Path) -> QM9Arrays:
    remedy = f"delete it and {manifest} to re-parse"
    return QM9Arrays(**load_arrays(cache, read_manifest(manifest, remedy)["checksums"], manifest, remedy))
