"""Closed-form geometric algebra of Euclidean 3-space, G(3,0).

Layouts of the last tensor axis:

* vector      ``(e1, e2, e3)``                                   3 components
* even        ``(1, e12, e13, e23)``  scalar + bivector          4 components
* odd         ``(e1, e2, e3, e123)``  vector + trivector         4 components
* multivector ``(1, e1, e2, e3, e12, e13, e23, e123)``           8 components

Every product is written out component by component (no Cayley-table contraction), so
no ``(..., 9)``, ``(..., 12)`` or ``(..., 64)`` intermediates are built.
"""

import torch
from torch import Tensor

from .common import safe_norm, stack

VECTOR_SIZE = 3
MULTIVECTOR_SIZE = 8
ODD_INVARIANT_SIZE = 2  # |vector|, trivector


def vec_vec(a: Tensor, b: Tensor) -> Tensor:
    """vector * vector -> even: (a.b, a^b)."""
    a1, a2, a3 = a.unbind(-1)
    b1, b2, b3 = b.unbind(-1)
    return stack(
        a1 * b1 + a2 * b2 + a3 * b3,
        a1 * b2 - a2 * b1,
        a1 * b3 - a3 * b1,
        a2 * b3 - a3 * b2,
    )


def even_vec(p: Tensor, c: Tensor) -> Tensor:
    """even * vector -> odd."""
    s, b12, b13, b23 = p.unbind(-1)
    c1, c2, c3 = c.unbind(-1)
    return stack(
        s * c1 + b12 * c2 + b13 * c3,
        s * c2 - b12 * c1 + b23 * c3,
        s * c3 - b13 * c1 - b23 * c2,
        b12 * c3 - b13 * c2 + b23 * c1,
    )


def odd_vec(q: Tensor, d: Tensor) -> Tensor:
    """odd * vector -> even."""
    v1, v2, v3, t = q.unbind(-1)
    d1, d2, d3 = d.unbind(-1)
    return stack(
        v1 * d1 + v2 * d2 + v3 * d3,
        v1 * d2 - v2 * d1 + t * d3,
        v1 * d3 - v3 * d1 - t * d2,
        v2 * d3 - v3 * d2 + t * d1,
    )


def mv_mv(a: Tensor, b: Tensor) -> Tensor:
    """multivector * multivector -> multivector (full geometric product)."""
    a0, a1, a2, a3, a4, a5, a6, a7 = a.unbind(-1)
    b0, b1, b2, b3, b4, b5, b6, b7 = b.unbind(-1)
    return stack(
        a0 * b0 + a1 * b1 + a2 * b2 + a3 * b3 - a4 * b4 - a5 * b5 - a6 * b6 - a7 * b7,
        a0 * b1 + a1 * b0 - a2 * b4 - a3 * b5 + a4 * b2 + a5 * b3 - a6 * b7 - a7 * b6,
        a0 * b2 + a1 * b4 + a2 * b0 - a3 * b6 - a4 * b1 + a5 * b7 + a6 * b3 + a7 * b5,
        a0 * b3 + a1 * b5 + a2 * b6 + a3 * b0 - a4 * b7 - a5 * b1 - a6 * b2 - a7 * b4,
        a0 * b4 + a1 * b2 - a2 * b1 + a3 * b7 + a4 * b0 - a5 * b6 + a6 * b5 + a7 * b3,
        a0 * b5 + a1 * b3 - a2 * b7 - a3 * b1 + a4 * b6 + a5 * b0 - a6 * b4 - a7 * b2,
        a0 * b6 + a1 * b7 + a2 * b3 - a3 * b2 - a4 * b5 + a5 * b4 + a6 * b0 + a7 * b1,
        a0 * b7 + a1 * b6 - a2 * b5 + a3 * b4 + a4 * b3 - a5 * b2 + a6 * b1 + a7 * b0,
    )


# --- embeddings between layouts -------------------------------------------------------------


def vector_to_odd(v: Tensor) -> Tensor:
    """vector -> odd with a zero trivector."""
    return torch.cat([v, torch.zeros_like(v[..., :1])], -1)


def vector_to_mv(v: Tensor) -> Tensor:
    zero = torch.zeros_like(v[..., :1])
    return torch.cat([zero, v, zero, zero, zero, zero], -1)


def even_to_mv(p: Tensor) -> Tensor:
    s, bivector = p[..., :1], p[..., 1:]
    zero = torch.zeros_like(s)
    return torch.cat([s, zero, zero, zero, bivector, zero], -1)


def odd_to_mv(q: Tensor) -> Tensor:
    vector, t = q[..., :3], q[..., 3:]
    zero = torch.zeros_like(t)
    return torch.cat([zero, vector, zero, zero, zero, t], -1)


def mv_vector(m: Tensor) -> Tensor:
    return m[..., 1:4]


# --- involutions and duals ------------------------------------------------------------------


def mv_reverse(m: Tensor) -> Tensor:
    """Reversion: bivector and trivector parts change sign."""
    return torch.cat([m[..., :4], -m[..., 4:]], -1)


def mv_dual(m: Tensor) -> Tensor:
    """m * e123 (the pseudoscalar is central in 3-D)."""
    s, v1, v2, v3, b12, b13, b23, t = m.unbind(-1)
    return torch.stack([-t, -b23, b13, -b12, v3, -v2, v1, s], -1)


def even_dual(p: Tensor) -> Tensor:
    """even -> odd: p * e123^-1; the vector part is the cross product for p = a b."""
    s, b12, b13, b23 = p.unbind(-1)
    return torch.stack([b23, -b13, b12, -s], -1)


def odd_dual(q: Tensor) -> Tensor:
    """odd -> even: q * e123."""
    v1, v2, v3, t = q.unbind(-1)
    return torch.stack([-t, v3, -v2, v1], -1)


# --- rotation invariants and covariants -----------------------------------------------------
# `parity=True` replaces pseudoscalars (the trivector) by their magnitude so that the
# invariants also survive reflections (O(3) instead of SO(3)).


def _pseudoscalar(t: Tensor, parity: bool) -> Tensor:
    return t.abs() if parity else t


def vector_invariants(v: Tensor, parity: bool = False) -> Tensor:
    return safe_norm(v)


def even_invariants(p: Tensor, parity: bool = False) -> Tensor:
    """(scalar, |bivector|); both are reflection invariant already."""
    return torch.cat([p[..., :1], safe_norm(p[..., 1:])], -1)


def odd_invariants(q: Tensor, parity: bool = False) -> Tensor:
    """(|vector|, trivector)."""
    return torch.cat([safe_norm(q[..., :3]), _pseudoscalar(q[..., 3:], parity)], -1)


def mv_invariants(m: Tensor, parity: bool = False) -> Tensor:
    """(scalar, |vector|, |bivector|, trivector)."""
    return torch.cat(
        [m[..., :1], safe_norm(m[..., 1:4]), safe_norm(m[..., 4:7]), _pseudoscalar(m[..., 7:], parity)],
        -1,
    )


def even_covariant(p: Tensor) -> Tensor:
    """Dual of the bivector: a pseudovector (the cross product for p = a b)."""
    return even_dual(p)[..., :3]


def odd_covariant(q: Tensor) -> Tensor:
    return q[..., :3]
