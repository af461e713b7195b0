"""Sparse neighbourhoods: each point attends over its own k nearest neighbours.

The attention layers accept an explicit neighbour axis, r (B, N, K, C), v (B, N, K, D) and
mask (B, N, K): tuples are then drawn from each point's K neighbours, so a rank-``rank``
layer costs N * K**rank instead of N**rank, linear in the number of points.
"""

import torch
from torch import Tensor


def knn_indices(
    positions: Tensor, k: int, mask: Tensor | None = None, cutoff: float | None = None, block: int = 2048
) -> tuple[Tensor, Tensor]:
    """Indices (B, N, k) of each point's k nearest points (itself first) and their validity.

    Distances are computed ``block`` query points at a time, so memory is O(block * N), not
    O(N**2). Padding points (``mask`` False) are never neighbours; fewer than k valid points, or
    neighbours beyond ``cutoff``, leave masked slots.
    """
    batch, points = positions.shape[:2]
    k_eff = min(k, points)
    indices, valid = [], []
    with torch.no_grad():  # the choice of neighbours is discrete: no gradient through it
        for start in range(0, points, block):
            query = positions[:, start : start + block]
            d2 = torch.cdist(query, positions).square()
            if mask is not None:
                d2 = d2.masked_fill(~mask[:, None, :], float("inf"))
            # a point is its own nearest neighbour even if another sits on top of it
            rows = torch.arange(query.shape[1], device=positions.device)
            d2[:, rows, start + rows] = -1.0
            dist, idx = d2.topk(k_eff, dim=-1, largest=False)
            ok = torch.isfinite(dist)
            if cutoff is not None:
                ok = ok & (dist <= cutoff * cutoff)
            indices.append(idx)
            valid.append(ok)
    indices, valid = torch.cat(indices, 1), torch.cat(valid, 1)
    if mask is not None:
        valid = valid & mask[..., None]
    if k_eff < k:  # fewer points than k: pad with masked slots
        pad = k - k_eff
        indices = torch.cat([indices, indices[..., :1].expand(-1, -1, pad)], -1)
        valid = torch.cat([valid, torch.zeros_like(valid[..., :1]).expand(-1, -1, pad)], -1)
    return indices, valid


def gather_neighbours(x: Tensor, indices: Tensor) -> Tensor:
    """x (B, N, C) at indices (B, N, K) -> (B, N, K, C)."""
    batch, points, k = indices.shape
    flat = indices.reshape(batch, points * k, 1).expand(-1, -1, x.shape[-1])
    return x.gather(1, flat).reshape(batch, points, k, x.shape[-1])


def knn(
    positions: Tensor, features: Tensor, k: int, mask: Tensor | None = None, cutoff: float | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Neighbourhoods ready for the layers' neighbour axis.

    :param positions: (B, N, 3) (or (B, N, 2))
    :param features: (B, N, D)
    :param k: neighbours per point (the point itself included, at slot 0)
    :param mask: (B, N) real points; padding is never a neighbour
    :param cutoff: optional radius: farther neighbours are masked out
    :return: relative vectors (B, N, k, C) (neighbour minus centre: translation invariant),
        gathered features (B, N, k, D), mask (B, N, k)
    """
    indices, valid = knn_indices(positions, k, mask, cutoff)
    relative = gather_neighbours(positions, indices) - positions[:, :, None, :]
    return relative, gather_neighbours(features, indices), valid
