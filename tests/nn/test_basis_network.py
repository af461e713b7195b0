"""The Gaussian-basis value network: a layer built with it stays rotation-invariant, permutation-
equivariant and blind to padding, and the basis resolves what a raw input cannot."""

import pytest
import torch
from geometry_helpers import random_orthogonal

from gaan.nn import VectorAttention
from gaan.nn.basis_network import GaussianBasis, gaussian_basis_network


def test_layer_with_basis_value_net_keeps_its_symmetries():
    torch.manual_seed(0)
    factory = lambda i, o: gaussian_basis_network(i, o, count=8, hidden=16)  # noqa: E731
    layer = VectorAttention(8, rank=2, reduce=False, invariant_mode="full", value_net=factory, join="product").double()
    gen = torch.Generator().manual_seed(3)
    r, v = torch.randn(2, 6, 3, generator=gen, dtype=torch.float64), torch.randn(2, 6, 8, generator=gen, dtype=torch.float64)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[1, 4:] = False
    out = layer(r, v, mask)
    R = random_orthogonal(3, torch.Generator().manual_seed(5))
    torch.testing.assert_close(layer(r @ R.T, v, mask), out, rtol=0, atol=1e-10)
    perm = torch.randperm(6, generator=gen)
    torch.testing.assert_close(layer(r[:, perm], v[:, perm], mask[:, perm]), out[:, perm], rtol=0, atol=1e-10)
    junk_r, junk_v = r.clone(), v.clone()
    junk_r[1, 4:], junk_v[1, 4:] = 7.0, -3.0
    torch.testing.assert_close(layer(junk_r, junk_v, mask), out, rtol=0, atol=1e-12)
    assert not layer._factored_path_applies(r)  # the first module is not a Linear: general path


def test_basis_values_and_shape():
    basis = GaussianBasis(count=5, low=0.0, high=4.0)
    x = torch.tensor([[1.0, 3.0]])
    out = basis(x)
    assert out.shape == (1, 10)
    assert out[0, 1] == pytest.approx(1.0) and out[0, 5 + 3] == pytest.approx(1.0)  # centres 1 and 3
    assert out[0, 0] == pytest.approx(float(torch.exp(torch.tensor(-0.5))))


def test_bad_basis_settings_are_named():
    with pytest.raises(ValueError, match="count"):
        GaussianBasis(count=1)
    with pytest.raises(ValueError, match="low < high"):
        GaussianBasis(low=1.0, high=1.0)
