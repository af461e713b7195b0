"""QM9: 130,831 small organic molecules (H, C, N, O, F; up to 29 atoms) with 12 properties
computed at B3LYP/6-31G(2df,p) (Ramakrishnan et al., Sci. Data 1, 140022, 2014).

Two sources, ``qm9pack``'s CSVs (default, offline) and the original xyz archive, are parsed into
the same arrays by ``gaan.tasks.qm9.files``; this module turns them into targets, splits and samples.

Targets are converted to the units the literature reports (EGNN / Cormorant tables): energies
in meV (Hartree -> eV with CODATA 2018's 27.211386246), ``mu`` in D, ``alpha`` in bohr^3,
``r2`` in bohr^2, ``cv`` in cal/(mol K). For ``u0``, ``u``, ``h``, ``g`` the free-atom energies
of the molecule's atoms are subtracted (atomization energies), with the B3LYP/6-31G(2df,p)
atomic reference energies that QM9 publishes in ``atomref.txt`` (figshare file 3195395).

The split is the one of Cormorant and EGNN: ``numpy.random.seed(0)``, a permutation of the
130,831 molecules, the first 100,000 train, then 17,748 valid, the last int(0.1 N) = 13,083 test.
"""

from __future__ import annotations

import numpy as np
import torch

from gaan.data.base import ListDataset, PointCloudDataModule
from gaan.tasks.qm9.files import (
    ATOM_REFERENCE_HARTREE,
    ELEMENTS,
    HARTREE_TO_MEV,
    QM9_TARGETS,
    QM9_XYZ_URL,
    TARGET_NAMES,
    QM9Arrays,
    QM9FormatError,
    load_qm9_arrays,
    qm9pack_csv_paths,
    read_qm9_csv,
    read_qm9_xyz,
    read_qm9_xyz_archive,
)

__all__ = [
    "ATOM_REFERENCE_HARTREE",
    "ELEMENTS",
    "HARTREE_TO_MEV",
    "QM9Arrays",
    "QM9DataModule",
    "QM9FormatError",
    "QM9_TARGETS",
    "QM9_XYZ_URL",
    "egnn_split",
    "load_qm9_arrays",
    "qm9pack_csv_paths",
    "qm9_target_values",
    "read_qm9_csv",
    "read_qm9_xyz",
    "read_qm9_xyz_archive",
]

# --------------------------------------------------------------------------------------------
# targets and splits
# --------------------------------------------------------------------------------------------


def qm9_target_values(arrays: QM9Arrays, target: str) -> np.ndarray:
    """(M,) values of ``target`` in reported units; atomization energies for u0, u, h, g."""
    if target not in QM9_TARGETS:
        raise ValueError(f"task.target={target!r} is not a QM9 target; choose one of {list(QM9_TARGETS)}")
    spec = QM9_TARGETS[target]
    values = arrays.properties[:, TARGET_NAMES.index(target)].copy()
    if spec.atom_reference is not None:
        values -= arrays.element_counts() @ ATOM_REFERENCE_HARTREE[spec.atom_reference]
    return values * spec.factor


def egnn_split(num_molecules: int, seed: int = 0, train_pool: int = 100_000) -> dict[str, np.ndarray]:
    """Cormorant / EGNN split: legacy ``numpy.random.seed(seed)`` permutation; the first
    ``train_pool`` train, the last int(0.1 N) test, the rest valid (100,000 / 17,748 / 13,083
    for QM9 with seed 0)."""
    num_test = int(0.1 * num_molecules)
    num_valid = num_molecules - train_pool - num_test
    if train_pool < 1 or num_valid < 1:
        raise ValueError(
            f"{num_molecules} molecules cannot hold a training pool of {train_pool} plus a 10% test set and a validation "
            "set (task.datamodule.train_pool)"
        )
    order = np.random.RandomState(seed).permutation(num_molecules)
    return {"train": order[:train_pool], "val": order[train_pool : train_pool + num_valid], "test": order[train_pool + num_valid :]}


