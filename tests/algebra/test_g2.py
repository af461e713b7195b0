"""Identities of the closed-form G(2,0) algebra; clifford as an independent oracle."""

import numpy as np
import pytest
import torch
from geometry_helpers import random_orthogonal, transform_multivectors

from gaan.algebra import g2

pytestmark = pytest.mark.usefixtures("float64_default_dtype")


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(99)


def test_associativity_and_basis(gen):
    a, b, c = (torch.randn(50, 4, generator=gen) for _ in range(3))
    torch.testing.assert_close(g2.mv_mv(g2.mv_mv(a, b), c), g2.mv_mv(a, g2.mv_mv(b, c)), atol=1e-12, rtol=0)
    e = torch.eye(4)
    torch.testing.assert_close(g2.mv_mv(e[1], e[1]), e[0])
    torch.testing.assert_close(g2.mv_mv(e[3], e[3]), -e[0])
    torch.testing.assert_close(g2.mv_mv(e[1], e[2]), e[3])


def test_vector_products(gen):
    a, b, c = (torch.randn(40, 2, generator=gen) for _ in range(3))
    ab = g2.vec_vec(a, b)
    torch.testing.assert_close(ab.norm(dim=-1), a.norm(dim=-1) * b.norm(dim=-1))
    full = g2.mv_mv(g2.vector_to_mv(a), g2.vector_to_mv(b))
    torch.testing.assert_close(ab, full[..., [0, 3]])
    even = torch.stack([ab[..., 0], torch.zeros(40), torch.zeros(40), ab[..., 1]], -1)
    torch.testing.assert_close(g2.vector_to_mv(g2.even_vec(ab, c)), g2.mv_mv(even, g2.vector_to_mv(c)))


def test_reversion_and_dual(gen):
    a, b = torch.randn(30, 4, generator=gen), torch.randn(30, 4, generator=gen)
    torch.testing.assert_close(g2.mv_reverse(g2.mv_mv(a, b)), g2.mv_mv(g2.mv_reverse(b), g2.mv_reverse(a)))
    e12 = torch.tensor([0.0, 0, 0, 1]).expand_as(a)
    torch.testing.assert_close(g2.mv_dual(a), g2.mv_mv(a, e12))


@pytest.mark.parametrize("proper", [True, False])
def test_automorphism_and_invariants(gen, proper):
    q = random_orthogonal(2, gen, proper=proper)
    a, b = torch.randn(30, 4, generator=gen), torch.randn(30, 4, generator=gen)
    ta, tb = transform_multivectors(a, q), transform_multivectors(b, q)
    torch.testing.assert_close(g2.mv_mv(ta, tb), transform_multivectors(g2.mv_mv(a, b), q))
    torch.testing.assert_close(g2.mv_invariants(ta, parity=True), g2.mv_invariants(a, parity=True))


def test_matches_clifford_package(gen):
    clifford = pytest.importorskip("clifford")
    layout, blades = clifford.Cl(2)
    names = ["", "e1", "e2", "e12"]
    to_clifford = lambda x: sum(float(c) * (blades[n] if n else layout.scalar) for c, n in zip(x, names))
    a, b = torch.randn(10, 4, generator=gen), torch.randn(10, 4, generator=gen)
    ours = g2.mv_mv(a, b)
    for i in range(10):
        np.testing.assert_allclose(ours[i].numpy(), (to_clifford(a[i]) * to_clifford(b[i])).value, atol=1e-12)
