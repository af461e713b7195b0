"""gaan-backmap's B-factor column: each atom's distance from the network's predicted position to
the written (refined) one, recomputed here from the network's atoms and the file; atoms kept as
given get 0.00; the REMARK lines say so; multi-model and trajectory outputs carry each model's own."""

import gzip
import io
import warnings
from pathlib import Path

import biotite.structure as struc
import numpy as np
import pytest
from biotite.structure.io import pdb, pdbx
from protein_samples import ubiquitin_atoms

from gaan.tasks.protein import read_structure
from gaan.tasks.protein.backmap import (
    Backmapper,
    backmap_file,
    predict_model,
    shipped_checkpoint,
)
from gaan.tasks.protein.backmap_report import CONFIDENCE_REMARKS, UNREFINED_CONFIDENCE_REMARKS
from gaan.tasks.protein.cli import main
from gaan.tasks.protein.writer import write_structure

# a PDB file rounds coordinates to 0.001 A and B-factors to 0.01: the recomputed distance agrees to this
PDB_ROUNDING = 0.005 + 0.002


@pytest.fixture(scope="module")
def backmapper() -> Backmapper:
    return Backmapper.load(shipped_checkpoint("ca"), "ca")


@pytest.fixture(scope="module")
def fragment() -> struc.AtomArray:
    """Ubiquitin's first 20 residues, all atoms (a test protein: never trained on)."""
    return ubiquitin_atoms(20)


def read_b_factors(path: Path) -> tuple[struc.AtomArrayStack, list[str]]:
    """(every model with its b_factor annotation, the REMARK 999 texts) of a PDB file."""
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    remarks = [line[11:] for line in text.splitlines() if line.startswith("REMARK 999")]
    return pdb.PDBFile.read(io.StringIO(text)).get_structure(extra_fields=["b_factor"]), remarks


def test_the_column_is_the_distance_from_the_network_to_the_refined_atom(tmp_path, backmapper, fragment):
    source = write_structure(fragment, tmp_path / "fragment.pdb")
    output = tmp_path / "out.pdb"
    backmap_file(source, output, backmapper=backmapper)
    written, remarks = read_b_factors(output)
    # the network's atoms, unrefined, from the same beads (the file's atoms, as the tool reads them)
    network, _, _ = predict_model(backmapper, read_structure(source)[0], refine=False)
    assert np.array_equal(written.atom_name, network.atom_name) and np.array_equal(written.res_id, network.res_id)
    moved = np.linalg.norm(written.coord[0].astype(np.float64) - network.coord, axis=-1)
    assert np.abs(written.b_factor - moved).max() < PDB_ROUNDING
    assert moved.max() > 0.3  # refinement moves atoms: the column is not all zeros
    # C-alpha beads keep their C-alphas exactly: distance 0
    assert (written.b_factor[written.atom_name == "CA"] == 0).all()
    assert all(line in remarks for line in CONFIDENCE_REMARKS)


def test_without_refinement_the_column_is_zero_and_the_remark_says_why(tmp_path, backmapper, fragment):
    source = write_structure(fragment, tmp_path / "fragment.pdb")
    output = tmp_path / "raw.pdb.gz"
    backmap_file(source, output, backmapper=backmapper, refine=False)
    written, remarks = read_b_factors(output)
    assert (written.b_factor == 0).all()
    assert list(UNREFINED_CONFIDENCE_REMARKS) == [line for line in remarks if line.startswith("B-factor")]


def test_atoms_kept_as_given_get_zero(backmapper, fragment):
    """A residue of unknown type is not predicted: its input atoms are written, with B 0.00."""
    atoms = fragment.copy()
    atoms.res_name[atoms.res_id == 10] = "UNK"
    notes: dict[str, list[str]] = {}
    predicted, _, _ = predict_model(backmapper, atoms, notes=notes)
    kept = predicted.res_id == 10
    assert notes["unknown type"] == ["UNK A10"]
    assert np.array_equal(predicted.coord[kept], atoms.coord[atoms.res_id == 10])
    assert (predicted.b_factor[kept] == 0).all() and predicted.b_factor[~kept].max() > 0.3


