"""Small multilayer perceptrons used as the score, value and scale functions of a layer."""

from collections.abc import Callable

from torch import nn

ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}

NetworkSpec = nn.Module | Callable[[int, int], nn.Module] | None


def mlp(in_features: int, out_features: int, hidden: int, activation: str = "silu", layers: int = 2) -> nn.Sequential:
    """``layers`` linear maps with ``activation`` between them (none after the last)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if layers < 1:
        raise ValueError(f"layers must be >= 1, got {layers}")
    widths = [in_features] + [hidden] * (layers - 1) + [out_features]
    modules: list[nn.Module] = []
    for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:])):
        if i:
            modules.append(ACTIVATIONS[activation]())
        modules.append(nn.Linear(w_in, w_out))
    return nn.Sequential(*modules)


def build_network(spec: NetworkSpec, in_features: int, out_features: int, hidden: int, activation: str) -> nn.Module:
    """A user's module as is, a factory called with the widths, or a default MLP."""
    if spec is None:
        return mlp(in_features, out_features, hidden, activation)
    if isinstance(spec, nn.Module):
        return spec
    if callable(spec):
        return spec(in_features, out_features)
    raise TypeError(f"expected an nn.Module, a factory (in_features, out_features) -> nn.Module, or None; got {type(spec).__name__}")
