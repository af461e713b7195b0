"""Input checks shared by the layers: every error names the argument and what was seen."""

import torch
from torch import Tensor


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def check_positive_int(name: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _is_compiling() -> bool:
    return torch.compiler.is_compiling()


def check_point_inputs(
    r: Tensor,
    v: Tensor,
    mask: Tensor | None,
    weights: Tensor | None,
    components: int,
    n_dim: int,
    allow_neighbour_axis: bool = True,
) -> None:
    """Shapes, dtypes and finiteness of ``(r, v, mask, weights)`` for one layer call."""
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
        raise ValueError(f"v must have shape {points_shape + (n_dim,)} to match r {tuple(r.shape)} and the layer width {n_dim}, got {tuple(getattr(v, 'shape', ()))}")
    if v.dtype != r.dtype:
        raise ValueError(f"v has dtype {v.dtype} but r has dtype {r.dtype}")
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != points_shape:
            raise ValueError(f"mask must be a bool tensor of shape {points_shape}, got {getattr(mask, 'dtype', type(mask).__name__)} {tuple(getattr(mask, 'shape', ()))}")
    if weights is not None and (not isinstance(weights, Tensor) or tuple(weights.shape) != points_shape):
        raise ValueError(f"weights must have shape {points_shape}, got {tuple(getattr(weights, 'shape', ()))}")
    if _is_compiling():
        return
    for name, x in (("r", r), ("v", v), ("weights", weights)):
        if x is None:
            continue
        bad = ~torch.isfinite(x)
        if x.dim() > len(points_shape):
            bad = bad.any(-1)
        if mask is not None:
            bad = bad & mask
        if bool(bad.any()):
            index = tuple(int(i) for i in bad.nonzero()[0])
            raise ValueError(f"{name} has non-finite values at point index {index} (of shape {tuple(x.shape)})")


def check_labels(labels: Tensor, label_mask: Tensor | None, batch: int, n_dim: int) -> None:
    if not isinstance(labels, Tensor) or labels.dim() != 3 or labels.shape[0] != batch or labels.shape[-1] != n_dim:
        raise ValueError(f"labels must have shape ({batch}, L, {n_dim}), got {tuple(getattr(labels, 'shape', ()))}")
    if label_mask is not None and (label_mask.dtype != torch.bool or tuple(label_mask.shape) != tuple(labels.shape[:2])):
        raise ValueError(f"label_mask must be a bool tensor of shape {tuple(labels.shape[:2])}, got {label_mask.dtype} {tuple(label_mask.shape)}")
    if not _is_compiling() and not bool(torch.isfinite(labels).all()):
        raise ValueError("labels has non-finite values")
