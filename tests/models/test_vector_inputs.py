"""Covariant per-point input vectors (N-body velocities) through the GA backbone and the
covariant head: equivariance, padding invariance and that the vectors are actually used."""
import pytest
import torch

from geometry_helpers import random_orthogonal

from gaan.models import CovariantVectorHead, DeepSetsBackbone, GAAttentionBackbone, GAMultivectorAttentionBackbone


pytestmark = pytest.mark.usefixtures("float64_default_dtype")


def rotation(seed: int = 0) -> torch.Tensor:
    return random_orthogonal(3, torch.Generator().manual_seed(seed))


def nbody_like(batch: int = 3, points: int = 5, count: int = 1, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    positions = torch.randn(batch, points, 3, generator=g)
    features = torch.randn(batch, points, 2, generator=g)
    vectors = torch.randn(batch, points, count, 3, generator=g)
    mask = torch.ones(batch, points, dtype=torch.bool)
    mask[0, 3:] = False
    return positions, features, vectors, mask


def model(count: int = 1, seed: int = 0, backbone_class=GAAttentionBackbone, free_flight: float | None = None):
    torch.manual_seed(seed)
    backbone = backbone_class(in_features=2, width=8, rank=2, invariant_mode="full", vector_inputs=True)
    head = CovariantVectorHead(width=8, num_vectors=count, free_flight=free_flight)
    if free_flight is not None:
        torch.nn.init.uniform_(head.free_flight, -1.0, 1.0)  # a trained coefficient
    return backbone.double().eval(), head.double().eval()


def predict(backbone, head, positions, features, vectors, mask):
    return head(backbone(positions, features, mask, vectors=vectors))


@pytest.mark.parametrize("backbone_class", [GAAttentionBackbone, GAMultivectorAttentionBackbone])
@pytest.mark.parametrize("count", [1, 2])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("free_flight", [None, 1.0])
def test_rotating_positions_and_vectors_rotates_prediction(backbone_class, count, seed, free_flight):
    positions, features, vectors, mask = nbody_like(count=count, seed=seed)
    backbone, head = model(count, seed, backbone_class, free_flight)
    out = predict(backbone, head, positions, features, vectors, mask)
    R = rotation(seed)
    shift = torch.tensor([0.3, -1.0, 2.0])
    moved = predict(backbone, head, positions @ R.T + shift, features, vectors @ R.T, mask)
    assert out.abs().max() > 1e-3  # not trivially zero
    torch.testing.assert_close(moved, out @ R.T, rtol=0, atol=1e-10)
    assert torch.all(out[~mask] == 0)


def test_padding_does_not_change_real_points():
    positions, features, vectors, mask = nbody_like()
    backbone, head = model()
    out = predict(backbone, head, positions, features, vectors, mask)
    g = torch.Generator().manual_seed(5)
    extra = 2
    pad = lambda x: torch.cat([x, torch.randn(x.shape[0], extra, *x.shape[2:], generator=g)], 1)  # noqa: E731
    padded_mask = torch.cat([mask, torch.zeros(mask.shape[0], extra, dtype=torch.bool)], 1)
    # garbage in padded rows (and in already-padded rows of cloud 0) must not leak
    garbage_positions = pad(positions)
    garbage_positions[0, 3:5] = 7.0
    padded = predict(backbone, head, garbage_positions, pad(features), pad(vectors), padded_mask)
    torch.testing.assert_close(padded[:, :5][mask], out[mask], rtol=0, atol=1e-10)
    assert torch.all(padded[~padded_mask] == 0)


def test_vectors_change_the_prediction_through_backbone_and_head():
    positions, features, vectors, mask = nbody_like()
    backbone, head = model()
    base = backbone(positions, features, mask, vectors=vectors)
    other = backbone(positions, features, mask, vectors=2 * vectors + 0.1)
    # the backbone's invariants see the vectors (not only the head's velocity term)
    assert (base.invariants - other.invariants)[mask].abs().max() > 1e-4
    with pytest.raises(ValueError, match="vector_inputs"):
        backbone(positions, features, mask)


def test_backbones_without_vector_support_ignore_vectors_but_pass_them_on():
    positions, features, vectors, mask = nbody_like()
    torch.manual_seed(0)
    backbone = DeepSetsBackbone(in_features=2, width=8).double()
    with_vectors = backbone(positions, features, mask, vectors=vectors)
    without = backbone(positions, features, mask)
    torch.testing.assert_close(with_vectors.invariants, without.invariants)
    assert with_vectors.input_vectors.shape == vectors.shape
    assert torch.all(with_vectors.input_vectors[~mask] == 0)
    head = CovariantVectorHead(width=8, num_vectors=2).double()
    with pytest.raises(ValueError, match="task.head.num_vectors"):
        head(with_vectors)


def test_free_flight_term_is_one_global_coefficient_per_input_vector():
    positions, features, vectors, mask = nbody_like(count=2)
    torch.manual_seed(0)
    backbone = DeepSetsBackbone(in_features=2, width=8).double()  # features do not see the vectors
    plain = CovariantVectorHead(width=8, num_vectors=2).double()
    head = CovariantVectorHead(width=8, num_vectors=2, free_flight=1.0).double()
    head.load_state_dict(plain.state_dict(), strict=False)
    out = backbone(positions, features, mask, vectors=vectors)
    # starts at c0 = 1: the predictions without the term plus the input vectors themselves
    torch.testing.assert_close(head(out), plain(out) + out.input_vectors.sum(2), rtol=0, atol=1e-12)
    with torch.no_grad():
        head.free_flight.copy_(torch.tensor([0.7, -1.3]))
    # scaling one point's vectors far outside any range moves it by exactly (s(h_i) + c) * delta
    delta = torch.zeros_like(vectors)
    delta[1, 2] = torch.tensor([[40.0, -3.0, 5.0], [0.0, 60.0, -2.0]])
    shifted = backbone(positions, features, mask, vectors=vectors + delta)
    change = head(shifted) - head(out)
    scale = head.vector_scale(out.invariants)[1, 2] + head.free_flight
    torch.testing.assert_close(change[1, 2], (scale[:, None] * delta[1, 2]).sum(0), rtol=0, atol=1e-10)
    change[1, 2] = 0
    assert change.abs().max() == 0
    # the coefficients are trained
    head(out).square().sum().backward()
    assert head.free_flight.grad.abs().min() > 0


def test_free_flight_needs_input_vectors():
    with pytest.raises(ValueError, match="task.head.free_flight needs task.head.num_vectors"):
        CovariantVectorHead(width=8, free_flight=1.0)
    with pytest.raises(ValueError, match="starting value"):
        CovariantVectorHead(width=8, num_vectors=1, free_flight=True)
