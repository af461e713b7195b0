"""QM9: the qm9pack CSV reader on the installed files, the original xyz format, units,
atomization energies, the EGNN split, padding, and a fast dev run of task=qm9."""

from __future__ import annotations

import csv
import functools
import tarfile

import numpy as np
import pytest
import torch

from gaan.data import MissingDataError, collate_point_clouds
from gaan.models import GAAttentionBackbone, ScalarHead
from gaan.models.pair_inputs import RadialBasis
from gaan.models.views import Neighbourhoods
from gaan.tasks.qm9.datamodule import (
    ATOM_REFERENCE_HARTREE,
    ELEMENTS,
    HARTREE_TO_MEV,
    QM9_TARGETS,
    QM9_XYZ_URL,
    QM9DataModule,
    QM9FormatError,
    egnn_split,
    load_qm9_arrays,
    qm9_target_values,
    qm9pack_csv_paths,
    read_qm9_csv,
    read_qm9_xyz,
    read_qm9_xyz_archive,
)
from gaan.tasks.qm9.molecular_property import MolecularPropertyTask, fit_target_baseline
from gaan.train import compose_config, run

# molecule 1 of QM9 (methane), as published in dsgdb9nsd_000001.xyz
METHANE_XYZ = """5
gdb 1\t157.7118\t157.70997\t157.70699\t0.\t13.21\t-0.3877\t0.1171\t0.5048\t35.3641\t0.044749\t-40.47893\t-40.476062\t-40.475117\t-40.498597\t6.469\t
C\t-0.0126981359\t 1.0858041578\t 0.0080009958\t-0.535689
H\t 0.002150416\t-0.0060313176\t 0.0019761204\t 0.133921
H\t 1.0117308433\t 1.4637511618\t 0.0002765748\t 0.133922
H\t-0.540815069\t 1.4475266138\t-0.8766437152\t 0.133923
H\t-0.5238136345\t 1.4379326443\t 0.9063972942\t 0.133923
1341.307\t1341.3284\t1341.365\t1562.6731\t1562.7453\t3038.3205\t3151.6034\t3151.6788\t3151.7078
C\tC\t
InChI=1S/CH4/h1H4\tInChI=1S/CH4/h1H4
"""


