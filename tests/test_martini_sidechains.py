"""Martini 3 side-chain beads (issue 31): vermouth's mapping (cached), the beads of martinize2's
own output, the beads as rotation-covariant input points, and the shipped martini model reading them."""

from pathlib import Path

import numpy as np
import prody
import pytest
import torch
from scipy.spatial.transform import Rotation

from gaan.data import collate_point_clouds
from gaan.tasks.protein import bead_positions, chain_breaks, read_structure, residue_environments, residue_table
from gaan.tasks.protein.martini_sidechains import (
    MAX_SIDECHAIN_BEADS,
    file_sidechain_beads,
    mapped_sidechain_beads,
    sidechain_bead_names,
)
from gaan.tasks.protein.residues import RESIDUE_ATOMS
from gaan.tasks.protein.sidechain_points import NUM_SIDECHAIN_FEATURES, add_sidechain_points

DATA = Path(prody.__file__).parent / "tests" / "datafiles"
UBIQUITIN = DATA / "pdb1ubi.pdb"
# martinize2's own Martini 3 file of ubiquitin (its REMARKs give the command)
MARTINIZED = Path(__file__).parent / "fixtures" / "1ubi_martini3_martinize2.pdb"


def test_cached_table_is_vermouths_and_bead_counts_are_martini3s():
    """The shipped table equals what vermouth's mapping files give, and every residue type has the
    side-chain beads of vermouth's martini3001 force field (its own residue blocks, another source
    than the mappings): TRP 5, TYR 4, PHE and HIS 3, LYS and ARG 2, ALA 1 (Martini 3 gives
    alanine a bead; Martini 2 did not), GLY none."""
    import vermouth.forcefield
    from vermouth.forcefield import get_native_force_field

    from gaan.tasks.protein.martini import derive_sidechain_weights, sidechain_weights

    assert sidechain_weights() == derive_sidechain_weights()
    force_field = get_native_force_field("martini3001")
    assert isinstance(force_field, vermouth.forcefield.ForceField)
    for name in RESIDUE_ATOMS:
        block = force_field.blocks[name]
        expected = tuple(sorted(atom["atomname"] for atom in block.nodes.values() if atom["atomname"] != "BB"))
        assert sidechain_bead_names(name) == expected, name
    counts = {name: len(sidechain_bead_names(name)) for name in ("TRP", "TYR", "PHE", "HIS", "LYS", "ARG", "ALA", "GLY")}
    assert counts == {"TRP": 5, "TYR": 4, "PHE": 3, "HIS": 3, "LYS": 2, "ARG": 2, "ALA": 1, "GLY": 0}
    assert derive_sidechain_weights("martini22")["ALA"] == {}


def test_mapped_beads_are_vermouths_average_of_the_mapped_atoms():
    """On 3mht (every amino acid type, five TRP), each side-chain bead is vermouth's own bead
    averaging (`do_average_bead`, mass-weighted as martinize2 does) of the atoms with their
    mapping weights (PHE's ring atoms are shared between beads)."""
    import networkx as nx
    from vermouth.processors.attach_mass import attach_mass
    from vermouth.processors.average_beads import do_average_bead

    from gaan.tasks.protein.martini import sidechain_weights

    table = residue_table(read_structure(DATA / "pdb3mht.pdb")[0])
    assert {"TRP", "PHE", "HIS", "CYS"} <= set(table.res_names)
    beads = mapped_sidechain_beads(table)
    graph, keys = nx.Graph(), []
    for r, name in enumerate(table.res_names):
        atoms = RESIDUE_ATOMS.get(str(name), ())
        for slot, (bead, weights) in enumerate(sidechain_weights().get(str(name), {}).items()):
            members = nx.Graph()
            for i, atom in enumerate(atoms):
                if atom in weights and table.present[r, i]:
                    members.add_node(atom, element=atom[0], position=table.coords[r, i])
            attach_mass(members)
            masses = {atom: members.nodes[atom]["mass"] for atom in members}
            # the table stores mapping weight times mass; vermouth multiplies the mass in itself
            graph.add_node((r, bead), graph=members, mapping_weights={a: weights[a] / masses[a] for a in members})
            keys.append((r, slot))
    do_average_bead(graph, weight="mass")
    expected = np.array([graph.nodes[node]["position"] for node in graph.nodes])
    np.testing.assert_allclose(np.array([beads[r, slot] for r, slot in keys]), expected, atol=1e-9)
    assert np.isfinite(beads[table.res_names == "TRP"]).all()  # five beads each
    assert not np.isfinite(beads[table.res_names == "GLY"]).any()


