"""`safe_norm`: exact, finite gradients at zero, and no overflow where the norm itself fits."""

import pytest
import torch

from gaan.algebra import safe_norm


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_norm_of_components_whose_squares_overflow_is_finite_and_exact(dtype):
    big = torch.finfo(dtype).max ** 0.5 * 4  # its square overflows; the norm of three is < max
    x = torch.tensor([[big, -big, big / 2], [3.0, 4.0, 0.0]], dtype=dtype)
    norm = safe_norm(x, keepdim=False)
    expected = torch.linalg.vector_norm(x.double() / big, dim=-1) * torch.tensor([big, 1.0], dtype=torch.float64)
    expected[1] = 5.0
    assert torch.isfinite(norm).all()
    torch.testing.assert_close(norm.double(), expected, rtol=4 * torch.finfo(dtype).eps, atol=0)


def test_gradient_is_zero_at_zero_and_the_unit_vector_elsewhere():
    x = torch.tensor([[0.0, 0.0, 0.0], [3.0, -4.0, 0.0], [1e30, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    safe_norm(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[0.0, 0.0, 0.0], [0.6, -0.8, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64))


def test_second_derivatives_are_finite_and_match_autograd_of_the_plain_norm():
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(safe_norm(x).sum(), x, create_graph=True)
    (hessian_row_sums,) = torch.autograd.grad(grad.sum(), x)
    y = x.detach().clone().requires_grad_(True)
    (plain,) = torch.autograd.grad(torch.linalg.vector_norm(y, dim=-1).sum(), y, create_graph=True)
    (expected,) = torch.autograd.grad(plain.sum(), y)
    torch.testing.assert_close(hessian_row_sums, expected)
    zero = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    (grad0,) = torch.autograd.grad(safe_norm(zero).sum(), zero, create_graph=True)
    (second0,) = torch.autograd.grad(grad0.sum(), zero)
    assert torch.isfinite(second0).all()


def test_pseudoscalar_magnitude_has_finite_derivatives_at_zero():
    """Reflection-invariant (parity) readings take |trivector| with plain abs: at 0 its first
    and second derivatives must be finite, as for safe_norm, with forces from double backward."""
    from gaan.algebra import g3

    q = torch.tensor([[1.0, 2.0, 0.5, 0.0], [0.0, 0.0, 0.0, -3.0]], dtype=torch.float64, requires_grad=True)
    invariants = g3.odd_invariants(q, parity=True)
    assert torch.equal(invariants[:, 1], q.detach()[:, 3].abs())
    (grad,) = torch.autograd.grad(invariants.sum(), q, create_graph=True)
    (second,) = torch.autograd.grad(grad.sum(), q)
    assert torch.isfinite(grad).all() and torch.isfinite(second).all()
