"""Reference predictors on gaan's QM9 split (issue 22), to read the CPU-budget numbers against.

For every target, on the first 1,000 molecules of the training pool (the CPU preset's training
set), the test MAE over all 13,083 test molecules of:
- the baseline gaan's task fits before training (`fit_target_baseline`: least squares per
  element for extensive targets, the training mean for homo / lumo / gap), and
- a bag of bonds: ridge regression on element counts plus histograms of the pair distances per
  element pair (24 bins, 0.8-3.2 A), its ridge strength chosen on the first 1,000 validation
  molecules.
Targets and units are gaan's (`gaan.tasks.qm9.datamodule`). Runs in gaan's own venv:
    OMP_NUM_THREADS=1 python bench/qm9_reference.py
Writes bench/results/qm9_reference.json (whole or not at all).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gaan.files import write_json_atomically
from gaan.tasks.qm9.datamodule import ELEMENTS, QM9_TARGETS, QM9DataModule
from gaan.tasks.qm9.molecular_property import fit_target_baseline
from gaan.train import compose_config

BINS = np.linspace(0.8, 3.2, 25)
RIDGE_STRENGTHS = (1e-2, 1.0, 100.0)
PAIRS = {(a, b): n for n, (a, b) in enumerate((a, b) for a in range(len(ELEMENTS)) for b in range(a, len(ELEMENTS)))}


def bag_of_bonds(positions: np.ndarray, elements: np.ndarray) -> np.ndarray:
    """Element counts, then per element pair a histogram of pair distances."""
    first, second = np.triu_indices(len(positions), 1)
    distance = np.linalg.norm(positions[first] - positions[second], axis=-1)
    low, high = np.minimum(elements[first], elements[second]), np.maximum(elements[first], elements[second])
    pair = np.array([PAIRS[(a, b)] for a, b in zip(low, high, strict=True)], dtype=np.int64)
    index = np.searchsorted(BINS, distance) - 1
    inside = (index >= 0) & (index < len(BINS) - 1)
    histogram = np.zeros(len(PAIRS) * (len(BINS) - 1))
    np.add.at(histogram, pair[inside] * (len(BINS) - 1) + index[inside], 1.0)
    return np.concatenate([np.bincount(elements, minlength=len(ELEMENTS)), histogram])


def split_arrays(dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bag-of-bonds features, element counts, targets) of a dataset of gaan samples."""
    features, counts, targets = [], [], []
    for sample in dataset:
        elements = sample["features"].argmax(-1).numpy()
        features.append(bag_of_bonds(sample["positions"].numpy().astype(np.float64), elements))
        counts.append(np.bincount(elements, minlength=len(ELEMENTS)))
        targets.append(float(sample["targets"]["y"]))
    return np.array(features), np.array(counts, dtype=np.float64), np.array(targets)


def ridge(features: np.ndarray, targets: np.ndarray, strength: float) -> np.ndarray:
    return np.linalg.solve(features.T @ features + strength * np.eye(features.shape[1]), features.T @ targets)


def main() -> None:
    results, features = {}, None
    # the task's pooling per target (conf/task/qm9.yaml pool_of_target) decides its baseline
    pool_of_target = compose_config(["task=qm9"]).task.pool_of_target
    for target in QM9_TARGETS:
        datamodule = QM9DataModule("data", target=target, num_train=1000, num_val=1000)
        datamodule.setup("fit")
        datamodule.setup("test")
        loaders = (datamodule.train_dataloader, datamodule.val_dataloader, datamodule.test_dataloader)
        if features is None:  # the same molecules for every target: features once
            features = [split_arrays(loader().dataset) for loader in loaders]
        (x_train, c_train, _), (x_val, _, _), (x_test, c_test, _) = features
        y_train, y_val, y_test = (np.array([float(s["targets"]["y"]) for s in loader().dataset]) for loader in loaders)
        per_element = pool_of_target[target] == "sum"
        reference, bias, _ = fit_target_baseline(torch.from_numpy(y_train), torch.from_numpy(c_train), per_element=per_element)
        baseline = float(np.abs(c_test @ reference.numpy() + float(bias) - y_test).mean())
        val_errors = {s: float(np.abs(x_val @ ridge(x_train, y_train, s) - y_val).mean()) for s in RIDGE_STRENGTHS}
        strength = min(val_errors, key=val_errors.get)
        bag = float(np.abs(x_test @ ridge(x_train, y_train, strength) - y_test).mean())
        results[target] = {"baseline_test_mae": baseline, "bag_of_bonds_test_mae": bag, "ridge_strength": strength, "val_mae": val_errors}
        print(f"{target}: baseline {baseline:.4g}, bag of bonds {bag:.4g} (ridge {strength:g})", flush=True)
    payload = {"num_train": 1000, "num_test": len(y_test), "targets": results}
    write_json_atomically(Path(__file__).parent / "results" / "qm9_reference.json", payload)


if __name__ == "__main__":
    main()
