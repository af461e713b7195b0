"""Covariant per-point input vectors (N-body velocities) through the GA backbone and the
covariant head: equivariance, padding invariance and that the vectors are actually used."""

import pytest
import torch
from geometry_helpers import random_rotation

from gaan.models import CovariantVectorHead, DeepSetsBackbone, GAAttentionBackbone, GAMultivectorAttentionBackbone

pytestmark = pytest.mark.usefixtures("float64_default_dtype")


def nbody_like(batch: int = 3, points: int = 5, count: int = 1, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    positions = torch.randn(batch, points, 3, generator=g)
    features = torch.randn(batch, points, 2, generator=g)
    vectors = torch.randn(batch, points, count, 3, generator=g)
    mask = torch.ones(batch, points, dtype=torch.bool)
    mask[0, 3:] = False
    return positions, features, vectors, mask


def model(count: int = 1, seed: int = 0, backbone_class=GAAttentionBackbone):
    torch.manual_seed(seed)
    backbone = backbone_class(in_features=2, width=8, attention={"rank": 2, "invariant_mode": "full"}, vector_inputs=True)
    head = CovariantVectorHead(width=8, num_vectors=count)
    return backbone.double().eval(), head.double().eval()


def predict(backbone, head, positions, features, vectors, mask):
    return head(backbone(positions, features, mask, vectors=vectors))


@pytest.mark.parametrize("backbone_class", [GAAttentionBackbone, GAMultivectorAttentionBackbone])
@pytest.mark.parametrize("count", [1, 2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rotating_positions_and_vectors_rotates_prediction(backbone_class, count, seed):
    positions, features, vectors, mask = nbody_like(count=count, seed=seed)
    backbone, head = model(count, seed, backbone_class)
    out = predict(backbone, head, positions, features, vectors, mask)
    R = random_rotation(seed)
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


def test_ballistic_time_adds_free_flight_exactly_and_stays_covariant():
    positions, features, vectors, mask = nbody_like(seed=3)
    torch.manual_seed(3)
    backbone = (
        GAAttentionBackbone(in_features=2, width=8, attention={"rank": 2, "invariant_mode": "full"}, vector_inputs=True).double().eval()
    )
    plain = CovariantVectorHead(width=8, num_vectors=0).double().eval()
    ballistic = CovariantVectorHead(width=8, num_vectors=0, ballistic_time=0.5).double().eval()
    ballistic.load_state_dict(plain.state_dict())
    out = backbone(positions, features, mask, vectors=vectors)
    torch.testing.assert_close(ballistic(out), plain(out) + 0.5 * vectors[:, :, 0] * mask[..., None], rtol=0, atol=1e-12)
    R = random_rotation(3)
    moved = ballistic(backbone(positions @ R.T, features, mask, vectors=vectors @ R.T))
    torch.testing.assert_close(moved, ballistic(out) @ R.T, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="task.head.ballistic_time"):
        CovariantVectorHead(width=8, ballistic_time="1")
    without_vectors = GAAttentionBackbone(in_features=2, width=8).double()(positions, features, mask)
    with pytest.raises(ValueError, match="task.head.ballistic_time needs"):
        ballistic(without_vectors)
