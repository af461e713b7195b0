"""Input checks shared by the layers: every error names the argument and what was seen."""

import math

import torch
from torch import Tensor

from ..algebra.tuples import PRODUCT_MODES

MERGE_MODES = ("mean", "concat")  # how the features of a tuple's points are merged
JOIN_MODES = ("mean", "concat", "product")  # how merged features and embedded invariants are joined


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def check_positive_int(name: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_layer_options(
    *, n_dim, rank, heads, linear_terms, covariant_channels, dim, modes: dict, merge, join, parity, vector_input: bool
) -> None:
    """A GeometricAttention's constructor arguments; ``modes``: the product modes by argument name."""
    check_positive_int("n_dim", n_dim)
    check_positive_int("rank", rank)
    check_positive_int("heads", heads)
    check_positive_int("linear_terms", linear_terms, minimum=0)
    check_positive_int("covariant_channels", covariant_channels)
    check_choice("dim", dim, (2, 3))
    for name, value in modes.items():
        check_choice(name, value, PRODUCT_MODES)
    check_choice("merge", merge, MERGE_MODES)
    check_choice("join", join, JOIN_MODES)
    if n_dim % heads:
        raise ValueError(f"heads={heads} must divide n_dim={n_dim}")
    if linear_terms and rank > 1 and (parity or (dim == 2 and vector_input)):
        raise ValueError(
            "linear_terms needs dim=3 and parity=False for vector inputs (and parity=False for multivectors): "
            "duals mix proper and pseudo quantities"
        )


def check_point_inputs(
    r: Tensor,
    v: Tensor,
    mask: Tensor | None,
    weights: Tensor | None,
    components: int,
    n_dim: int,
    parameter_dtype: torch.dtype | None = None,
    allow_neighbour_axis: bool = True,
) -> None:
    """Shapes and dtypes of ``(r, v, mask, weights)`` for one layer call (finiteness:
    :func:`check_finite_call`, after the call)."""
    if not isinstance(r, Tensor) or not r.is_floating_point():
        raise ValueError(f"r must be a floating-point tensor, got {type(r).__name__} {getattr(r, 'dtype', '')}")
    allowed_ndims = (3, 4) if allow_neighbour_axis else (3,)
    if r.dim() not in allowed_ndims or r.shape[-1] != components:
        layout = "(B, N, C)" + (" or (B, N, K, C)" if allow_neighbour_axis else "")
        raise ValueError(f"r must have shape {layout} with C = {components} components, got shape {tuple(r.shape)}")
    if r.shape[-2] == 0:
        raise ValueError(f"r holds an empty point cloud (shape {tuple(r.shape)}); pad it and mask the padding instead")
    points_shape = tuple(r.shape[:-1])
    if not isinstance(v, Tensor) or tuple(v.shape) != points_shape + (n_dim,):
        raise ValueError(
            f"v must have shape {points_shape + (n_dim,)} to match r {tuple(r.shape)} and the layer width {n_dim}, "
            f"got {tuple(getattr(v, 'shape', ()))}"
        )
    if v.dtype != r.dtype:
        raise ValueError(f"v has dtype {v.dtype} but r has dtype {r.dtype}")
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != points_shape:
            raise ValueError(
                f"mask must be a bool tensor of shape {points_shape}, "
                f"got {getattr(mask, 'dtype', type(mask).__name__)} {tuple(getattr(mask, 'shape', ()))}"
            )
    if weights is not None and (not isinstance(weights, Tensor) or tuple(weights.shape) != points_shape):
        raise ValueError(f"weights must have shape {points_shape}, got {tuple(getattr(weights, 'shape', ()))}")
    if weights is not None and torch.promote_types(weights.dtype, r.dtype) != r.dtype:
        raise ValueError(f"weights has dtype {weights.dtype} but r has dtype {r.dtype}: cast it (weights.to({r.dtype}))")
    # under autocast the Linears cast their inputs themselves
    if parameter_dtype is not None and r.dtype != parameter_dtype and not torch.is_autocast_enabled(r.device.type):
        raise ValueError(
            f"r and v have dtype {r.dtype} but the layer's parameters have dtype {parameter_dtype}: convert the "
            f"layer (layer.to({r.dtype}); layer.double() for float64) or cast the inputs (r.to({parameter_dtype}), v.to({parameter_dtype}))"
        )


def check_labels(labels: Tensor, label_mask: Tensor | None, batch: int, n_dim: int, dtype: torch.dtype) -> None:
    if not isinstance(labels, Tensor) or labels.dim() != 3 or labels.shape[0] != batch or labels.shape[-1] != n_dim:
        raise ValueError(f"labels must have shape ({batch}, L, {n_dim}), got {tuple(getattr(labels, 'shape', ()))}")
    if labels.dtype != dtype:
        raise ValueError(f"labels has dtype {labels.dtype} but r and v have dtype {dtype}: cast it (labels.to({dtype}))")
    if label_mask is not None and (label_mask.dtype != torch.bool or tuple(label_mask.shape) != tuple(labels.shape[:2])):
        raise ValueError(
            f"label_mask must be a bool tensor of shape {tuple(labels.shape[:2])}, got {label_mask.dtype} {tuple(label_mask.shape)}"
        )


# --- finiteness: one synchronisation per call, a diagnosis only when something is wrong --------


def _tensors_of(result) -> list[Tensor]:
    return [t for x in result for t in _tensors_of(x)] if isinstance(result, tuple) else [result]


def check_finite_call(layer: str, inputs: list[tuple[str, Tensor | None]], result, rank: int, parameters) -> None:
    """Finite inputs and outputs, or a ValueError saying which and why.

    :param layer: the layer's name, for the message
    :param inputs: (name, tensor or None) per input, ``r`` and ``v`` first, padding already made
        inert (zero); axes past those of ``r``'s points are channels
    :param result: the call's result: a tensor or (nested) tuples of them
    :param parameters: the layer's named parameters (looked at only when an output is non-finite)
    """
    outputs = _tensors_of(result)
    tensors = [x for _, x in inputs if x is not None] + outputs
    # a sum of finite values can only overflow (then the exact look below finds nothing wrong)
    if bool(torch.isfinite(sum(x.sum() for x in tensors))):
        return
    points_dims = inputs[0][1].dim() - 1
    for name, x in inputs:
        if x is None:
            continue
        bad = ~torch.isfinite(x)
        bad = bad.any(-1) if x.dim() > points_dims else bad
        if bool(bad.any()):
            index = tuple(int(i) for i in bad.nonzero()[0])
            what = "label" if name == "labels" else "point"
            raise ValueError(f"{name} has non-finite values at {what} index {index} (of shape {tuple(x.shape)})")
    if all(bool(torch.isfinite(o).all()) for o in outputs):
        return
    raise ValueError(_non_finite_output_diagnosis(layer, inputs, rank, parameters))


def _non_finite_output_diagnosis(layer: str, inputs: list[tuple[str, Tensor | None]], rank: int, parameters) -> str:
    bad_parameters = [name for name, p in parameters if not bool(torch.isfinite(p).all())]
    if bad_parameters:
        return (
            f"{layer} returned non-finite outputs: its parameters {', '.join(bad_parameters[:4])} hold non-finite "
            "values (did training diverge? lower the learning rate or restore a checkpoint)"
        )
    r = inputs[0][1]
    largest = {name: float(torch.linalg.vector_norm(x.double(), dim=-1).amax()) if x.numel() else 0.0 for name, x in inputs[:2]}
    limit = torch.finfo(r.dtype).max
    # products of up to ``rank`` points scale as |r|**rank (their norms are scaled, never squared)
    reach = rank * math.log10(largest["r"]) if largest["r"] > 0 else -math.inf
    if reach >= math.log10(limit):
        return (
            f"{layer} returned non-finite outputs: the geometric products of up to {rank} points of r "
            f"overflow {r.dtype} (the largest |r| is {largest['r']:.3g}, so products "
            f"reach about 1e{reach:.0f}, beyond {limit:.3g}). "
            "Rescale r (e.g. to units where |r| is about 1) or use float64 (layer.double() and float64 inputs)"
        )
    return (
        f"{layer} returned non-finite outputs from finite inputs and parameters (largest |r| "
        f"{largest['r']:.3g}, largest |v| {largest['v']:.3g}): an intermediate value overflowed "
        f"{r.dtype} or was undefined. Rescale the inputs (to magnitudes about 1) or use float64 (layer.double() "
        "and float64 inputs)"
    )
