"""k-nearest-neighbour neighbourhoods for sparse attention."""

import torch

import gaan.nn as gnn
from gaan.nn.neighbours import knn, knn_indices


def test_knn_indices_match_brute_force():
    torch.manual_seed(0)
    x = torch.randn(2, 40, 3, dtype=torch.float64)
    idx, valid = knn_indices(x, 6, block=7)  # several query blocks
    d = torch.cdist(x, x)
    expected = d.topk(6, dim=-1, largest=False).indices
    assert valid.all()
    assert (idx[..., 0] == torch.arange(40)).all()  # itself first
    assert torch.equal(idx.sort(-1).values, expected.sort(-1).values)


def test_padding_is_never_a_neighbour_and_small_clouds_are_padded():
    torch.manual_seed(0)
    x = torch.randn(1, 5, 3)
    x[0, 3:] = float("nan")  # padding may hold anything
    mask = torch.tensor([[True, True, True, False, False]])
    rel, feats, m = knn(x, torch.randn(1, 5, 4), k=8, mask=mask)
    assert rel.shape == (1, 5, 8, 3) and feats.shape == (1, 5, 8, 4) and m.shape == (1, 5, 8)
    assert m[0, :3].sum(-1).tolist() == [3, 3, 3]  # three real points, five masked slots each
    assert not m[0, 3:].any()
    assert torch.isfinite(rel[m]).all()


def test_cutoff_masks_far_neighbours():
    x = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [5.0, 0, 0]]])
    _, _, m = knn(x, torch.zeros(1, 3, 2), k=3, cutoff=2.0)
    assert m[0].sum(-1).tolist() == [2, 2, 1]


def test_knn_layer_with_all_points_equals_dense_layer_per_centre():
    """k = N: every point's neighbourhood is the whole cloud, seen from that point."""
    torch.manual_seed(0)
    layer = gnn.VectorAttention(8, rank=2, reduce=True).double()
    x = torch.randn(1, 6, 3, dtype=torch.float64)
    v = torch.randn(1, 6, 8, dtype=torch.float64)
    rel, feats, m = knn(x, v, k=6)
    sparse = layer(rel, feats, mask=m)  # (1, 6, 8)
    for i in range(6):
        dense = layer(x - x[:, i : i + 1], v)  # reduce=True is permutation invariant
        torch.testing.assert_close(sparse[:, i], dense)


def test_sparse_cost_is_linear_in_points():
    """Tuples per point stay k**rank, whatever the cloud size."""
    layer = gnn.VectorAttention(4, rank=2, return_attention=True)
    for n in (20, 80):
        x = torch.randn(1, n, 3)
        rel, feats, m = knn(x, torch.randn(1, n, 4), k=5)
        _, attention = layer(rel, feats, mask=m)
        assert attention.shape == (1, n, 5, 5, 1)
