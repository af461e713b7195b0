"""Closed-form geometric algebra of the Euclidean plane, G(2,0).

Layouts of the last tensor axis:

* vector      ``(e1, e2)``                 2 components
* even        ``(1, e12)``                 2 components (a complex number)
* odd         ``(e1, e2)``                 the plane has no trivector: odd elements are vectors
* multivector ``(1, e1, e2, e12)``         4 components
"""

import torch
from torch import Tensor

from .common import safe_norm, stack

VECTOR_SIZE = 2
MULTIVECTOR_SIZE = 4
ODD_INVARIANT_SIZE = 1  # |vector|


def vec_vec(a: Tensor, b: Tensor) -> Tensor:
    """vector * vector -> even: (a.b, a^b)."""
    a1, a2 = a.unbind(-1)
    b1, b2 = b.unbind(-1)
    return stack(a1 * b1 + a2 * b2, a1 * b2 - a2 * b1)


def even_vec(p: Tensor, c: Tensor) -> Tensor:
    """even * vector -> vector."""
    s, b = p.unbind(-1)
    c1, c2 = c.unbind(-1)
    return stack(s * c1 + b * c2, s * c2 - b * c1)


odd_vec = vec_vec


def mv_mv(a: Tensor, b: Tensor) -> Tensor:
    a0, a1, a2, a3 = a.unbind(-1)
    b0, b1, b2, b3 = b.unbind(-1)
    return stack(
        a0 * b0 + a1 * b1 + a2 * b2 - a3 * b3,
        a0 * b1 + a1 * b0 - a2 * b3 + a3 * b2,
        a0 * b2 + a1 * b3 + a2 * b0 - a3 * b1,
        a0 * b3 + a1 * b2 - a2 * b1 + a3 * b0,
    )


def vector_to_mv(v: Tensor) -> Tensor:
    zero = torch.zeros_like(v[..., :1])
    return torch.cat([zero, v, zero], -1)


def mv_vector(m: Tensor) -> Tensor:
    return m[..., 1:3]


def mv_reverse(m: Tensor) -> Tensor:
    return torch.cat([m[..., :3], -m[..., 3:]], -1)


def mv_dual(m: Tensor) -> Tensor:
    """m * e12 (right multiplication by the pseudoscalar)."""
    s, v1, v2, b = m.unbind(-1)
    return torch.stack([-b, -v2, v1, s], -1)


def vector_invariants(v: Tensor, parity: bool = False) -> Tensor:
    return safe_norm(v)


def even_invariants(p: Tensor, parity: bool = False) -> Tensor:
    """(scalar, bivector); the bivector is a pseudoscalar in the plane."""
    b = p[..., 1]
    return torch.stack([p[..., 0], b.abs() if parity else b], -1)


def odd_invariants(q: Tensor, parity: bool = False) -> Tensor:
    return safe_norm(q)


def mv_invariants(m: Tensor, parity: bool = False) -> Tensor:
    """(scalar, |vector|, bivector)."""
    b = m[..., 3:]
    return torch.cat([m[..., :1], safe_norm(m[..., 1:3]), b.abs() if parity else b], -1)


def odd_covariant(q: Tensor) -> Tensor:
    return q