# --------------------------------------------------------------------------------------------
# datamodule
# --------------------------------------------------------------------------------------------


def molecule_samples(arrays: QM9Arrays, targets: np.ndarray, indices: np.ndarray) -> list[dict]:
    """Harness samples: positions (n, 3) in A, features (n, 5) one-hot of H, C, N, O, F,
    targets {"y": value in reported units (float32)}."""
    offsets = arrays.offsets
    positions = torch.from_numpy(arrays.positions.astype(np.float32))
    one_hot = torch.nn.functional.one_hot(torch.from_numpy(arrays.elements.astype(np.int64)), len(ELEMENTS)).float()
    values = torch.from_numpy(targets.astype(np.float32))
    return [
        {
            "positions": positions[offsets[i] : offsets[i + 1]],
            "features": one_hot[offsets[i] : offsets[i + 1]],
            "targets": {"y": values[i]},
        }
        for i in indices
    ]


class QM9DataModule(PointCloudDataModule):
    """task=qm9: one property per model, on the Cormorant / EGNN split.

    ``num_train`` takes the first molecules of the (seeded, permuted) 100,000-molecule training
    pool, so smaller training sets are nested in larger ones (learning curves); ``num_val``
    likewise the first validation molecules (null: all 17,748); the test set is always whole.
    ``split_seed`` seeds the permutation (0 = the published split); ``split_fractions`` is unused.
    """

    name = "qm9"

    def __init__(
        self,
        data_dir: str,
        target: str = "homo",
        source: str = "qm9pack",
        xyz_archive: str | None = None,
        num_train: int | None = None,
        num_val: int | None = None,
        train_pool: int = 100_000,
        **kwargs,
    ):
        super().__init__(data_dir, **kwargs)
        if target not in QM9_TARGETS:
            raise ValueError(f"task.target={target!r} is not a QM9 target; choose one of {list(QM9_TARGETS)}")
        for key, value in (("num_train", num_train), ("num_val", num_val)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"task.datamodule.{key} must be a positive integer or null, got {value!r}")
        if num_train is not None and num_train > train_pool:
            raise ValueError(f"task.datamodule.num_train={num_train} exceeds the training pool of {train_pool} molecules")
        self.target, self.source, self.xyz_archive = target, source, xyz_archive
        self.num_train, self.num_val, self.train_pool = num_train, num_val, int(train_pool)
        self.train_targets: torch.Tensor | None = None
        self.train_element_counts: torch.Tensor | None = None

    @property
    def num_features(self) -> int:
        return len(ELEMENTS)

    @property
    def unit(self) -> str:
        return QM9_TARGETS[self.target].unit

    def prepare_data(self) -> None:
        load_qm9_arrays(self.data_dir, self.source, self.xyz_archive)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        arrays = load_qm9_arrays(self.data_dir, self.source, self.xyz_archive, verbose=False)
        targets = qm9_target_values(arrays, self.target)
        split = egnn_split(len(arrays), self.split_seed, self.train_pool)
        split["train"] = split["train"][: self.num_train]
        split["val"] = split["val"][: self.num_val]
        for name, indices in split.items():
            self.splits[name] = ListDataset(molecule_samples(arrays, targets, indices))
        self.split_indices = split
        # what the task module fits its target baseline and scale on (training molecules only)
        self.train_targets = torch.from_numpy(targets[split["train"]])
        self.train_element_counts = torch.from_numpy(arrays.element_counts()[split["train"]]).double()

    def training_reference(self) -> dict[str, torch.Tensor]:
        """The training molecules' targets and element counts: what `MolecularPropertyTask` fits
        its target baseline and scale on."""
        if self.train_targets is None:
            self.setup("fit")
        return {"targets": self.train_targets, "element_counts": self.train_element_counts}
