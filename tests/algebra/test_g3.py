"""Identities of the closed-form G(3,0) algebra, checked directly and against two independent oracles."""

import numpy as np
import pytest
import torch
from geometry_helpers import random_orthogonal, transform_multivectors

from gaan.algebra import g3

pytestmark = pytest.mark.usefixtures("float64_default_dtype")


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


def mv(shape, gen):
    return torch.randn(*shape, 8, generator=gen)


def vec(shape, gen):
    return torch.randn(*shape, 3, generator=gen)


def test_associativity(gen):
    a, b, c = mv((50,), gen), mv((50,), gen), mv((50,), gen)
    torch.testing.assert_close(g3.mv_mv(g3.mv_mv(a, b), c), g3.mv_mv(a, g3.mv_mv(b, c)), atol=1e-12, rtol=0)


def test_basis_squares_and_anticommutation():
    basis = torch.eye(8)
    e1, e2, e3, e123 = basis[1], basis[2], basis[3], basis[7]
    one = basis[0]
    for e in (e1, e2, e3):
        torch.testing.assert_close(g3.mv_mv(e, e), one)
    torch.testing.assert_close(g3.mv_mv(e1, e2), -g3.mv_mv(e2, e1))
    torch.testing.assert_close(g3.mv_mv(e123, e123), -one)
    torch.testing.assert_close(g3.mv_mv(g3.mv_mv(e1, e2), e3), e123)


def test_vector_product_norm_is_product_of_norms(gen):
    a, b = vec((100,), gen), vec((100,), gen)
    ab = g3.vec_vec(a, b)
    torch.testing.assert_close(ab.norm(dim=-1), a.norm(dim=-1) * b.norm(dim=-1), atol=1e-12, rtol=0)
    # scalar part is the dot product, dual of the bivector the cross product
    torch.testing.assert_close(ab[..., 0], (a * b).sum(-1))
    torch.testing.assert_close(g3.even_covariant(ab), torch.linalg.cross(a, b))


def test_specialised_products_match_full_product(gen):
    a, b, c, d = (vec((40,), gen) for _ in range(4))
    ab = g3.vec_vec(a, b)
    torch.testing.assert_close(g3.even_to_mv(ab), g3.mv_mv(g3.vector_to_mv(a), g3.vector_to_mv(b)))
    abc = g3.even_vec(ab, c)
    torch.testing.assert_close(g3.odd_to_mv(abc), g3.mv_mv(g3.even_to_mv(ab), g3.vector_to_mv(c)))
    abcd = g3.odd_vec(abc, d)
    torch.testing.assert_close(g3.even_to_mv(abcd), g3.mv_mv(g3.odd_to_mv(abc), g3.vector_to_mv(d)))


def test_reversion_reverses_products(gen):
    a, b = mv((50,), gen), mv((50,), gen)
    torch.testing.assert_close(g3.mv_reverse(g3.mv_mv(a, b)), g3.mv_mv(g3.mv_reverse(b), g3.mv_reverse(a)))


def test_duals(gen):
    m = mv((50,), gen)
    pseudoscalar = torch.zeros(8)
    pseudoscalar[7] = 1
    torch.testing.assert_close(g3.mv_dual(m), g3.mv_mv(m, pseudoscalar.expand_as(m)))
    torch.testing.assert_close(g3.mv_dual(g3.mv_dual(m)), -m)
    p = g3.vec_vec(vec((50,), gen), vec((50,), gen))
    # even_dual multiplies by e123^-1 = -e123; odd_dual by e123
    torch.testing.assert_close(g3.odd_to_mv(g3.even_dual(p)), -g3.mv_dual(g3.even_to_mv(p)))
    q = g3.even_vec(p, vec((50,), gen))
    torch.testing.assert_close(g3.even_to_mv(g3.odd_dual(q)), g3.mv_dual(g3.odd_to_mv(q)))


@pytest.mark.parametrize("proper", [True, False])
def test_invariants_under_rotations_and_reflections(gen, proper):
    q = random_orthogonal(3, gen, proper=proper)
    m = mv((60,), gen)
    transformed = transform_multivectors(m, q)
    # the outermorphism is an automorphism: products commute with it
    n = mv((60,), gen)
    torch.testing.assert_close(g3.mv_mv(transformed, transform_multivectors(n, q)), transform_multivectors(g3.mv_mv(m, n), q))
    torch.testing.assert_close(g3.mv_invariants(transformed, parity=True), g3.mv_invariants(m, parity=True))
    trivector_sign = 1.0 if proper else -1.0
    torch.testing.assert_close(g3.mv_invariants(transformed)[..., 3], trivector_sign * g3.mv_invariants(m)[..., 3])


def test_norm_gradient_is_finite_at_zero():
    x = torch.zeros(4, 3, requires_grad=True)
    p = g3.vec_vec(x, x)
    g3.even_invariants(p).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_matches_clifford_package(gen):
    clifford = pytest.importorskip("clifford")
    layout, blades = clifford.Cl(3)
    names = ["", "e1", "e2", "e3", "e12", "e13", "e23", "e123"]

    def to_clifford(x):
        return sum(float(c) * (blades[n] if n else layout.scalar) for c, n in zip(x, names))

    a, b = mv((10,), gen), mv((10,), gen)
    ours = g3.mv_mv(a, b)
    for i in range(10):
        theirs = to_clifford(a[i]) * to_clifford(b[i])
        # read components by blade index in clifford's canonical order (1, e1, e2, e3, e12, e13, e23, e123)
        np.testing.assert_allclose(ours[i].numpy(), theirs.value, atol=1e-12)


def test_matches_reference_package_products(gen):
    reference = pytest.importorskip("geometric_algebra_attention.pytorch.geometric_algebra")
    a, b, c = vec((30,), gen), vec((30,), gen), vec((30,), gen)
    torch.testing.assert_close(g3.vec_vec(a, b), reference.vecvec(a, b))
    ab = g3.vec_vec(a, b)
    torch.testing.assert_close(g3.even_vec(ab, c), reference.bivecvec(ab, c))
    abc = g3.even_vec(ab, c)
    torch.testing.assert_close(g3.odd_vec(abc, a), reference.trivecvec(abc, a))
    m, n = mv((30,), gen), mv((30,), gen)
    torch.testing.assert_close(g3.mv_mv(m, n), reference.mvecmvec(m, n))
    torch.testing.assert_close(g3.mv_dual(m), reference.mvec_dual(m))
    torch.testing.assert_close(g3.even_dual(ab), reference.bivec_dual(ab))
    torch.testing.assert_close(g3.odd_dual(abc), reference.trivec_dual(abc))
