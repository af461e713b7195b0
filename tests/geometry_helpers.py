"""Random group elements and their actions on vectors and multivectors, for equivariance tests."""

import torch
from torch import Tensor


def random_orthogonal(dim: int, generator: torch.Generator, dtype=torch.float64, proper: bool = True) -> Tensor:
    """A Haar-random rotation (proper=True) or rotoreflection (proper=False)."""
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r))
    if (torch.linalg.det(q) > 0) != proper:
        q[:, 0] = -q[:, 0]
    return q


def random_rotation(seed: int = 0, dtype=torch.float64) -> Tensor:
    """A Haar-random proper 3-D rotation from a seed (numpy callers take `.numpy()`)."""
    return random_orthogonal(3, torch.Generator().manual_seed(seed), dtype=dtype)


def rotate_vectors(x: Tensor, q: Tensor) -> Tensor:
    return x @ q.T


def transform_multivectors(m: Tensor, q: Tensor) -> Tensor:
    """The outermorphism of q on multivectors (the automorphism of the algebra it induces).

    3-D layout (1, e1, e2, e3, e12, e13, e23, e123); the bivector's dual (e23, -e13, e12)
    transforms as det(q) q; the trivector as det(q). 2-D layout (1, e1, e2, e12).
    """
    det = torch.linalg.det(q)
    if m.shape[-1] == 4:
        return torch.cat([m[..., :1], m[..., 1:3] @ q.T, det * m[..., 3:]], -1)
    b12, b13, b23 = m[..., 4], m[..., 5], m[..., 6]
    dual = torch.stack([b23, -b13, b12], -1) @ q.T * det
    bivector = torch.stack([dual[..., 2], -dual[..., 1], dual[..., 0]], -1)
    return torch.cat([m[..., :1], m[..., 1:4] @ q.T, bivector, det * m[..., 7:]], -1)


def random_multivectors(shape, dim: int, generator: torch.Generator, dtype=torch.float64) -> Tensor:
    return torch.randn(*shape, 2**dim, generator=generator, dtype=dtype)


def random_cloud_with_velocities(batch: int = 3, points: int = 6, seed: int = 0, padded_from: int = 4):
    """Positions (B, N, 3), two features per point, one velocity per point (B, N, 1, 3) and a
    mask whose first cloud is padded from point `padded_from` on."""
    g = torch.Generator().manual_seed(seed)
    positions = torch.randn(batch, points, 3, generator=g)
    features = torch.randn(batch, points, 2, generator=g)
    velocities = torch.randn(batch, points, 1, 3, generator=g)
    mask = torch.ones(batch, points, dtype=torch.bool)
    mask[0, padded_from:] = False
    return positions, features, velocities, mask
