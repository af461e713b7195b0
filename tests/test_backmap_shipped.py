"""gaan-backmap with the checkpoints shipped in the package, on ubiquitin (a test protein, never
trained on): every bead kind backmaps it, the README's command runs as a user runs it, and the
default output is valid geometry where `--no-refine`'s is not."""

import os
from pathlib import Path

import biotite.structure as struc
import numpy as np
import prody
import pytest
from biotite.structure.io import pdb

from gaan.tasks.protein import read_structure
from gaan.tasks.protein.backmap import backmap_file, main

DATA = Path(prody.__file__).parent / "tests" / "datafiles"
UBIQUITIN = DATA / "pdb1ubi.pdb"


@pytest.mark.parametrize("beads", ["ca", "centroid", "martini"])
def test_shipped_checkpoint_backmaps_an_unseen_protein(beads, tmp_path):
    """No --ckpt: the checkpoint shipped in the package for the bead kind; ubiquitin is in the
    protein task's test split (never trained on). Bounds sit well above the shipped models'
    test-split RMSD with the refinement (all heavy 1.23 / 0.86 / 0.80 A, backbone 0.32 / 0.56 /
    0.49 A for ca / centroid / martini; bench/results/backmap_peers.md, backmap_martini.md)."""
    from gaan.tasks.protein.backmap import shipped_checkpoint

    assert shipped_checkpoint(beads).is_file()
    output = tmp_path / ("out.cif" if beads == "centroid" else "out.pdb")  # the README writes mmCIF with centroids
    result = backmap_file(UBIQUITIN, output, beads=beads)
    summary = result.metrics.summary()
    assert summary["rmsd"] < 2.0 and summary["rmsd_backbone"] < 1.5
    assert result.predicted_residues == 76
    if output.suffix == ".cif":
        from biotite.structure.io import pdbx

        assert struc.get_residue_count(pdbx.get_structure(pdbx.CIFFile.read(output), model=1)) == 76


@pytest.mark.parametrize("launcher", ["console_script", "python_dash_m"])
def test_the_readme_command_with_the_shipped_checkpoint(launcher, tmp_path):
    """`gaan-backmap IN -o OUT` (and `python -m gaan.tasks.protein.backmap`) on a C-alpha trace, as a user runs it on a fresh clone."""
    import subprocess
    import sys

    output = tmp_path / "out.pdb"
    command = (
        [str(Path(sys.executable).parent / "gaan-backmap")]
        if launcher == "console_script"
        else [sys.executable, "-m", "gaan.tasks.protein.backmap"]
    )
    process = subprocess.run(
        [*command, str(DATA / "pdb1ubi_ca.pdb"), "-o", str(output), "--threads", "1"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert process.returncode == 0, process.stderr
    assert "protein_ca.ckpt" in process.stdout
    assert struc.get_residue_count(pdb.PDBFile.read(output).get_structure(model=1)) == 76


def test_no_refine_writes_the_networks_atoms_and_the_default_idealises_them(tmp_path):
    """`--no-refine` (README): the shipped checkpoint's raw atoms have stretched backbone bonds;
    the default run writes the same residues with every backbone bond within 0.1 A of ideal."""
    from gaan.tasks.protein.metrics import bond_length_deviations

    raw, refined = tmp_path / "raw.pdb", tmp_path / "refined.pdb"
    assert main([str(DATA / "pdb1ubi_ca.pdb"), "-o", str(raw), "--no-refine", "--threads", "1"]) == 0
    assert main([str(DATA / "pdb1ubi_ca.pdb"), "-o", str(refined), "--threads", "1"]) == 0
    raw_atoms = pdb.PDBFile.read(raw).get_structure(model=1)
    refined_atoms = pdb.PDBFile.read(refined).get_structure(model=1)
    np.testing.assert_array_equal(raw_atoms.atom_name, refined_atoms.atom_name)
    raw_deviation, _ = bond_length_deviations(raw_atoms)
    refined_deviation, _ = bond_length_deviations(refined_atoms)
    assert (raw_deviation > 0.1).mean() > 0.2
    assert refined_deviation.max() < 0.1


def test_default_output_is_valid_geometry_below_cgbacks_rmsd(tmp_path, capsys):
    """The default run (README) with the shipped checkpoint on a C-alpha trace of ubiquitin (a
    test protein, never trained on): the printed geometry report (a bead-only input has no
    reference) and the written file agree that no bond beyond 0.1 A, no angle beyond 10 degrees,
    no wrong hand and no bent ring, amide or peptide is left; against the native the RMSD stays
    where it was measured (bench/results/backmap_peers.md: 1ubi all heavy 1.23 A, backbone 0.20 A;
    cgback 1.29 / 0.34 A on the same trace). The network's raw atoms (`--no-refine`) are far
    from valid."""
    from biotite.structure.io import pdb as pdb_io

    from gaan.tasks.protein.ideal_residues import dihedral
    from gaan.tasks.protein.metrics import backmap_metric_sums
    from gaan.tasks.protein.structure_geometry import geometry_sums

    output, raw = tmp_path / "out.pdb", tmp_path / "raw.pdb"
    assert main([str(DATA / "pdb1ubi_ca.pdb"), "-o", str(output), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "Geometry of the output" in printed and "beads only: no RMSD table" in printed
    written = pdb_io.PDBFile.read(output).get_structure(model=1)
    sums = geometry_sums(written)
    assert sums.side_chain_bonds > 200 and sums.angles > 800
    assert sums.bond_outliers == 0 and sums.angle_outliers == 0
    assert sums.chirality_errors == 0 and sums.non_planar_groups == 0
    assert f"| gaan-backmap | 0/{sums.bonds} | 0/{sums.side_chain_bonds} | 0/{sums.angles} | 0/{sums.chiral_centres} |" in printed
    atoms = written
    ca, c, o, n = (atoms.coord[atoms.atom_name == name].astype(np.float64) for name in ("CA", "C", "O", "N"))
    assert np.abs(np.abs(dihedral(ca[:-1], c[:-1], n[1:], o[:-1])) - 180).max() < 5  # O in the peptide plane
    metrics = backmap_metric_sums(written, read_structure(UBIQUITIN)[0]).summary()
    assert metrics["rmsd"] < 1.26 and metrics["rmsd_backbone"] < 0.25
    assert main([str(DATA / "pdb1ubi_ca.pdb"), "-o", str(raw), "--no-refine", "--threads", "1"]) == 0
    network = geometry_sums(pdb_io.PDBFile.read(raw).get_structure(model=1))
    assert network.side_chain_bond_outliers > 0.5 * network.side_chain_bonds
