"""gaan-backmap on awkward and lossy input (issue 31), each case a small file built from
ubiquitin, run with the shipped checkpoints: correct output, or a one-line error naming the file
and what is wrong, and every residue mapped or dropped named in the report."""

import re
from pathlib import Path

import biotite.structure as struc
import numpy as np
import prody
import pytest

from gaan.tasks.protein import bead_positions, read_structure, residue_table
from gaan.tasks.protein.chain_geometry import geometric_chain_breaks
from gaan.tasks.protein.cli import main
from gaan.tasks.protein.structure_geometry import geometry_sums
from gaan.tasks.protein.writer import write_structure

DATA = Path(prody.__file__).parent / "tests" / "datafiles"
UBIQUITIN = DATA / "pdb1ubi.pdb"


@pytest.fixture(scope="module")
def reference() -> struc.AtomArray:
    return read_structure(UBIQUITIN, model=1)[0]


def peptide_bonds(atoms: struc.AtomArray) -> np.ndarray:
    """C(i)-N(i+1) distances between consecutive residues of one chain, in file order."""
    c, n = atoms.coord[atoms.atom_name == "C"][:-1], atoms.coord[atoms.atom_name == "N"][1:]
    return np.linalg.norm(c - n, axis=1)


def run(arguments: list[str], capsys) -> tuple[int, str, str]:
    status = main([*arguments, "--threads", "1"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def centroid_beads(reference: struc.AtomArray, name: str = "CEN") -> struc.AtomArray:
    table = residue_table(reference)
    beads = reference[struc.get_residue_starts(reference)].copy()
    beads.coord = bead_positions(table, "centroid").astype(np.float32)
    beads.atom_name[:] = name
    beads.element[:] = "C"
    return beads


def test_a_jump_in_numbering_between_bonded_residues_is_no_chain_break(reference, tmp_path, capsys):
    """Residues 40.. renumbered 50..: C-alphas still 3.8 A apart, so one chain; the output's
    peptide bond there is a bond (1.33 A), not the 3.2 A gap of a numbering-based break."""
    trace = reference[reference.atom_name == "CA"].copy()
    trace.res_id[trace.res_id >= 40] += 10
    source, output = write_structure(trace, tmp_path / "jump.pdb"), tmp_path / "out.pdb"
    assert run([str(source), "-o", str(output)], capsys)[0] == 0
    bonds = peptide_bonds(read_structure(output)[0])
    assert bonds[38] < 1.45 and bonds.max() < 1.45  # residue 39 -> 50 (was 40)


def test_a_real_gap_breaks_the_chain_whatever_the_numbering(reference, tmp_path, capsys):
    """Residues 35-37 removed and the rest renumbered to close the gap: C-alphas 7+ A apart, a
    break; no peptide bond is built across it."""
    trace = reference[(reference.atom_name == "CA") & ~np.isin(reference.res_id, [35, 36, 37])].copy()
    trace.res_id = np.arange(1, len(trace) + 1)
    table = residue_table(trace)
    breaks = geometric_chain_breaks(table, bead_positions(table, "ca"), "ca", all_atom=False)
    assert list(np.flatnonzero(breaks)) == [0, 34]
    source, output = write_structure(trace, tmp_path / "gap.pdb"), tmp_path / "out.pdb"
    assert run([str(source), "-o", str(output)], capsys)[0] == 0
    bonds = peptide_bonds(read_structure(output)[0])
    assert bonds[33] > 3.0 and np.delete(bonds, 33).max() < 1.45


@pytest.mark.parametrize("name", ["CEN", "SC", "CA"])
def test_centroid_beads_of_any_name_give_one_bonded_chain(reference, tmp_path, capsys, name):
    """Centroid beads (one atom per residue, named CEN, SC or even CA) with --beads centroid:
    all 76 residues, 75 peptide bonds of bond length (the 4.2 A C-alpha rule would have broken
    most of them: centroids are 4.8 A apart on average), and an all-heavy RMSD near the shipped
    model's 0.9 A."""
    from gaan.tasks.protein.metrics import backmap_metric_sums

    source, output = write_structure(centroid_beads(reference, name), tmp_path / "beads.pdb"), tmp_path / "out.pdb"
    status, printed, _ = run([str(source), "-o", str(output), "--beads", "centroid"], capsys)
    assert status == 0 and "76 of 76 residues" in printed
    predicted = read_structure(output)[0]
    assert peptide_bonds(predicted).max() < 1.45
    assert backmap_metric_sums(predicted, reference).summary()["rmsd"] < 1.3


def test_centroid_chain_breaks_agree_with_the_atoms_on_the_test_proteins():
    """On the bench proteins, the breaks read from centroid beads alone are those the atoms show."""
    for name in ("pdb1ubi.pdb", "pdb1ake.pdb", "pdb3mht.pdb"):
        atoms = read_structure(DATA / name, model=1)[0]
        atoms = atoms[atoms.res_name != "UNK"]
        table = residue_table(atoms)
        from_atoms = geometric_chain_breaks(table, bead_positions(table, "ca"), "ca")
        beads = centroid_beads(atoms)
        bead_table = residue_table(beads)
        from_centroids = geometric_chain_breaks(bead_table, beads.coord.astype(float), "centroid", all_atom=False)
        np.testing.assert_array_equal(from_centroids, from_atoms, err_msg=name)


def test_a_c_alpha_trace_given_as_centroids_is_refused(reference, tmp_path, capsys):
    source, output = write_structure(reference[reference.atom_name == "CA"], tmp_path / "trace.pdb"), tmp_path / "out.pdb"
    status, _, error = run([str(source), "-o", str(output), "--beads", "centroid"], capsys)
    assert status == 1 and not output.exists()
    assert re.match(r"gaan-backmap: error: \S*trace\.pdb: the beads look like a C-alpha trace.*pass --beads ca$", error.strip())


def test_centroid_beads_given_as_c_alphas_are_refused(reference, tmp_path, capsys):
    source, output = write_structure(centroid_beads(reference), tmp_path / "beads.pdb"), tmp_path / "out.pdb"
    status, _, error = run([str(source), "-o", str(output)], capsys)
    assert status == 1 and not output.exists()
    assert "beads.pdb: the bead atoms are named CEN, not CA: residue centroids need --beads centroid" in error


def modified_ubiquitin(path: Path) -> Path:
    """Ubiquitin with MET 1 as MSE (HETATM, SE), THR 7 as TPO (ATOM) and SER 20 as SEP (HETATM,
    with its phosphate), written the PDB's way."""
    lines = []
    for line in UBIQUITIN.read_text().splitlines():
        if not line.startswith(("ATOM", "HETATM")):
            continue
        number = int(line[22:26])
        if number == 1 and line.startswith("ATOM"):
            line = "HETATM" + line[6:17] + "MSE" + line[20:]
            if line[12:16] == " SD ":
                line = line[:12] + "SE  " + line[16:76] + "SE" + line[78:]
        elif number == 7:
            line = line[:17] + "TPO" + line[20:]
        elif number == 20:
            line = "HETATM" + line[6:17] + "SEP" + line[20:]
            if line[12:16] == " OG ":
                lines.append(line)
                for k, atom in enumerate((" P  ", " O1P", " O2P", " O3P")):
                    shifted = f"{float(line[30:38]) + 1.0 + 0.5 * k:8.3f}"
                    lines.append(line[:12] + atom + line[16:30] + shifted + line[38:76] + atom.strip()[0].rjust(2) + line[78:])
                continue
        lines.append(line)
    path.write_text("\n".join(lines) + "\nEND\n")
    return path


def test_modified_residues_are_built_as_their_parent_and_named(tmp_path, capsys):
    source, output = modified_ubiquitin(tmp_path / "modified.pdb"), tmp_path / "out.pdb"
    status, printed, _ = run([str(source), "-o", str(output)], capsys)
    assert status == 0
    assert "76 of 76 residues" in printed
    assert "note: 3 modified residue(s) built as their parent amino acid: MSE A1 -> MET, TPO A7 -> THR, SEP A20 -> SER" in printed
    assert "(modification atoms left out: O1P, O2P, O3P, P)" in printed
    predicted = read_structure(output)[0]
    names = {int(r): str(n) for r, n in zip(predicted.res_id, predicted.res_name)}
    assert (names[1], names[7], names[20]) == ("MET", "THR", "SER")
    assert "SD" in predicted.atom_name[predicted.res_id == 1] and "P" not in predicted.atom_name


def test_what_is_dropped_is_named(reference, tmp_path, capsys):
    """Waters, a ligand, a DNA residue and a residue without C-alpha (C-alpha beads) are all
    named in the report, not only counted away."""
    lines = [
        line
        for line in UBIQUITIN.read_text().splitlines()
        if line.startswith("ATOM") and not (line[22:26] == "  10" and line[12:16] == " CA ")  # GLY 10 without its CA
    ]
    extra = [
        "HETATM 9001  O   HOH W 201      10.000  10.000  10.000  1.00  0.00           O",
        "HETATM 9002  O   HOH W 202      12.000  10.000  10.000  1.00  0.00           O",
        "HETATM 9003  C1  NAG L 301      20.000  10.000  10.000  1.00  0.00           C",
        "ATOM   9004  P    DA D   1      30.000  10.000  10.000  1.00  0.00           P",
        "ATOM   9005  C1'  DA D   1      31.000  10.000  10.000  1.00  0.00           C",
    ]
    source = tmp_path / "mixed.pdb"
    source.write_text("\n".join(lines + extra) + "\nEND\n")
    status, printed, _ = run([str(source), "-o", str(tmp_path / "out.pdb")], capsys)
    assert status == 0
    assert "note: dropped 2 water and ion residue(s): HOH W201, HOH W202" in printed
    assert "note: dropped 1 ligand(s) and other HETATM residue(s): NAG L301" in printed
    assert "note: dropped 1 nucleotide(s): DA D1" in printed
    assert re.search(r"note: 1 residue\(s\) left out: no bead .*: GLY A10", printed)
    assert "75 of 76 residues" in printed


@pytest.mark.parametrize("kept", [[30], list(range(1, 20)) + [30] + list(range(41, 77))])
def test_a_residue_without_sequence_neighbours_is_built_not_collapsed(reference, tmp_path, capsys, kept):
    """A lone residue (ILE 30), alone or cut off by gaps on both sides: the ideal residue on its
    C-alpha, its atoms apart from each other with ideal bonds, instead of all on one point."""
    trace = reference[(reference.atom_name == "CA") & np.isin(reference.res_id, kept)]
    source, output = write_structure(trace, tmp_path / "lone.pdb"), tmp_path / "out.pdb"
    status, printed, _ = run([str(source), "-o", str(output)], capsys)
    assert status == 0 and "1 residue(s) without sequence neighbours built from the ideal residue: ILE A30" in printed
    predicted = read_structure(output)[0]
    residue = predicted[predicted.res_id == 30]
    assert len(residue) == 8
    distances = np.linalg.norm(residue.coord[:, None] - residue.coord[None], axis=-1)[np.triu_indices(len(residue), 1)]
    # the shortest bond (C=O, 1.23 A) may end up to 0.05 A short: the refinement's flat bottom
    assert distances.min() > 1.15
    np.testing.assert_allclose(residue.coord[residue.atom_name == "CA"][0], trace.coord[trace.res_id == 30][0], atol=1e-3)
    sums = geometry_sums(residue)
    assert sums.bond_outliers == 0 and sums.chirality_errors == 0


def test_two_character_chain_ids_stay_apart(reference, tmp_path, capsys):
    """A hybrid-36 style file with chains AA and BA (columns 21-22) holding the same residue
    numbers: two chains in, two chains out (not one chain with every residue twice)."""
    trace = reference[reference.atom_name == "CA"]
    lines = []
    for chain, shift in (("AA", 0.0), ("BA", 60.0)):
        for atom in trace:
            x, y, z = atom.coord + np.array([shift, 0.0, 0.0])
            lines.append(f"ATOM  {1:5d}  CA  {atom.res_name}{chain}{atom.res_id:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00           C")
    source, output = tmp_path / "h36.pdb", tmp_path / "out.pdb"
    source.write_text("\n".join(lines) + "\nEND\n")
    status, printed, _ = run([str(source), "-o", str(output)], capsys)
    assert status == 0 and "152 of 152 residues" in printed
    predicted = read_structure(output)[0]
    assert list(dict.fromkeys(predicted.chain_id)) == ["AA", "BA"]
    assert struc.get_residue_count(predicted) == 152


def test_messages_name_the_flags(tmp_path, capsys):
    """Errors name --ckpt and --model (the flags), not eval.py's ckpt_path= or model=."""
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    status, _, error = run([str(DATA / "pdb1ubi_ca.pdb"), "-o", str(tmp_path / "out.pdb"), "--ckpt", str(bad)], capsys)
    assert status == 1 and "--ckpt" in error and "bad.ckpt" in error and "ckpt_path=" not in error
    status, _, error = run([str(DATA / "pdb1ubi_ca.pdb"), "-o", str(tmp_path / "out.pdb"), "--model", "3"], capsys)
    assert status == 1 and "model 3 requested but the file has 1 model(s)" in error
    two_models = tmp_path / "two.pdb"
    text = UBIQUITIN.read_text().splitlines()
    atoms = [line for line in text if line.startswith("ATOM")]
    two_models.write_text("\n".join(["MODEL 1", *atoms, "ENDMDL", "MODEL 2", *atoms[:-5], "ENDMDL"]) + "\n")
    status, _, error = run([str(two_models), "-o", str(tmp_path / "out.pdb")], capsys)
    assert status == 1 and "read one model with --model N" in error and "model=N" not in error


def test_martini_beads_are_named_not_half_read(reference, tmp_path, capsys):
    """Martini BB / SC beads without --beads martini (the default is C-alphas) get an error
    saying which bead kind reads them, not a misleading 'no protein residues' or a C-alpha model
    run on BB beads (tests/test_backmap_martini.py backmaps them)."""
    lines = []
    for k, atom in enumerate(reference[reference.atom_name == "CA"]):
        for bead, shift in (("BB", 0.0), ("SC1", 2.0)):
            if bead == "SC1" and atom.res_name in ("GLY", "ALA"):
                continue
            x, y, z = atom.coord + shift
            lines.append(f"ATOM  {k + 1:5d}  {bead:<3} {atom.res_name} A{atom.res_id:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00")
    source, output = tmp_path / "martini.pdb", tmp_path / "out.pdb"
    source.write_text("\n".join(lines) + "\nEND\n")
    status, _, error = run([str(source), "-o", str(output)], capsys)
    assert status == 1 and not output.exists()
    assert "martini.pdb" in error and "Martini backbone beads" in error and "pass --beads martini" in error
