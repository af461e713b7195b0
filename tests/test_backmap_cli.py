"""gaan-backmap's command line: light imports (no torch for --help, no Lightning to predict), the
Lightning-free network predicting exactly like the trained task, several inputs into one
output directory, and --device."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import prody
import pytest
import torch
from biotite.structure.io import pdb

from gaan.tasks.protein import NUM_ENVIRONMENT_FEATURES, bead_positions, chain_breaks, read_structure, residue_environments, residue_table
from gaan.tasks.protein.backmap import shipped_checkpoint
from gaan.tasks.protein.cli import main

DATA = Path(prody.__file__).parent / "tests" / "datafiles"
TRACE = DATA / "pdb1ubi_ca.pdb"


def imported_modules(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(process.stdout.split())


def test_help_imports_no_torch_and_the_work_no_lightning():
    """`gaan-backmap --help` answers without torch, biotite or Lightning; the backmapping itself
    imports torch but neither Lightning nor torchmetrics nor hydra (each costs CPU seconds per call)."""
    cli = imported_modules("from gaan.tasks.protein.cli import parse_args")
    assert not {"torch", "biotite", "lightning", "numpy"} & cli
    work = imported_modules("import gaan.tasks.protein.backmap")
    assert "torch" in work
    assert not {"lightning", "torchmetrics", "hydra", "pytorch_lightning"} & work


def test_cli_constants_agree_with_the_package():
    from gaan.tasks.protein import cli
    from gaan.tasks.protein.coarse_grain import BEAD_KINDS

    assert cli.BEAD_KINDS == BEAD_KINDS


@pytest.mark.parametrize("beads", ["ca", "centroid", "martini"])
def test_network_predicts_like_the_trained_task_module(beads):
    """The shipped checkpoint through `load_network` (no Lightning) and through the task module
    (`load_trained_module`, as eval.py loads it) gives the same vectors on ubiquitin."""
    from gaan.checkpoints import load_trained_module
    from gaan.data import collate_point_clouds
    from gaan.tasks.protein.backmap import Backmapper
    from gaan.tasks.protein.martini_sidechains import mapped_sidechain_beads
    from gaan.tasks.protein.network import load_network
    from gaan.tasks.protein.sidechain_points import NUM_SIDECHAIN_FEATURES, add_sidechain_points

    path = shipped_checkpoint(beads)
    table = residue_table(read_structure(DATA / "pdb1ubi.pdb")[0])
    positions = bead_positions(table, beads)
    samples = residue_environments(
        positions, table.res_names, table.chain_ids, table.res_ids, k=12, beads=beads, chain_breaks=chain_breaks(table)
    )
    sidechains = Backmapper.load(path).sidechain_beads  # the martini model reads side-chain beads too
    if sidechains:
        samples = add_sidechain_points(samples, mapped_sidechain_beads(table), positions)
    batch = collate_point_clouds(samples)
    with torch.inference_mode():
        light = load_network(path)(batch)
        features = NUM_SIDECHAIN_FEATURES if sidechains else NUM_ENVIRONMENT_FEATURES
        task = load_trained_module(path, in_features=features).predict(batch)["vectors"]
    assert light.abs().mean() > 0.3  # atoms away from their bead
    torch.testing.assert_close(light, task, rtol=0, atol=1e-6)


def test_several_inputs_into_an_output_directory(tmp_path, capsys):
    """Two traces, one call, `-o out/`: each written under its own name and reported; a bad third
    input is named, the others are still written, and the exit status says one failed."""
    first = tmp_path / "one.pdb"
    first.write_bytes(TRACE.read_bytes())
    second = tmp_path / "two.pdb"
    second.write_text("\n".join(line for line in TRACE.read_text().splitlines() if line.startswith("ATOM") and int(line[22:26]) <= 30))
    broken = tmp_path / "broken.pdb"
    broken.write_text("not a structure\n")
    out = tmp_path / "out"
    assert main([str(first), str(second), str(broken), "-o", f"{out}/", "--threads", "1"]) == 1
    captured = capsys.readouterr()
    assert f"{first} -> {out / 'one.pdb'}" in captured.out and f"{second} -> {out / 'two.pdb'}" in captured.out
    assert "broken.pdb: no ATOM/HETATM records" in captured.err and "1 of 3 inputs failed" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["one.pdb", "two.pdb"]
    counts = [len(np.unique(pdb.PDBFile.read(out / name).get_structure(model=1).res_id)) for name in ("one.pdb", "two.pdb")]
    assert counts == [76, 30]


def test_a_failure_that_does_not_name_its_input_is_named_and_the_others_are_written(tmp_path, capsys, monkeypatch):
    """A ValueError from deep inside (its message names no file) is reported on one line that
    starts with the input's name; the other input is still backmapped and written whole."""
    from gaan.tasks.protein import backmap_run

    good, bad = tmp_path / "good.pdb", tmp_path / "bad.pdb"
    good.write_bytes(TRACE.read_bytes())
    bad.write_bytes(TRACE.read_bytes())
    original = backmap_run.backmap_file

    def failing_for_bad(source, *args, **kwargs):
        if Path(source) == bad:
            raise ValueError("links: 3 flags for 76 residues\n(one per consecutive pair)")
        return original(source, *args, **kwargs)

    monkeypatch.setattr(backmap_run, "backmap_file", failing_for_bad)
    out = tmp_path / "out"
    assert main([str(bad), str(good), "-o", f"{out}/", "--threads", "1", "--no-refine"]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert f"gaan-backmap: error: {bad}: links: 3 flags for 76 residues (one per consecutive pair)" in errors
    assert any("1 of 2 inputs failed (named above); the others were written" in line for line in errors)
    assert sorted(p.name for p in out.iterdir()) == ["good.pdb"]
    assert len(np.unique(pdb.PDBFile.read(out / "good.pdb").get_structure(model=1).res_id)) == 76


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["a.pdb", "b.pdb", "-o", "out.pdb"], "2 inputs need an output directory"),
        (["x/a.pdb", "y/a.pdb", "-o", "out/"], "would both be written to out/a.pdb"),
        (["a.pdb", "b.pdb", "--trajectory", "t.dcd", "-o", "out.dcd"], "--trajectory takes one topology INPUT"),
        (["a.pdb", "-o", "0.pdb", "--threads", "0"], "--threads must be >= 1"),
        (["t.psf", "--trajectory", "t.dcd", "-o", "o.dcd", "--model", "2"], "with --trajectory every frame is backmapped"),
    ],
)
def test_option_errors_are_named_before_any_work(arguments, message, capsys):
    assert main(arguments) == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present: --device cuda works")
