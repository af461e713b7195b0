"""Per-class and per-group (e.g. per noise level) accuracy in ClassificationTask."""

import functools

import pytest
import torch

from gaan.data.batch import PointCloudBatch
from gaan.models import ClassificationHead, DeepSetsBackbone
from gaan.tasks import ClassificationTask


def make_task(**kwargs):
    return ClassificationTask(
        backbone=DeepSetsBackbone,
        head=functools.partial(ClassificationHead, num_classes=3),
        in_features=1,
        optimizer=functools.partial(torch.optim.Adam, lr=1e-3),
        num_classes=3,
        **kwargs,
    )


def batch_with(labels, noise):
    n = len(labels)
    return PointCloudBatch(
        positions=torch.zeros(n, 2, 3),
        features=torch.zeros(n, 2, 1),
        mask=torch.ones(n, 2, dtype=torch.bool),
        targets={"label": torch.tensor(labels), "noise": torch.tensor(noise)},
    )


def test_per_class_and_per_group_accuracy_match_hand_counts():
    task = make_task(class_names=["fcc", "hcp", "bcc"], group_key="noise", group_name="sigma", group_values=[0.05, 0.1])
    labels = [0, 0, 1, 1, 2, 2]
    predicted = [0, 1, 1, 1, 2, 0]  # fcc 1/2, hcp 2/2, bcc 1/2
    noise = [0.05, 0.1, 0.05, 0.1, 0.05, 0.1]  # sigma 0.05: 3/3 right; sigma 0.1: 1/3
    logits = torch.nn.functional.one_hot(torch.tensor(predicted), 3).float()
    metrics = task.split_metrics("test")
    # two batches, so the metrics must accumulate over batches
    for part in (slice(0, 3), slice(3, 6)):
        batch = batch_with(labels[part], noise[part])
        task.update_metrics(metrics, {"logits": logits[part]}, batch)
    values = {k: round(float(v), 6) for k, v in task.expand_metric_values(metrics.compute()).items()}
    assert values == {
        "test/acc": round(4 / 6, 6),
        "test/f1": values["test/f1"],
        "test/acc_fcc": 0.5,
        "test/acc_hcp": 1.0,
        "test/acc_bcc": 0.5,
        "test/acc_sigma_0.05": 1.0,
        "test/acc_sigma_0.1": round(1 / 3, 6),
    }


def test_without_breakdowns_only_overall_metrics():
    task = make_task()
    assert set(task.split_metrics("val").keys(keep_base=True)) == {"acc", "f1"}


def test_bad_breakdown_config_names_the_key():
    with pytest.raises(ValueError, match="task.module.class_names"):
        make_task(class_names=["a", "b"])
    with pytest.raises(ValueError, match="task.module.group_key"):
        make_task(group_key="noise")
    task = make_task(group_key="sigma_missing", group_values=[0.1])
    batch = batch_with([0], [0.1])
    with pytest.raises(KeyError, match="task.module.group_key"):
        task.update_metrics(task.split_metrics("train"), {"logits": torch.zeros(1, 3)}, batch)
