"""Model configs stored in checkpoints by earlier versions of gaan, in today's form.

Until the composable backbone (views and pair-input modules), the GA backbones took every option
flat: the layer options (`rank`, `heads`, ...), `local_frames` and `view_radius` for the view, and
one option per pair input. Their weights are unchanged by the move (same parameter names), so a
checkpoint written then loads once its stored model config is rewritten here.
"""

from __future__ import annotations

from collections.abc import Mapping

GA_BACKBONES = ("GAAttentionBackbone", "GAMultivectorAttentionBackbone")
LAYER_KEYS = ("rank", "invariant_mode", "covariant_mode", "merge", "join", "heads", "parity")
# the flat keys that moved: layer options to `attention`, the view keys to `view`, one key per pair input
FLAT_KEYS = (*LAYER_KEYS, "local_frames", "view_radius", "pair_product_features", "inverse_distance_softening", "relative_motion_vectors")


def is_flat_ga_config(config: Mapping) -> bool:
    """A GA backbone config in the form before views and pair inputs."""
    target = str(config.get("_target_", ""))
    return target.rsplit(".", 1)[-1] in GA_BACKBONES and any(key in config for key in FLAT_KEYS)


def migrate_model_config(config: Mapping) -> dict:
    """`config` (a stored `model` config) in today's form; unchanged unless it is a flat GA one."""
    config = dict(config)
    if not is_flat_ga_config(config):
        return config
    attention = {key: config.pop(key) for key in LAYER_KEYS if key in config}
    local_frames = bool(config.pop("local_frames", False))
    radius = config.pop("view_radius", None)
    if local_frames:
        view = {"_target_": "gaan.models.views.LocalFrames", "radius": radius}
    else:
        if radius is not None:
            raise ValueError(f"stored model config has view_radius={radius} without local_frames: not a config gaan ever ran")
        view = {"_target_": "gaan.models.views.WholeCloud"}
    # the order of the old backbone's pair-input columns: products, inverse distances, motion
    pair_inputs = []
    if config.get("pair_product_features"):
        pair_inputs.append({"_target_": "gaan.models.pair_inputs.FeatureProducts", "columns": list(config["pair_product_features"])})
    if config.get("inverse_distance_softening") is not None:
        pair_inputs.append({"_target_": "gaan.models.pair_inputs.InverseDistances", "softening": config["inverse_distance_softening"]})
    if config.get("relative_motion_vectors"):
        pair_inputs.append({"_target_": "gaan.models.pair_inputs.RelativeMotion", "channels": list(config["relative_motion_vectors"])})
    for key in ("pair_product_features", "inverse_distance_softening", "relative_motion_vectors"):
        config.pop(key, None)
    return {**config, "attention": attention, "view": view, "pair_inputs": pair_inputs}