def fake_xyz(index: int, symbols: str, rng: np.random.Generator) -> str:
    """A file in the archive's layout with random values, one coordinate in the "*^" notation."""
    props = rng.normal(size=15)
    lines = [str(len(symbols)), "gdb " + str(index) + "\t" + "\t".join(f"{p:.6f}" for p in props)]
    for k, s in enumerate(symbols):
        x, y, z = rng.normal(size=3)
        x_text = f"{x * 1e6:.4f}*^-6" if k == 0 else f"{x:.10f}"
        lines.append(f"{s}\t{x_text}\t{y:.10f}\t{z:.10f}\t{rng.normal():.6f}")
    lines += ["100.0\t200.0", "C\tC", "InChI=1S/x\tInChI=1S/x"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def qm9_data_dir(tmp_path_factory):
    """One parse of the installed CSV files per test module, cached like a real run."""
    data_dir = tmp_path_factory.mktemp("qm9data")
    load_qm9_arrays(data_dir, verbose=False)
    return data_dir


# ---- readers ---------------------------------------------------------------------------


def test_csv_reader_on_the_installed_files():
    paths = qm9pack_csv_paths()
    arrays = read_qm9_csv(paths[:1], nrows=6)
    assert list(arrays.gdb_index) == [1, 2, 3, 4, 5, 6]
    assert list(arrays.atom_counts) == [5, 4, 3, 4, 3, 4]  # CH4, NH3, H2O, C2H2, HCN, CH2O
    assert "".join(ELEMENTS[e] for e in arrays.elements[:5]) == "CHHHH"
    assert "".join(ELEMENTS[e] for e in arrays.elements[9:12]) == "OHH"
    _, elements, positions, properties = read_qm9_xyz(METHANE_XYZ)
    np.testing.assert_array_equal(arrays.elements[:5], elements)
    np.testing.assert_allclose(arrays.positions[:5], positions, rtol=0, atol=1e-12)
    np.testing.assert_allclose(arrays.properties[0], properties, rtol=0, atol=1e-12)
    # the later parts continue the numbering and parse the same way
    later = read_qm9_csv(paths[1:], nrows=3)
    assert (np.diff(later.gdb_index[:3]) > 0).all() and later.gdb_index[0] > 40_000
    assert later.positions.shape == (later.atom_counts.sum(), 3) and np.isfinite(later.properties).all()


def test_every_installed_molecule_parses_consistently(qm9_data_dir):
    arrays = load_qm9_arrays(qm9_data_dir, verbose=False)  # the cached parse
    assert len(arrays) == 130_831 and arrays.atom_counts.max() == 29
    assert arrays.positions.shape == (arrays.atom_counts.sum(), 3)
    assert (np.diff(arrays.gdb_index) > 0).all() and arrays.gdb_index[-1] == 133_885
    # every molecule has heavy atoms (at most 9) and bond-length-scale atom spacings
    heavy = arrays.element_counts()[:, 1:].sum(1)
    assert heavy.min() >= 1 and heavy.max() == 9
    first = arrays.offsets[:-1]
    nearest = np.linalg.norm(arrays.positions[first + 1] - arrays.positions[first], axis=1)
    assert 0.9 < nearest.min() and nearest.max() < 10


def test_csv_row_with_a_wrong_atom_count_is_named(tmp_path):
    source = qm9pack_csv_paths()[0]
    with open(source, newline="") as f:
        rows = [row for _, row in zip(range(4), csv.reader(f))]
    rows[2][rows[0].index("N_atoms")] = "5"  # ammonia has 4 atoms
    bad = tmp_path / "bad.csv"
    with open(bad, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(QM9FormatError, match=r"bad.csv, line 3: XYZ_Ang has 4 atoms but N_atoms is 5"):
        read_qm9_csv([bad])
    rows[2][rows[0].index("N_atoms")] = "4"
    rows[2][rows[0].index("Elements")] = "['N','H','H','Cl']"
    with open(bad, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(QM9FormatError, match=r"element 'l' is not one of"):
        read_qm9_csv([bad])


def test_xyz_parser_reads_the_archive_layout_and_mathematica_exponents():
    gdb, elements, positions, properties = read_qm9_xyz(METHANE_XYZ)
    assert gdb == 1 and list(elements) == [1, 0, 0, 0, 0]
    np.testing.assert_allclose(positions[1], [0.002150416, -0.0060313176, 0.0019761204])
    names = list(QM9_TARGETS)
    assert properties[names.index("mu")] == 0.0 and properties[names.index("alpha")] == 13.21
    assert properties[names.index("homo")] == -0.3877 and properties[names.index("cv")] == 6.469
    text = fake_xyz(7, "CHHO", np.random.default_rng(0))
    _, _, positions, _ = read_qm9_xyz(text)
    first_x = text.splitlines()[2].split()[1]
    assert "*^-6" in first_x and positions[0, 0] == pytest.approx(float(first_x.replace("*^", "e")))
    with pytest.raises(QM9FormatError, match=r"mol.xyz, line 4: expected 'element x y z charge'"):
        read_qm9_xyz(METHANE_XYZ.replace("0.133921", ""), "mol.xyz")


def test_xyz_archive_folder_and_tar_with_exclusions(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "xyz"
    folder.mkdir()
    molecules = {3: "CHHHH", 1: "NHHH", 2: "OHH", 4: "CCHH"}
    for index, symbols in molecules.items():
        (folder / f"dsgdb9nsd_{index:06d}.xyz").write_text(fake_xyz(index, symbols, rng))
    from_folder = read_qm9_xyz_archive(folder)
    assert list(from_folder.gdb_index) == [1, 2, 3, 4] and list(from_folder.atom_counts) == [4, 3, 5, 4]
    archive = tmp_path / "dsgdb9nsd.xyz.tar.bz2"
    with tarfile.open(archive, "w:bz2") as tar:
        for file in sorted(folder.iterdir()):
            tar.add(file, arcname=file.name)
    from_tar = read_qm9_xyz_archive(archive, excluded={2})
    assert list(from_tar.gdb_index) == [1, 3, 4]
    np.testing.assert_array_equal(from_tar.positions[:4], from_folder.positions[:4])
    np.testing.assert_array_equal(from_tar.positions[4:], from_folder.positions[7:])


def test_missing_xyz_archive_names_file_url_and_place(tmp_path):
    where = tmp_path / "qm9" / "dsgdb9nsd.xyz.tar.bz2"
    with pytest.raises(MissingDataError) as err:
        load_qm9_arrays(tmp_path, source="xyz", xyz_archive=where)
    assert str(where) in str(err.value) and QM9_XYZ_URL in str(err.value) and "xyz_archive" in str(err.value)


def test_cache_detects_tampering(tmp_path):
    folder = tmp_path / "xyz"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for index in (1, 2):
        (folder / f"dsgdb9nsd_{index:06d}.xyz").write_text(fake_xyz(index, "CHHHH", rng))
    first = load_qm9_arrays(tmp_path, source="xyz", xyz_archive=folder, verbose=False)
    again = load_qm9_arrays(tmp_path, source="xyz", xyz_archive=folder, verbose=False)
    np.testing.assert_array_equal(first.positions, again.positions)
    (cache,) = (tmp_path / "qm9").glob("xyz-*.npz")
    arrays = dict(np.load(cache))
    arrays["properties"] = arrays["properties"] + 1
    np.savez(cache, **arrays)
    with pytest.raises(RuntimeError, match="does not match its sha256"):
        load_qm9_arrays(tmp_path, source="xyz", xyz_archive=folder, verbose=False)


# ---- targets ---------------------------------------------------------------------------


def test_units_and_atomization_energies_of_methane():
    arrays = read_qm9_csv(qm9pack_csv_paths()[:1], nrows=2)
    assert HARTREE_TO_MEV == pytest.approx(27211.386246)
    assert qm9_target_values(arrays, "homo")[0] == pytest.approx(-0.3877 * 27211.386246)
    assert qm9_target_values(arrays, "gap")[0] == pytest.approx(0.5048 * 27211.386246)
    assert qm9_target_values(arrays, "zpve")[0] == pytest.approx(0.044749 * 27211.386246)
    assert qm9_target_values(arrays, "alpha")[0] == 13.21 and qm9_target_values(arrays, "cv")[0] == 6.469
    # U0 of CH4 minus the free C atom and four free H atoms: -0.631066 Ha = -17.17 eV
    atomization = -40.47893 - (ATOM_REFERENCE_HARTREE["u0"][1] + 4 * ATOM_REFERENCE_HARTREE["u0"][0])
    assert atomization == pytest.approx(-0.631066, abs=1e-9)
    assert qm9_target_values(arrays, "u0")[0] == pytest.approx(atomization * 27211.386246)
    # ammonia: one N and three H references for the Gibbs energy
    g = -56.544961 - (ATOM_REFERENCE_HARTREE["g"][2] + 3 * ATOM_REFERENCE_HARTREE["g"][0])
    assert qm9_target_values(arrays, "g")[1] == pytest.approx(g * 27211.386246)
    with pytest.raises(ValueError, match=r"task.target='U0' is not a QM9 target"):
        qm9_target_values(arrays, "U0")


def test_atomization_energies_are_negative_and_scale_with_size(qm9_data_dir):
    arrays = load_qm9_arrays(qm9_data_dir, verbose=False)
    u0 = qm9_target_values(arrays, "u0")
    assert (u0 < 0).all()
    per_atom = u0 / arrays.atom_counts
    # raw energies span ~ -40 ... -700 Ha; per atom the atomization energy is a few eV
    assert -7_000 < per_atom.min() and per_atom.max() < -1_000


# ---- split -----------------------------------------------------------------------------


def test_egnn_split_sizes_disjointness_and_seed():
    split = egnn_split(130_831)
    assert {k: len(v) for k, v in split.items()} == {"train": 100_000, "val": 17_748, "test": 13_083}
    everything = np.concatenate(list(split.values()))
    assert len(np.unique(everything)) == 130_831 and everything.min() == 0 and everything.max() == 130_830
    np.testing.assert_array_equal(egnn_split(130_831)["test"], split["test"])
    # Cormorant / EGNN: numpy.random.seed(0); permutation(N); train first, test last
    np.random.seed(0)
    order = np.random.permutation(130_831)
    np.testing.assert_array_equal(split["train"], order[:100_000])
    np.testing.assert_array_equal(split["test"], order[-13_083:])
    other = egnn_split(130_831, seed=1)
    assert not np.array_equal(other["test"], split["test"])
    with pytest.raises(ValueError, match="train_pool"):
        egnn_split(1000)


def test_datamodule_subsets_are_nested_and_the_test_set_whole(qm9_data_dir):
    small = QM9DataModule(str(qm9_data_dir), target="gap", num_train=100, num_val=50)
    large = QM9DataModule(str(qm9_data_dir), target="gap", num_train=1000)
    small.setup()
    large.setup()
    assert len(small.splits["train"]) == 100 and len(small.splits["val"]) == 50 and len(large.splits["val"]) == 17_748
    assert len(small.splits["test"]) == len(large.splits["test"]) == 13_083
    np.testing.assert_array_equal(large.split_indices["train"][:100], small.split_indices["train"])
    sample = small.splits["train"][0]
    assert sample["features"].shape == (len(sample["positions"]), 5) and (sample["features"].sum(1) == 1).all()
    assert torch.allclose(small.train_element_counts[0].float(), sample["features"].sum(0))
    assert small.train_targets[0] == pytest.approx(float(sample["targets"]["y"]), rel=1e-6)
    with pytest.raises(ValueError, match=r"task.target='energy' is not a QM9 target; choose one of"):
        QM9DataModule(str(qm9_data_dir), target="energy")
    with pytest.raises(ValueError, match="num_train=200000 exceeds"):
        QM9DataModule(str(qm9_data_dir), num_train=200_000)


# ---- model side ------------------------------------------------------------------------


def test_baseline_fit_recovers_per_element_references():
    torch.manual_seed(0)
    counts = torch.randint(0, 6, (200, 5)).double()
    reference = torch.tensor([-300.0, -1000.0, -800.0, -700.0, -600.0], dtype=torch.float64)
    noise = torch.randn(200, dtype=torch.float64) * 5
    fitted, bias, scale = fit_target_baseline(counts @ reference + noise, counts, per_element=True)
    assert torch.allclose(fitted, reference, atol=3.0) and bias == 0
    assert scale == pytest.approx(noise.std().item(), rel=0.1)
    targets = torch.randn(200) * 3 + 7
    fitted, bias, scale = fit_target_baseline(targets, counts, per_element=False)
    assert (fitted == 0).all() and bias == pytest.approx(targets.mean().item()) and scale == pytest.approx(targets.std().item())
    _, _, scale = fit_target_baseline(torch.tensor([4.0]), counts[:1], per_element=False)
    assert scale == 1.0


# the two views of docs/chemistry.md: the whole molecule, and experiment=qm9_ga_attn_cpu's 6 nearest
# atoms with a radial basis of pair distances
VIEWS = {
    "whole_molecule": {},
    "nearest_with_radial_basis": {"view": Neighbourhoods(k=6), "pair_inputs": [RadialBasis(count=8)], "attention": {"heads": 2}},
}


def molecule_task(pool: str, view: str = "whole_molecule") -> MolecularPropertyTask:
    torch.manual_seed(0)
    options = dict(VIEWS[view])
    attention = {"invariant_mode": "full", "merge": "concat", **options.pop("attention", {})}
    task = MolecularPropertyTask(
        backbone=functools.partial(GAAttentionBackbone, width=16, depth=2, attention=attention, **options),
        head=functools.partial(ScalarHead, pool=pool),
        in_features=5,
        optimizer=functools.partial(torch.optim.AdamW),
        pool=pool,
    )
    task.fit_baseline(torch.randn(50) * 100 - 500, torch.randint(0, 5, (50, 5)).double())
    return task.double().eval()


@pytest.mark.parametrize("view", sorted(VIEWS))
@pytest.mark.parametrize("pool", ["sum", "mean"])
def test_padded_atoms_change_no_prediction(qm9_data_dir, pool, view):
    """A molecule alone and padded next to larger ones (padding filled with junk)
    gets the same prediction; rotating it changes nothing either. (Fillers are finite: the
    harness pads with zeros, and the backbone's masked centring multiplies padding by 0.)"""
    datamodule = QM9DataModule(str(qm9_data_dir), target="homo", num_train=64, num_val=1)
    datamodule.setup()
    samples = sorted(datamodule.splits["train"].samples, key=lambda s: len(s["positions"]))
    small, large = samples[0], samples[-1]
    assert len(small["positions"]) + 5 < len(large["positions"])
    task = molecule_task(pool, view)
    with torch.no_grad():
        alone = task.predict_batch(collate_point_clouds([small]).to(torch.float64))["y"]
        for filler in (0.0, 1e3, -7.5):
            batch = collate_point_clouds([small, large, small]).to(torch.float64)
            batch.positions[~batch.mask] = filler * torch.randn_like(batch.positions[~batch.mask])
            batch.features[~batch.mask] = filler
            padded = task.predict_batch(batch)["y"]
            assert torch.isfinite(padded).all()
            torch.testing.assert_close(padded[0], alone[0], rtol=0, atol=1e-9)
            torch.testing.assert_close(padded[2], alone[0], rtol=0, atol=1e-9)
        rotation, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))
        rotated = collate_point_clouds([small]).to(torch.float64)
        rotated.positions = rotated.positions @ rotation.T
        torch.testing.assert_close(task.predict_batch(rotated)["y"], alone, rtol=0, atol=1e-9)


@pytest.mark.parametrize("choice", ["task=qm9", "experiment=qm9_ga_attn_cpu"])
def test_fast_dev_run_of_task_qm9(qm9_data_dir, tmp_path, choice):
    overrides = [
        choice,
        "task.target=u0",
        "debug=fdr",
        "callbacks.rich_progress_bar=null",
        "callbacks.model_summary=null",
        "trainer.enable_progress_bar=false",
        f"paths.output_dir={tmp_path}/out",
        f"paths.data_dir={qm9_data_dir}",
        f"paths.log_dir={tmp_path}/logs",
    ]
    cfg = compose_config(overrides)
    assert cfg.task.head.pool == "sum" and cfg.task.module.pool == "sum"
    assert compose_config([*overrides, "task.target=gap"]).task.head.pool == "mean"
    metrics = run(cfg)
    # u0 in meV: a per-element baseline alone is within a few hundred meV, never within 1 meV
    assert 1.0 < metrics["test/mae"] < 5_000 and all(np.isfinite(v) for v in metrics.values())


def test_every_target_composes_with_its_pooling(tmp_path):
    import hydra

    for target in QM9_TARGETS:
        cfg = compose_config(["task=qm9", f"task.target={target}", f"paths.output_dir={tmp_path}", f"paths.data_dir={tmp_path}"])
        expected = "mean" if target in ("homo", "lumo", "gap") else "sum"
        assert cfg.task.head.pool == cfg.task.module.pool == expected
        assert hydra.utils.instantiate(cfg.task.datamodule).unit == QM9_TARGETS[target].unit