def test_mmcif_and_several_models_carry_each_models_own_column(tmp_path, backmapper, fragment):
    moved = fragment.copy()
    moved.coord = moved.coord + np.random.default_rng(0).normal(scale=0.3, size=moved.coord.shape).astype(np.float32)
    source = write_structure(struc.stack([fragment, moved]), tmp_path / "two.pdb")
    result = backmap_file(source, tmp_path / "two.cif", backmapper=backmapper)
    assert result.b_factors.shape == (2, result.predicted.array_length())
    assert not np.allclose(result.b_factors[0], result.b_factors[1])  # other beads, other refinement
    cif = pdbx.CIFFile.read(str(tmp_path / "two.cif"))
    for model in (1, 2):
        read = pdbx.get_structure(cif, model=model, extra_fields=["b_factor"])
        assert np.abs(read.b_factor - result.b_factors[model - 1]).max() <= 0.005
    header = [line[2:].strip() for line in (tmp_path / "two.cif").read_text().splitlines() if line.startswith("# ")]
    assert all(line in header for line in CONFIDENCE_REMARKS)
    backmap_file(source, tmp_path / "two.pdb.gz", backmapper=backmapper)
    written, _ = read_b_factors(tmp_path / "two.pdb.gz")
    assert written.stack_depth() == 2
    assert np.abs(written.b_factor - result.b_factors[0]).max() < PDB_ROUNDING  # biotite reads model 1's column


@pytest.mark.parametrize("suffix", [".pdb", ".dcd"])
def test_trajectory_outputs_carry_the_column_where_the_format_has_one(tmp_path, capsys, fragment, suffix):
    mda = pytest.importorskip("MDAnalysis")
    topology = write_structure(fragment, tmp_path / "topology.pdb")
    trajectory = tmp_path / "run.dcd"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        universe = mda.Universe(str(topology))
        with mda.Writer(str(trajectory), universe.atoms.n_atoms) as writer:
            for shift in (0.0, 0.4):
                universe.atoms.positions = fragment.coord + np.random.default_rng(1).normal(scale=shift, size=fragment.coord.shape)
                writer.write(universe.atoms)
    output = tmp_path / f"out{suffix}"
    assert main([str(topology), "--trajectory", str(trajectory), "-o", str(output), "--threads", "1"]) == 0
    capsys.readouterr()
    # DCD holds coordinates only: the topology PDB beside it carries frame 1's column
    written, remarks = read_b_factors(output.with_suffix(".pdb"))
    assert written.stack_depth() == (2 if suffix == ".pdb" else 1)
    assert written.b_factor.max() > 0.3 and (written.b_factor[written.atom_name == "CA"] == 0).all()
    assert all(line in remarks for line in CONFIDENCE_REMARKS)
    if suffix == ".pdb":  # each frame its own column (columns 61-66 of each model's atom lines)
        models = output.read_text().split("ENDMDL")[:2]
        columns = [[float(line[60:66]) for line in model.splitlines() if line.startswith("ATOM")] for model in models]
        assert not np.allclose(columns[0], columns[1])


def test_the_writer_takes_one_row_for_every_model_or_one_per_model(tmp_path, fragment):
    two = struc.stack([fragment, fragment])
    shared = np.linspace(0.0, 9.99, fragment.array_length())
    written, _ = read_b_factors(write_structure(two, tmp_path / "shared.pdb", b_factors=shared))
    assert np.abs(written.b_factor - shared).max() <= 0.005
    with pytest.raises(ValueError, match=r"b_factors: shape \(3, \d+\) for 2 model\(s\)"):
        write_structure(two, tmp_path / "wrong.pdb", b_factors=np.zeros((3, fragment.array_length())))
    assert not (tmp_path / "wrong.pdb").exists()
