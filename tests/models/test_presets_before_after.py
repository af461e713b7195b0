"""Issue 20 moved the GA backbone's options into views and pair-input modules: every preset must
build the same function, and checkpoints written before must load.

tests/models/data/presets_before_issue20.pt was written by the code before the change (commit
37610ee): for each preset, the backbone's stored model config, its state dict (torch seed 0), an
input (padded, with input vectors where the task has them) and the outputs, computed in float64
(tests/models/data/rebuild_presets_before_issue20.py). Numbers recorded on one machine are
compared in float64: float32 activations differ between CPUs by a few 1e-6 (other SIMD kernels,
other summation orders), float64 ones by about 1e-15 times the growth through the network.
"""

from pathlib import Path

import hydra
import pytest
import torch
from hydra import compose, initialize_config_dir

from gaan.models.config_migration import is_flat_ga_config, migrate_model_config

FIXTURE = Path(__file__).parent / "data" / "presets_before_issue20.pt"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"
RECORDS = torch.load(FIXTURE, weights_only=False)


# float64 rounding (eps 2.2e-16) grown through a few blocks stays below 1e-13 on any CPU; a
# changed function moves outputs by far more (1e-3 and up)
FLOAT64_TOLERANCE = dict(atol=1e-10, rtol=1e-10)


def outputs(backbone, record):
    """The backbone's outputs in float64 (its float32 weights and the inputs cast up)."""
    positions, features, mask, vectors = (x.double() if x is not None and x.is_floating_point() else x for x in record["inputs"])
    with torch.no_grad():
        return backbone.double().eval()(positions, features, mask, vectors=vectors)


def assert_same_outputs(out, record):
    assert record["invariants"].dtype == torch.float64
    torch.testing.assert_close(out.invariants, record["invariants"], **FLOAT64_TOLERANCE)
    if record["vectors"] is None:
        assert out.vectors is None
    else:
        torch.testing.assert_close(out.vectors, record["vectors"], **FLOAT64_TOLERANCE)


@pytest.mark.parametrize("preset", sorted(RECORDS))
def test_preset_builds_the_same_function_as_before(preset):
    record = RECORDS[preset]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={preset}"])
    torch.manual_seed(0)
    backbone = hydra.utils.instantiate(cfg.model, _partial_=True)(in_features=record["in_features"])
    before = record["state_dict"]
    assert list(backbone.state_dict()) == list(before)  # same parameters, names and order
    for name, tensor in backbone.state_dict().items():
        torch.testing.assert_close(tensor, before[name], msg=f"{preset}: {name} initialised differently")
    assert_same_outputs(outputs(backbone, record), record)


@pytest.mark.parametrize("preset", sorted(RECORDS))
def test_model_config_stored_before_loads_its_weights(preset):
    record = RECORDS[preset]
    assert is_flat_ga_config(record["model_config"])
    migrated = migrate_model_config(record["model_config"])
    assert not is_flat_ga_config(migrated)
    backbone = hydra.utils.instantiate(migrated, _partial_=True)(in_features=record["in_features"])
    backbone.load_state_dict(record["state_dict"], strict=True)
    assert_same_outputs(outputs(backbone, record), record)


def test_configs_of_other_models_are_left_alone():
    config = {"_target_": "gaan.models.DeepSetsBackbone", "width": 8, "depth": 2}
    assert migrate_model_config(config) == config


def test_eval_rebuilds_a_checkpoint_stored_before_with_its_weights():
    """eval.py takes the architecture from the checkpoint: a flat stored model config loads."""
    from omegaconf import OmegaConf

    from gaan.eval import member_config

    record = RECORDS["nbody_ga_attn"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("eval", overrides=["task=nbody", "ckpt_path=old.ckpt"])
        trained = compose("train", overrides=["experiment=nbody_ga_attn"])
    checkpoint = {
        "gaan_config": {
            "task": {"name": "nbody", "head": OmegaConf.to_container(trained.task.head)},
            "model": record["model_config"],
            "optimizer": {"_target_": "torch.optim.Adam"},
        }
    }
    rebuilt = member_config(cfg, checkpoint, Path("old.ckpt"))
    backbone = hydra.utils.instantiate(rebuilt.model, _partial_=True)(in_features=record["in_features"])
    backbone.load_state_dict(record["state_dict"], strict=True)
    assert_same_outputs(outputs(backbone, record), record)
