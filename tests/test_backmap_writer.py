"""The PDB / mmCIF writer of gaan-backmap: written files re-read with biotite to the same
chains, residues, insertion codes, atom names and elements; models and chains get
MODEL/ENDMDL and TER records; what cannot be written raises a named error and leaves no file."""

import os
from pathlib import Path

import biotite.structure as struc
import numpy as np
import prody
import pytest
from biotite.structure.io import pdb, pdbx

from gaan.tasks.protein.writer import StructureWriteError, write_structure

DATA = Path(prody.__file__).parent / "tests" / "datafiles"


def two_chain_models() -> struc.AtomArrayStack:
    """Ubiquitin as chain A and a shifted copy as chain B with insertion codes, in two models."""
    atoms = pdb.PDBFile.read(DATA / "pdb1ubi.pdb").get_structure(model=1)
    atoms = atoms[struc.filter_amino_acids(atoms) & ~atoms.hetero]
    atoms.box = None
    copy = atoms.copy()
    copy.chain_id[:] = "B"
    copy.coord += 40.0
    copy.ins_code[copy.res_id % 7 == 0] = "A"  # insertion codes on some residues
    model = struc.concatenate([atoms, copy])
    second = model.copy()
    second.coord += 0.5
    return struc.stack([model, second])


def assert_same_structure(read: struc.AtomArrayStack, written: struc.AtomArrayStack) -> None:
    assert read.stack_depth() == written.stack_depth()
    for field in ("chain_id", "res_id", "ins_code", "res_name", "atom_name", "element"):
        np.testing.assert_array_equal(getattr(read, field), getattr(written, field), err_msg=field)
    np.testing.assert_allclose(read.coord, written.coord, atol=1e-3)


def test_pdb_round_trip_keeps_chains_residues_models(tmp_path):
    written = two_chain_models()
    path = write_structure(written, tmp_path / "out.pdb")
    assert_same_structure(pdb.PDBFile.read(path).get_structure(), written)
    lines = path.read_text().splitlines()
    assert [line[:6].strip() for line in lines if line.startswith(("MODEL", "ENDMDL", "TER", "END"))] == [
        "MODEL",
        "TER",
        "TER",
        "ENDMDL",
        "MODEL",
        "TER",
        "TER",
        "ENDMDL",
        "END",
    ]
    ter = next(line for line in lines if line.startswith("TER"))
    assert ter[17:20] == "GLY" and ter[21] == "A" and ter[22:26].strip() == "76"
    # the element column (77-78) is filled for every atom
    assert all(line[76:78].strip() for line in lines if line.startswith("ATOM"))


def test_single_model_and_prody_reads_it(tmp_path):
    model = two_chain_models()[0]
    path = write_structure(model, tmp_path / "one.pdb")
    read = prody.parsePDB(str(path))
    assert read.numAtoms() == model.array_length()
    assert sorted(set(read.getChids())) == ["A", "B"]
    assert read.numCoordsets() == 1


def test_residue_numbers_past_9999_use_hybrid36(tmp_path):
    model = two_chain_models()[0]
    model.res_id = model.res_id + 9_990
    path = write_structure(model, tmp_path / "big.pdb")
    read = pdb.PDBFile.read(path).get_structure(model=1)
    np.testing.assert_array_equal(read.res_id, model.res_id)


def test_mmcif_round_trip_with_long_chain_ids(tmp_path):
    written = two_chain_models()
    written.chain_id = np.where(written.chain_id == "A", "AA1", "B")
    path = write_structure(written, tmp_path / "out.cif")
    read = pdbx.get_structure(pdbx.CIFFile.read(path))
    assert_same_structure(read, written)


def test_long_chain_ids_in_pdb_are_a_named_error_and_leave_the_old_file(tmp_path):
    written = two_chain_models()
    written.chain_id = np.where(written.chain_id == "A", "PROTA", "B")
    target = tmp_path / "out.pdb"
    target.write_text("previous contents\n")
    with pytest.raises(StructureWriteError, match=r"out\.pdb.*'PROTA'.*\.cif"):
        write_structure(written, target)
    assert target.read_text() == "previous contents\n"
    assert os.listdir(tmp_path) == ["out.pdb"]


