"""gaan.tasks.protein.neighbours gives what scipy's k-d tree gives (the reference here): pairs
within a cutoff, pairs between two sets, and the k nearest points, in 3-d and (exhaustively) in
more dimensions, including points far from the rest and non-finite coordinates."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from gaan.tasks.protein.neighbours import k_nearest, k_nearest_exhaustive, pairs_between, pairs_within


def protein_like(n, seed=0):
    """Points about 1.5 A apart in a blob, plus a few far away (a second chain, a stray atom)."""
    rng = np.random.default_rng(seed)
    blob = rng.normal(0, (n / 0.05 / 8) ** (1 / 3), (n, 3))
    blob[:3] += [200.0, -50.0, 30.0]
    return blob


@pytest.mark.parametrize("cutoff", [0.5, 3.0, 4.2, 12.0])
def test_pairs_within_are_the_k_d_tree_pairs(cutoff):
    coords = protein_like(800)
    expected = cKDTree(coords).query_pairs(cutoff, output_type="ndarray")
    expected = expected[np.lexsort((expected[:, 1], expected[:, 0]))]
    found = pairs_within(coords, cutoff)
    assert len(found) > 0 or cutoff < 1  # below the spacing: none
    assert np.array_equal(found, expected)


def test_pairs_between_match_the_sparse_distance_matrix_and_skip_non_finite_points():
    points, others = protein_like(300, seed=1), protein_like(500, seed=2)
    points[5] = np.nan
    others[7] = [np.inf, 0, 0]
    i, j, distance = pairs_between(points, others, 5.0)
    finite_points, finite_others = np.isfinite(points).all(1), np.isfinite(others).all(1)
    tree_pairs = cKDTree(points[finite_points]).sparse_distance_matrix(cKDTree(others[finite_others]), 5.0, output_type="ndarray")
    expected_i = np.flatnonzero(finite_points)[tree_pairs["i"]]
    expected_j = np.flatnonzero(finite_others)[tree_pairs["j"]]
    order = np.lexsort((expected_j, expected_i))
    assert np.array_equal(i, expected_i[order]) and np.array_equal(j, expected_j[order])
    assert np.allclose(distance, tree_pairs["v"][order], rtol=0, atol=1e-12)
    assert 5 not in i and 7 not in j


@pytest.mark.parametrize("k", [1, 16, 40])
def test_k_nearest_are_the_k_d_tree_neighbours(k):
    points = protein_like(600, seed=3)
    queries = np.concatenate([points[:50], protein_like(40, seed=4), [[500.0, 500.0, 500.0]]])  # near, among, far
    distance, index = k_nearest(points, queries, k)
    expected_distance, expected_index = cKDTree(points).query(queries, k)
    expected_distance, expected_index = expected_distance.reshape(len(queries), k), expected_index.reshape(len(queries), k)
    assert np.allclose(distance, expected_distance, rtol=0, atol=1e-12)
    assert np.array_equal(index, expected_index)


def test_k_nearest_exhaustive_in_eight_dimensions():
    rng = np.random.default_rng(5)
    table, queries = rng.normal(size=(5000, 8)), rng.normal(size=(70, 8))
    distance, index = k_nearest_exhaustive(table, queries, 31)
    expected_distance, expected_index = cKDTree(table).query(queries, 31)
    assert np.allclose(distance, expected_distance, rtol=0, atol=1e-12)
    assert np.array_equal(index, expected_index)


def test_ties_go_to_the_lower_index_and_bad_arguments_are_refused():
    points = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 2.0, 0]])
    distance, index = k_nearest(points, np.zeros((1, 3)), 2)
    assert index.tolist() == [[0, 1]] and distance.tolist() == [[1.0, 1.0]]
    with pytest.raises(ValueError, match="k must be"):
        k_nearest(points, np.zeros((1, 3)), 4)
    with pytest.raises(ValueError, match="cutoff"):
        pairs_within(points, 0.0)
    assert pairs_within(np.zeros((0, 3)), 1.0).shape == (0, 2)
