"""The torch Steinhardt order parameter agrees with freud's and is invariant."""

import numpy as np
import pytest
import torch

from gaan.models.steinhardt import SteinhardtBackbone, steinhardt_features, steinhardt_order


def fcc_shell() -> np.ndarray:
    """The 12 nearest neighbours of an fcc site."""
    shell = [(a, b, 0) for a in (-1, 1) for b in (-1, 1)]
    shell += [(a, 0, b) for a in (-1, 1) for b in (-1, 1)]
    shell += [(0, a, b) for a in (-1, 1) for b in (-1, 1)]
    return np.array(shell, dtype=np.float64) / np.sqrt(2)


def test_fcc_values_and_agreement_with_freud():
    shell = fcc_shell()
    cloud = torch.tensor(np.concatenate([np.zeros((1, 3)), shell]))[None]  # centre first
    mask = torch.ones(1, 13, dtype=torch.bool)
    order = steinhardt_order(cloud, mask)[0, 0]
    torch.testing.assert_close(order, torch.tensor([0.19094, 0.57452], dtype=torch.float64), atol=1e-4, rtol=0)
    noisy = shell + np.random.default_rng(0).normal(scale=0.05, size=shell.shape)
    expected = steinhardt_features(noisy[None])[0]
    cloud = torch.tensor(np.concatenate([np.zeros((1, 3)), noisy]))[None]
    np.testing.assert_allclose(steinhardt_order(cloud, mask)[0, 0].numpy(), expected, atol=1e-4)


def test_invariant_to_rotation_permutation_and_padding():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 7, 3, generator=gen, dtype=torch.float64)
    mask = torch.ones(2, 7, dtype=torch.bool)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    perm = torch.randperm(7, generator=gen)
    order = steinhardt_order(x, mask)
    torch.testing.assert_close(steinhardt_order(x @ q.T, mask), order)
    torch.testing.assert_close(steinhardt_order(x[:, perm], mask), order[:, perm])
    padded = torch.cat([x, torch.full((2, 2, 3), 1e3, dtype=torch.float64)], 1)
    padded_mask = torch.cat([mask, torch.zeros(2, 2, dtype=torch.bool)], 1)
    torch.testing.assert_close(steinhardt_order(padded, padded_mask)[:, :7], order)


def test_backbone_rejects_bad_l_values():
    with pytest.raises(ValueError, match="model.l_values"):
        SteinhardtBackbone(3, l_values=())
