"""gaan.nn.SoftVectorNorm: covariant, bounded, smooth, the identity near zero."""

import torch
from geometry_helpers import random_rotation

from gaan.nn import SoftVectorNorm


def test_it_rotates_with_its_input_and_keeps_zero_vectors_zero():
    g = torch.Generator().manual_seed(0)
    vectors = 3.0 * torch.randn(4, 5, 6, 3, generator=g, dtype=torch.float64)
    vectors[0, 2] = 0.0  # a padded point
    norm = SoftVectorNorm()
    out = norm(vectors)
    assert torch.all(out[0, 2] == 0)
    rotation = random_rotation().double()
    for transform in (rotation, -rotation):
        torch.testing.assert_close(norm(vectors @ transform.T), out @ transform.T, atol=1e-12, rtol=1e-10)


def test_every_vector_stays_below_the_square_root_of_the_channels_however_large_its_input():
    g = torch.Generator().manual_seed(1)
    norm = SoftVectorNorm()
    for scale in (1e-3, 1.0, 1e3, 1e6):
        out = norm(scale * torch.randn(3, 7, 8, 3, generator=g, dtype=torch.float64))
        assert out.norm(dim=-1).max() < 8**0.5
    # one channel holding all the length: it approaches sqrt(C) from below
    single = torch.zeros(1, 1, 8, 3, dtype=torch.float64)
    single[..., 0, 0] = 1e4
    assert 8**0.5 - 1e-3 < norm(single).norm(dim=-1).max() < 8**0.5


def test_small_vectors_pass_almost_unchanged_and_the_map_is_smooth():
    g = torch.Generator().manual_seed(2)
    small = 1e-4 * torch.randn(2, 3, 4, 2, generator=g, dtype=torch.float64)
    torch.testing.assert_close(SoftVectorNorm()(small), small, atol=1e-11, rtol=1e-7)
    vectors = torch.randn(1, 2, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(SoftVectorNorm(), (vectors,))