def test_device_cuda_without_a_gpu_is_a_clear_error(tmp_path, capsys):
    assert main([str(TRACE), "-o", str(tmp_path / "out.pdb"), "--device", "cuda"]) == 1
    assert "--device cuda: torch finds no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "out.pdb").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_cuda_gives_the_cpu_atoms(tmp_path):
    cpu, cuda = tmp_path / "cpu.pdb", tmp_path / "cuda.pdb"
    assert main([str(TRACE), "-o", str(cpu), "--no-refine"]) == 0
    assert main([str(TRACE), "-o", str(cuda), "--no-refine", "--device", "cuda"]) == 0
    a, b = (pdb.PDBFile.read(p).get_structure(model=1) for p in (cpu, cuda))
    assert np.abs(a.coord - b.coord).max() < 0.01


def test_the_command_imports_no_torch_dynamo_and_writes_the_in_process_atoms(tmp_path):
    """A refined backmapping as its own process (`python -m gaan.tasks.protein.cli`) never imports
    torch._dynamo (0.85 CPU s: torch.optim's optimizers import it on their first step; the
    refinement's L-BFGS is `gaan.tasks.protein.lbfgs`), and writes the in-process call's file."""
    command, in_process = tmp_path / "command.pdb", tmp_path / "in_process.pdb"
    code = (
        "import sys; "
        f"sys.argv = ['gaan-backmap', {str(TRACE)!r}, '-o', {str(command)!r}, '--threads', '1']; "
        "from gaan.tasks.protein.cli import main; status = main(); "
        "print(status, 'torch._dynamo' in sys.modules, 'torch' in sys.modules)"
    )
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert process.stdout.split()[-3:] == ["0", "False", "True"]
    assert main([str(TRACE), "-o", str(in_process), "--threads", "1"]) == 0
    assert command.read_bytes() == in_process.read_bytes()