@pytest.mark.parametrize("first, second", [("AA", "BA"), ("PROA", "PROB"), ("Aa", "B")])
def test_two_character_chains_and_segment_ids_round_trip_through_pdb(tmp_path, first, second):
    """Two-character chain ids (hybrid-36 files: AA and BA stay apart, columns 21-22) and CHARMM
    segment ids (PROA, columns 73-76) are written where PDB readers find them; the reader gives
    the same chains back, and a TER closes each."""
    from gaan.tasks.protein import read_structure

    written = two_chain_models()
    written.chain_id = np.where(written.chain_id == "A", first, second)
    path = write_structure(written, tmp_path / "out.pdb")
    read = read_structure(path)
    assert list(dict.fromkeys(read.chain_id)) == [first, second]
    np.testing.assert_array_equal(read.res_id, written.res_id)
    np.testing.assert_allclose(read.coord, written.coord, atol=1e-3)
    text = path.read_text().splitlines()
    assert sum(line.startswith("TER") for line in text) == 2 * written.stack_depth()


def test_provenance_remarks(tmp_path):
    written = two_chain_models()
    lines = ["gaan-backmap 0.1.0 from in.pdb", "checkpoint protein_ca.ckpt, ca beads"]
    pdb_text = write_structure(written, tmp_path / "out.pdb", remarks=lines).read_text()
    assert pdb_text.splitlines()[:2] == [f"REMARK 999 {line}" for line in lines]
    cif = write_structure(written, tmp_path / "out.cif", remarks=lines)
    assert cif.read_text().splitlines()[:2] == [f"# {line}" for line in lines]
    assert_same_structure(pdbx.get_structure(pdbx.CIFFile.read(cif)), written)


def test_non_finite_coordinates_name_the_atom_and_write_nothing(tmp_path):
    written = two_chain_models()
    written.coord[1, 10] = np.nan
    with pytest.raises(
        StructureWriteError, match=rf"{written.atom_name[10]} of residue {written.res_name[10]} {written.res_id[10]} .*model 2"
    ):
        write_structure(written, tmp_path / "nan.pdb")
    assert os.listdir(tmp_path) == []


def test_a_failure_while_moving_leaves_neither_output_nor_temporary(tmp_path, monkeypatch):
    def failing_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_structure(two_chain_models(), tmp_path / "out.pdb")
    assert os.listdir(tmp_path) == []


def test_outputs_get_the_umask_permissions_not_private_ones(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_structure(two_chain_models(), tmp_path / "out.pdb")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("name", ["out.pdb.gz", "out.cif.gz"])
def test_gz_outputs_are_compressed_and_read_back(tmp_path, name):
    import gzip

    from gaan.tasks.protein import read_structure

    written = two_chain_models()
    path = write_structure(written, tmp_path / name)
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # the gzip magic number
    assert gzip.decompress(path.read_bytes()).decode().count("ATOM") >= written.array_length()
    assert read_structure(path).stack_depth() == 2


@pytest.mark.parametrize("name", ["out.gro", "out", "out.txt.gz"])
def test_unknown_output_formats_are_refused_with_the_accepted_list(tmp_path, name):
    with pytest.raises(StructureWriteError, match=r"unknown output format.*\.pdb, \.ent, \.cif, \.mmcif"):
        write_structure(two_chain_models(), tmp_path / name)
    assert not (tmp_path / name).exists()


def test_output_paths_that_cannot_work_are_refused(tmp_path):
    from gaan.tasks.protein.writer import check_output_path

    source = tmp_path / "in.pdb"
    source.write_text("ATOM\n")
    with pytest.raises(StructureWriteError, match="is the input file"):
        check_output_path(tmp_path / "." / "in.pdb", (source,))
    with pytest.raises(StructureWriteError, match="is a directory"):
        check_output_path(tmp_path / "folder.pdb" if (tmp_path / "folder.pdb").mkdir() is None else None)
    with pytest.raises(StructureWriteError, match="not a directory"):
        check_output_path(source / "out.pdb")  # under a file
    assert check_output_path(tmp_path / "new" / "out.pdb", (source,)) == tmp_path / "new" / "out.pdb"