def test_martinize2_output_is_read_bead_for_bead():
    """martinize2's file of ubiquitin: every residue's side-chain beads are read into their slots
    (SC1 first) and equal our mapping of the all-atom structure to the file's 0.001 A precision."""
    beads = file_sidechain_beads(read_structure(MARTINIZED)[0])
    table = residue_table(read_structure(UBIQUITIN)[0])
    mapped = mapped_sidechain_beads(table)
    np.testing.assert_array_equal(np.isfinite(beads), np.isfinite(mapped))
    assert np.nanmax(np.abs(beads - mapped)) < 1e-3
    counts = np.isfinite(beads).all(-1).sum(1)
    for r, name in enumerate(table.res_names):
        assert counts[r] == len(sidechain_bead_names(name)), name


def _martinized_lines() -> list[str]:
    return MARTINIZED.read_text().splitlines()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda line: line.replace(" SC2  PHE", " SC7  PHE"), "unknown Martini bead SC7"),
        (lambda line: line.replace(" SC1  LYS A   6", " XX1  LYS A   6"), "unknown Martini bead XX1"),
        (lambda line: line.replace(" SC1  GLN A   2", " SC3  GLN A   2"), "has a bead SC3, which Martini 3 does not give GLN"),
    ],
)
def test_bad_bead_names_are_one_line_naming_file_and_residue(change, message, tmp_path, capsys):
    from gaan.tasks.protein.cli import main

    source, output = tmp_path / "cg.pdb", tmp_path / "out.pdb"
    source.write_text("\n".join(change(line) for line in _martinized_lines()) + "\n")
    assert main([str(source), "-o", str(output), "--beads", "martini", "--threads", "1"]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error and "cg.pdb" in error
    assert any(label in error for label in ("PHE", "LYS", "GLN"))
    assert not output.exists()


def _samples(table, rotation=None, shift=None):
    """Environments of a table with its Martini side-chain beads, the coordinates turned first."""
    if rotation is not None:
        table.coords = table.coords @ rotation.T + (0.0 if shift is None else shift)
    beads = bead_positions(table, "martini")
    samples = residue_environments(
        beads, table.res_names, table.chain_ids, table.res_ids, k=12, beads="martini", chain_breaks=chain_breaks(table)
    )
    return add_sidechain_points(samples, mapped_sidechain_beads(table), beads)


def test_sidechain_points_turn_with_the_input_and_carry_their_bead_one_hot():
    table = residue_table(read_structure(UBIQUITIN)[0])
    plain = _samples(table)
    rotation = Rotation.random(random_state=3).as_matrix()
    turned = _samples(residue_table(read_structure(UBIQUITIN)[0]), rotation, np.array([4.0, -7.0, 1.5]))
    phe = next(s for s in plain if table.res_names[s["residue_index"]] == "PHE")
    extra = phe["positions"].shape[0] - 13  # 12 beads and the handedness point, then SC1..SC3
    assert extra == 3 and phe["features"].shape[1] == NUM_SIDECHAIN_FEATURES
    one_hot = phe["features"][-3:, NUM_SIDECHAIN_FEATURES - 1 - MAX_SIDECHAIN_BEADS : -1]
    torch.testing.assert_close(one_hot[:, :3], torch.eye(3))
    for a, b in zip(plain, turned):
        torch.testing.assert_close(b["positions"], a["positions"] @ torch.tensor(rotation.T, dtype=torch.float32), atol=2e-4, rtol=0)
        torch.testing.assert_close(b["features"], a["features"])


@pytest.fixture(scope="module")
def shipped_martini():
    from gaan.tasks.protein.backmap import Backmapper, shipped_checkpoint

    return Backmapper.load(shipped_checkpoint("martini"))


def test_shipped_model_is_equivariant_and_blind_to_sidechain_order_and_padding(shipped_martini):
    """The shipped martini model reads side-chain beads; its atom vectors turn with the input, do
    not change when a residue's side-chain points are listed in another order, and do not change
    with the padding of a batch (a residue alone or beside a TRP's 17 points)."""
    assert shipped_martini.sidechain_beads
    network = shipped_martini.network
    table = residue_table(read_structure(UBIQUITIN)[0])
    rotation = Rotation.random(random_state=5).as_matrix()
    plain = _samples(table)
    turned = _samples(residue_table(read_structure(UBIQUITIN)[0]), rotation)
    with torch.inference_mode():
        vectors = network(collate_point_clouds(plain))
        turned_vectors = network(collate_point_clouds(turned))
        torch.testing.assert_close(turned_vectors, vectors @ torch.tensor(rotation.T, dtype=torch.float32), atol=2e-4, rtol=0)
        tyr = next(i for i, s in enumerate(plain) if table.res_names[s["residue_index"]] == "TYR")
        sample = plain[tyr]
        order = torch.tensor([*range(13), 16, 14, 13, 15])  # SC4, SC2, SC1, SC3
        shuffled = {**sample, "positions": sample["positions"][order], "features": sample["features"][order]}
        alone = network(collate_point_clouds([sample]))
        torch.testing.assert_close(network(collate_point_clouds([shuffled])), alone, atol=1e-5, rtol=0)
        glycine = next(s for s in plain if table.res_names[s["residue_index"]] == "GLY")
        torch.testing.assert_close(network(collate_point_clouds([glycine, sample]))[1:], alone, atol=1e-5, rtol=0)
        # the side-chain beads matter: without them the TYR's atoms move
        bare = {**sample, "positions": sample["positions"][:13], "features": sample["features"][:13]}
        assert (network(collate_point_clouds([bare])) - alone).abs().max() > 0.3


def test_martinize2_file_backmaps_with_side_chains_and_names_missing_beads(tmp_path, capsys):
    """The CLI on martinize2's file: every residue backmapped and the side chains close to the
    native (measured: all heavy 0.828 A, side chain 1.094 A; BB beads alone gave 1.41 and 1.95, so
    the bounds fail if the side-chain beads are not read); removing LYS 6's SC2 and all of PHE 4's
    side-chain beads names both residues as backmapped without them."""
    from gaan.tasks.protein.cli import main
    from gaan.tasks.protein.metrics import backmap_metric_sums

    output = tmp_path / "out.pdb"
    assert main([str(MARTINIZED), "-o", str(output), "--threads", "1", "--beads", "martini"]) == 0
    printed = capsys.readouterr().out
    assert "76 of 76 residues" in printed and "side-chain beads" not in printed
    summary = backmap_metric_sums(read_structure(output)[0], read_structure(UBIQUITIN)[0]).summary()
    assert summary["rmsd_sidechain"] < 1.4 and summary["rmsd"] < 1.1
    lines = [line for line in _martinized_lines() if not (" SC2  LYS A   6" in line or ("PHE A   4" in line and " SC" in line))]
    source = tmp_path / "cg.pdb"
    source.write_text("\n".join(lines) + "\n")
    assert main([str(source), "-o", str(tmp_path / "partial.pdb"), "--threads", "1", "--beads", "martini"]) == 0
    printed = capsys.readouterr().out
    assert "2 residue(s) without all their Martini side-chain beads" in printed and "PHE A4" in printed and "LYS A6" in printed
    assert "by protein_martini_bb.ckpt" in printed


def test_bb_beads_alone_go_to_the_shipped_bb_model(tmp_path, capsys):
    """A Martini file of BB beads only: every residue that should have side-chain beads is named
    and backmapped by the BB-bead model shipped beside the martini one (measured 1.421 A all heavy
    on ubiquitin; the side-chain model given BB beads alone, which it never saw, gave 4.07 A)."""
    from gaan.tasks.protein.backmap import Backmapper, shipped_checkpoint
    from gaan.tasks.protein.cli import main
    from gaan.tasks.protein.metrics import backmap_metric_sums

    fallback = Backmapper.load(shipped_checkpoint("martini")).fallback
    assert fallback is not None and not fallback.sidechain_beads and fallback.path.name == "protein_martini_bb.ckpt"
    source, output = tmp_path / "bb.pdb", tmp_path / "out.pdb"
    source.write_text("\n".join(line for line in _martinized_lines() if " SC" not in line) + "\n")
    assert main([str(source), "-o", str(output), "--threads", "1", "--beads", "martini"]) == 0
    assert "70 residue(s) without all their Martini side-chain beads" in capsys.readouterr().out  # all but the 6 GLY
    summary = backmap_metric_sums(read_structure(output)[0], read_structure(UBIQUITIN)[0]).summary()
    assert summary["rmsd"] < 1.6


def test_a_bb_bead_checkpoint_names_the_side_chain_beads_it_leaves_unread(tmp_path, capsys):
    """`--ckpt protein_martini_bb.ckpt` (trained on BB beads alone) on martinize2's full file: the
    side-chain beads are not read, and the report says so for every residue that has them (all
    but ubiquitin's 6 GLY); the side-chain checkpoint reads them and reports nothing of the kind."""
    from gaan.tasks.protein.backmap import shipped_checkpoint
    from gaan.tasks.protein.cli import main

    bb_model = shipped_checkpoint("martini").with_name("protein_martini_bb.ckpt")
    source = tmp_path / "cg.pdb"
    source.write_text("\n".join(_martinized_lines()) + "\n")
    assert main([str(source), "-o", str(tmp_path / "bb.pdb"), "--threads", "1", "--beads", "martini", "--ckpt", str(bb_model)]) == 0
    assert "70 residue(s) whose Martini side-chain beads (SC1..) this checkpoint does not read" in capsys.readouterr().out
    assert main([str(source), "-o", str(tmp_path / "sc.pdb"), "--threads", "1", "--beads", "martini"]) == 0
    assert "does not read" not in capsys.readouterr().out


def test_dropped_sidechain_points_are_exactly_absent_ones(shipped_martini):
    """`drop_sidechain_points` (how bench/martini_hidden_sidechains.py hides beads) hides every
    side-chain point of the chosen samples and nothing else: the network's output equals that for
    the samples built without those points, and fraction 0 leaves the batch as it is."""
    from gaan.tasks.protein.sidechain_points import drop_sidechain_points, sidechain_point_mask

    table = residue_table(read_structure(UBIQUITIN)[0])
    samples = _samples(table)[:8]
    batch = drop_sidechain_points(collate_point_clouds(samples), 0.5, torch.Generator().manual_seed(0))
    dropped = [bool(batch.mask[i].sum() < len(s["positions"])) for i, s in enumerate(samples)]
    assert any(dropped) and not all(dropped)
    assert not (batch.mask & sidechain_point_mask(batch.features))[torch.tensor(dropped)].any()
    bare = [{**s, "positions": s["positions"][:13], "features": s["features"][:13]} if d else s for s, d in zip(samples, dropped)]
    with torch.inference_mode():
        torch.testing.assert_close(shipped_martini.network(batch), shipped_martini.network(collate_point_clouds(bare)), atol=1e-5, rtol=0)
    untouched = collate_point_clouds(samples)
    assert drop_sidechain_points(untouched, 0.0).mask.sum() == sum(len(s["positions"]) for s in samples)


def test_datamodule_reads_sidechain_beads_of_martini_beads_only(tmp_path):
    from gaan.tasks.protein.datamodule import ProteinDataModule

    with pytest.raises(ValueError, match="sidechain_beads needs beads: martini"):
        ProteinDataModule(str(tmp_path), beads="ca", sidechain_beads=True)
    assert ProteinDataModule(str(tmp_path), beads="martini", sidechain_beads=True).num_features == NUM_SIDECHAIN_FEATURES
    assert ProteinDataModule(str(tmp_path), beads="martini").num_features == NUM_SIDECHAIN_FEATURES - MAX_SIDECHAIN_BEADS
