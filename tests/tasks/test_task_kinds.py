import dataclasses
import functools

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from gaan.data import collate_point_clouds
from gaan.models import ClassificationHead, CovariantVectorHead, DeepSetsBackbone, LabeledVectorHead, ScalarHead
from gaan.tasks import (
    ClassificationTask,
    LabeledVectorTask,
    NonFiniteLossError,
    ScalarRegressionTask,
    VectorRegressionTask,
)
from gaan.tasks.callbacks import LastCheckpoint
from gaan.tasks.md17.energy_forces import EnergyForceTask
from gaan.tasks.synthetic_cubic.datamodule import make_cubic_environments

N_POINTS = 6


def toy_samples(count: int, seed: int = 0) -> list[dict]:
    """Clouds with one-hot point ids as features and targets of every task kind:
    y = sum of squared radii, energy = y / 2 with forces = -(x - centroid),
    vectors = 2 (x - centroid), sites: label k -> centred position of point k."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(count):
        x = torch.randn(N_POINTS, 3, generator=g)
        centred = x - x.mean(0)
        samples.append(
            {
                "positions": x,
                "features": torch.eye(N_POINTS),
                "labels": torch.arange(3),
                "targets": {
                    "y": centred.square().sum(),
                    "energy": 0.5 * centred.square().sum(),
                    "forces": -centred,
                    "vectors": 2 * centred,
                    "sites": centred[:3],
                    "label": torch.tensor(0),
                },
            }
        )
    return samples


def toy_batch(count: int = 32, seed: int = 0):
    return collate_point_clouds(toy_samples(count, seed), per_point_targets=("forces", "vectors"), per_label_targets=("sites",))


def adam(**kwargs):
    return functools.partial(torch.optim.Adam, lr=2e-2, **kwargs)


def fit_steps(module, batch, steps: int = 30) -> tuple[float, float]:
    optimizer = module.configure_optimizers()
    losses = []
    module.train()
    for _ in range(steps):
        loss = module.compute_loss(module.predict_batch(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses[0], min(losses[-5:])


TASKS = {
    "scalar": lambda: ScalarRegressionTask(
        backbone=DeepSetsBackbone, head=ScalarHead, in_features=N_POINTS, optimizer=adam(), target_key="y"
    ),
    "energy_force": lambda: EnergyForceTask(
        backbone=DeepSetsBackbone,
        head=ScalarHead,
        in_features=N_POINTS,
        optimizer=adam(),
        energy_weight=1.0,
        force_weight=10.0,
        energy_mean=7.5,
    ),
    "vectors": lambda: VectorRegressionTask(backbone=DeepSetsBackbone, head=CovariantVectorHead, in_features=N_POINTS, optimizer=adam()),
    "labeled": lambda: LabeledVectorTask(
        backbone=DeepSetsBackbone,
        head=functools.partial(LabeledVectorHead, num_labels=3, rank=1),  # rank 1: 2x faster here
        in_features=N_POINTS,
        optimizer=adam(),
        target_key="sites",
    ),
}


@pytest.mark.parametrize("kind", sorted(TASKS))
def test_regression_task_kinds_reduce_their_loss(kind):
    torch.manual_seed(0)
    module = TASKS[kind]()
    first, last = fit_steps(module, toy_batch(16))
    assert last < 0.7 * first, f"{kind}: loss {first:.4g} -> {last:.4g}"


def test_classification_task_learns_cubic_shells():
    torch.manual_seed(0)
    # (GA attention on this task is exercised end to end in tests/test_train_configs.py)
    module = ClassificationTask(
        backbone=DeepSetsBackbone,
        head=functools.partial(ClassificationHead, num_classes=2),
        in_features=1,
        optimizer=functools.partial(torch.optim.Adam, lr=1e-2),
        num_classes=2,
    )
    batch = collate_point_clouds(make_cubic_environments(64, seed=0))
    first, last = fit_steps(module, batch, steps=100)
    assert last < 0.5 * first
    logits = module.predict_batch(batch)["logits"]
    assert (logits.argmax(-1) == batch.targets["label"]).float().mean() > 0.9


def test_energy_force_task_forces_are_minus_energy_gradient():
    torch.manual_seed(0)
    module = TASKS["energy_force"]().double().eval()
    batch = toy_batch(2).to(torch.float64)
    predictions = module.predict_batch(batch)
    i, j, eps = 0, 2, 1e-6
    shifted = batch.to(torch.float64)
    plus, minus = shifted.positions.clone(), shifted.positions.clone()
    plus[0, i, j] += eps
    minus[0, i, j] -= eps
    shifted.positions = plus
    e_plus = module.predict_batch(shifted)["energy"][0]
    shifted.positions = minus
    e_minus = module.predict_batch(shifted)["energy"][0]
    numeric_force = -(e_plus - e_minus) / (2 * eps)
    torch.testing.assert_close(predictions["forces"][0, i, j], numeric_force, atol=1e-6, rtol=1e-5)
    assert torch.all(predictions["forces"][~batch.mask] == 0)


def test_nan_loss_stops_run_with_step_and_keeps_last_good_checkpoint(tmp_path):
    torch.manual_seed(0)
    module = TASKS["scalar"]()
    good = toy_batch(8)
    bad = toy_batch(8, seed=1)
    bad.positions[0, 0, 0] = float("nan")
    loader = DataLoader([good, good, bad, good], batch_size=None)
    trainer = L.Trainer(
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[LastCheckpoint(dirpath=str(tmp_path), every_n_train_steps=1)],
        limit_val_batches=0,
    )
    with pytest.raises(NonFiniteLossError, match="global step 2"):
        trainer.fit(module, train_dataloaders=loader)
    checkpoint = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert checkpoint["global_step"] == 2
    weights = [checkpoint["state_dict"][name] for name, _ in module.named_parameters()]
    assert weights and all(torch.isfinite(w).all() for w in weights)


def test_sign_symmetric_features_average_evaluation_over_the_flip():
    """Evaluation predictions are the mean over the features as given and with the listed ones
    negated on every point: exactly invariant to that flip, while training runs the raw network."""
    batch = toy_batch(8)
    batch.features = torch.randn(batch.features.shape, generator=torch.Generator().manual_seed(1))
    flipped = dataclasses.replace(batch, features=batch.features * torch.tensor([-1.0, 1, -1, 1, 1, 1]))
    torch.manual_seed(0)
    raw = VectorRegressionTask(backbone=DeepSetsBackbone, head=CovariantVectorHead, in_features=N_POINTS, optimizer=adam())
    symmetric = VectorRegressionTask(
        backbone=DeepSetsBackbone, head=CovariantVectorHead, in_features=N_POINTS, optimizer=adam(), sign_symmetric_features=[0, 2]
    )
    symmetric.load_state_dict(raw.state_dict())
    raw.eval(), symmetric.eval()
    with torch.no_grad():
        plain, mirror = raw.predict_batch(batch)["vectors"], raw.predict_batch(flipped)["vectors"]
        assert (plain - mirror).abs().max() > 1e-3  # the network itself is not invariant
        averaged = symmetric.predict_batch(batch)["vectors"]
        torch.testing.assert_close(averaged, (plain + mirror) / 2)
        torch.testing.assert_close(symmetric.predict_batch(flipped)["vectors"], averaged)
        symmetric.train()
        torch.testing.assert_close(symmetric.predict_batch(batch)["vectors"], plain)


@pytest.mark.parametrize("indices", [[6], [-1], [0, 0], [True]])
def test_sign_symmetric_features_must_be_feature_indices(indices):
    with pytest.raises(ValueError, match=r"task.module.sign_symmetric_features.*\[0, 6\)"):
        VectorRegressionTask(
            backbone=DeepSetsBackbone, head=CovariantVectorHead, in_features=N_POINTS, optimizer=adam(), sign_symmetric_features=indices
        )


def ensemble_of(make_task, size: int):
    """`size` modules from `make_task`, each initialised from its own seed, in eval mode; the
    first (the lead) has the others as ensemble members."""
    members = []
    for seed in range(size):
        torch.manual_seed(seed)
        members.append(make_task().eval())
    lead = members[0]
    lead.ensemble_members.extend(members[1:])
    return lead, members


@pytest.mark.parametrize("kind", sorted(TASKS))
def test_ensemble_predicts_the_mean_of_its_members(kind):
    lead, members = ensemble_of(TASKS[kind], 3)
    batch = toy_batch(4)
    combined = lead.predict(batch)
    each = [m.predict_batch(batch) for m in members]
    assert set(combined) == set(each[0])
    for key in combined:
        assert (each[0][key] - each[1][key]).abs().max() > 1e-4  # members really differ
        torch.testing.assert_close(combined[key], torch.stack([p[key] for p in each]).mean(0))


def test_classification_ensemble_averages_probabilities_not_logits():
    lead, members = ensemble_of(
        lambda: ClassificationTask(
            backbone=DeepSetsBackbone,
            head=functools.partial(ClassificationHead, num_classes=3),
            in_features=N_POINTS,
            optimizer=adam(),
            num_classes=3,
        ),
        2,
    )
    batch = toy_batch(4)
    probabilities = [m.predict_batch(batch)["logits"].softmax(-1) for m in members]
    combined = lead.predict(batch)["logits"]
    torch.testing.assert_close(combined.softmax(-1), (probabilities[0] + probabilities[1]) / 2)
    torch.testing.assert_close(combined.exp().sum(-1), torch.ones(4))  # log-probabilities


def test_ensemble_of_rotation_covariant_members_stays_covariant():
    from geometry_helpers import random_orthogonal

    from gaan.models import GAAttentionBackbone

    lead, _ = ensemble_of(
        lambda: VectorRegressionTask(
            backbone=functools.partial(GAAttentionBackbone, width=8, depth=1, attention={"rank": 2}),
            head=CovariantVectorHead,
            in_features=N_POINTS,
            optimizer=adam(),
        ).double(),
        2,
    )
    batch = toy_batch(3).to(torch.float64)
    rotation = random_orthogonal(3, torch.Generator().manual_seed(5))
    rotated = dataclasses.replace(batch, positions=batch.positions @ rotation.T)
    with torch.no_grad():
        plain, turned = lead.predict(batch)["vectors"], lead.predict(rotated)["vectors"]
    torch.testing.assert_close(turned, plain @ rotation.T)
