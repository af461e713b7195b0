"""Backbones whose blocks also move the points (`geometry_updates=True`), in the shared
centroid frame or in every point's local frame (`view=LocalFrames()`): the displacement they
return is rotation-covariant, translation- and padding-invariant, permutation-equivariant,
and actually reaches the covariant head."""

import copy

import pytest
import torch
from geometry_helpers import random_cloud_with_velocities as cloud
from geometry_helpers import random_orthogonal

from gaan.models import CovariantVectorHead, GAAttentionBackbone, GAMultivectorAttentionBackbone
from gaan.models.views import LocalFrames, WholeCloud

pytestmark = pytest.mark.usefixtures("float64_default_dtype")

BACKBONES = [GAAttentionBackbone, GAMultivectorAttentionBackbone]


def view_for(local_frames: bool, radius=None):
    return LocalFrames(radius) if local_frames else WholeCloud()


def build(backbone_class, vector_inputs, seed=0, gate=0.7, view=None, vector_channels=0):
    torch.manual_seed(seed)
    backbone = backbone_class(
        in_features=2,
        width=8,
        depth=3 if vector_channels else 2,
        attention={"rank": 2, "invariant_mode": "full"},
        vector_inputs=vector_inputs,
        geometry_updates=True,
        view=view,
        vector_channels=vector_channels,
    )
    with torch.no_grad():
        backbone.update_gates.fill_(gate)  # trained gates are non-zero; 0 would hide the updates
        if vector_channels:
            backbone.hidden_gates.fill_(gate)
    head = CovariantVectorHead(width=8, num_vectors=1 if vector_inputs else 0)
    return backbone.double().eval(), head.double().eval()


def run(backbone, head, positions, features, velocities, mask):
    out = backbone(positions, features, mask, vectors=velocities)
    return out, head(out)


@pytest.mark.parametrize("backbone_class", BACKBONES)
@pytest.mark.parametrize("vector_inputs", [False, True])
@pytest.mark.parametrize("local_frames", [False, True])
@pytest.mark.parametrize("seed,vector_channels", [(0, 0), (1, 0), (2, 2)])
def test_displacement_is_covariant_and_translation_invariant(backbone_class, vector_inputs, local_frames, seed, vector_channels):
    positions, features, velocities, mask = cloud(seed=seed)
    backbone, head = build(backbone_class, vector_inputs, seed, view=view_for(local_frames), vector_channels=vector_channels)
    out, prediction = run(backbone, head, positions, features, velocities, mask)
    R = random_orthogonal(3, torch.Generator().manual_seed(seed + 10))
    if backbone_class is GAMultivectorAttentionBackbone:
        R = R * torch.sign(torch.det(R))  # multivector products carry pseudoscalars: proper rotations
    shift = torch.tensor([1.5, -0.4, 3.0])
    moved, moved_prediction = run(backbone, head, positions @ R.T + shift, features, velocities @ R.T, mask)
    assert out.vectors[mask].abs().max() > 1e-3
    torch.testing.assert_close(moved.vectors, out.vectors @ R.T, rtol=0, atol=1e-10)
    torch.testing.assert_close(moved_prediction, prediction @ R.T, rtol=0, atol=1e-10)
    torch.testing.assert_close(moved.invariants, out.invariants, rtol=0, atol=1e-10)
    assert torch.all(out.vectors[~mask] == 0)


@pytest.mark.parametrize("backbone_class", BACKBONES)
@pytest.mark.parametrize("local_frames", [False, True])
@pytest.mark.parametrize("vector_channels", [0, 2])
def test_permuting_points_permutes_displacement(backbone_class, local_frames, vector_channels):
    positions, features, velocities, mask = cloud()
    mask[:] = True
    backbone, head = build(backbone_class, True, view=view_for(local_frames), vector_channels=vector_channels)
    out, _ = run(backbone, head, positions, features, velocities, mask)
    perm = torch.randperm(positions.shape[1], generator=torch.Generator().manual_seed(3))
    permuted, _ = run(backbone, head, positions[:, perm], features[:, perm], velocities[:, perm], mask)
    torch.testing.assert_close(permuted.vectors, out.vectors[:, perm], rtol=0, atol=1e-10)


@pytest.mark.parametrize("local_frames", [False, True])
@pytest.mark.parametrize("vector_channels", [0, 2])
def test_padding_garbage_does_not_move_real_points(local_frames, vector_channels):
    positions, features, velocities, mask = cloud()
    backbone, head = build(GAAttentionBackbone, True, view=view_for(local_frames), vector_channels=vector_channels)
    out, _ = run(backbone, head, positions, features, velocities, mask)
    garbage, garbage_velocities = positions.clone(), velocities.clone()
    garbage[0, 4:] = 50.0
    garbage_velocities[0, 4:] = -9.0
    other, _ = run(backbone, head, garbage, features, garbage_velocities, mask)
    torch.testing.assert_close(other.vectors[mask], out.vectors[mask], rtol=0, atol=1e-10)


def test_gates_start_closed_and_learn():
    positions, features, velocities, mask = cloud()
    torch.manual_seed(0)
    backbone = GAAttentionBackbone(in_features=2, width=8, depth=2, vector_inputs=True, geometry_updates=True).double()
    out = backbone(positions, features, mask, vectors=velocities)
    assert torch.all(out.vectors == 0)  # training starts from the plain backbone
    head = CovariantVectorHead(width=8, num_vectors=1).double()
    target = torch.randn_like(positions)
    torch.nn.functional.mse_loss(head(out), target).backward()
    assert backbone.update_gates.grad.abs().min() > 0  # every gate gets a gradient from the first step


def ring(degrees):
    angles = torch.tensor(degrees, dtype=torch.float64).deg2rad()
    return torch.stack([angles.cos(), angles.sin(), torch.zeros_like(angles)], -1)[None]


def test_local_frames_see_pair_distances():
    """A square and a rectangle on the unit circle: same centroid, every |r_i| = 1, different
    pair distances. Rank 1 in the centroid frame cannot tell them apart; local frames can."""
    square, rectangle = ring([0, 90, 180, 270]), ring([0, 60, 180, 240])
    features = torch.ones(1, 4, 1)
    outputs = {}
    for local_frames in (False, True):
        torch.manual_seed(0)
        backbone = GAAttentionBackbone(
            in_features=1, width=8, depth=1, attention={"rank": 1}, normalize=False, view=view_for(local_frames)
        ).double()
        outputs[local_frames] = [backbone(x, features).invariants for x in (square, rectangle)]
    torch.testing.assert_close(*outputs[False], rtol=0, atol=1e-12)
    assert (outputs[True][0] - outputs[True][1]).abs().max() > 1e-3


def test_local_frames_train_with_finite_gradients():
    positions, features, velocities, mask = cloud()
    backbone, head = build(GAAttentionBackbone, True, view=LocalFrames(), gate=0.0)
    optimizer = torch.optim.Adam([*backbone.parameters(), *head.parameters()], lr=1e-2)
    backbone.train(), head.train()
    target = torch.randn_like(positions) * mask[..., None]
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(head(backbone(positions, features, mask, vectors=velocities)), target)
        loss.backward()
        # the centre's own entry sits at the origin: its zero-length products must stay finite
        assert all(torch.isfinite(p.grad).all() for p in backbone.parameters() if p.grad is not None)
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize("local_frames", [False, True])
def test_moves_are_bounded_far_outside_the_training_range(local_frames):
    """Each block moves a point by at most |gate| (in the normalized geometry), however
    large its covariant output: a far-away, fast body cannot be thrown across the cloud."""
    positions, features, velocities, mask = cloud()
    positions[1, 2] = 1e3
    velocities[1, 2] = -1e3
    torch.manual_seed(0)
    backbone = (
        GAAttentionBackbone(
            in_features=2,
            width=8,
            depth=2,
            attention={"rank": 2, "invariant_mode": "full"},
            normalize=False,
            vector_inputs=True,
            geometry_updates=True,
            view=view_for(local_frames),
        )
        .double()
        .eval()
    )
    with torch.no_grad():
        backbone.update_gates.copy_(torch.tensor([0.7, -0.4]))
    out = backbone(positions, features, mask, vectors=velocities)
    lengths = out.vectors.norm(dim=-1)
    assert lengths.max() <= 0.7 + 0.4 + 1e-9
    assert lengths[1].max() > 0.5  # the moves are not all tiny: the bound is what holds them


def test_hidden_vectors_start_inert_and_every_parameter_learns():
    """vector_channels: the hidden gates start closed (the hidden vectors stay zero), yet every
    parameter gets a gradient (none unused, as DDP needs), and open gates change the
    displacement."""
    positions, features, velocities, mask = cloud()
    torch.manual_seed(0)
    backbone = GAAttentionBackbone(
        in_features=2, width=8, depth=3, vector_inputs=True, geometry_updates=True, view=LocalFrames(), vector_channels=2
    ).double()
    assert torch.all(backbone.hidden_gates == 0)
    assert [layer.covariant_channels for layer in backbone.attention] == [3, 3, 1]
    with torch.no_grad():
        backbone.update_gates.fill_(0.5)
    head = CovariantVectorHead(width=8, num_vectors=1).double()
    target = torch.randn_like(positions)
    torch.nn.functional.mse_loss(head(backbone(positions, features, mask, vectors=velocities)), target).backward()
    unused = [name for name, p in backbone.named_parameters() if p.grad is None or p.grad.abs().max() == 0]
    assert unused == [], unused
    closed = backbone(positions, features, mask, vectors=velocities).vectors
    with torch.no_grad():
        backbone.hidden_gates.fill_(0.5)
    assert (backbone(positions, features, mask, vectors=velocities).vectors - closed).abs().max() > 1e-7  # roundoff: 1e-17


def test_vector_channels_need_geometry_updates():
    with pytest.raises(ValueError, match="model.vector_channels"):
        GAAttentionBackbone(in_features=2, vector_channels=2)
    with pytest.raises(ValueError, match="model.vector_channels"):
        GAAttentionBackbone(in_features=2, geometry_updates=True, vector_channels=-1)


@pytest.mark.parametrize("local_frames", [False, True])
def test_dropout_keeps_covariance_for_every_drop_mask_and_is_off_in_eval(local_frames):
    positions, features, velocities, mask = cloud()
    kwargs = dict(
        in_features=2,
        width=8,
        depth=2,
        attention={"rank": 2, "invariant_mode": "full"},
        vector_inputs=True,
        geometry_updates=True,
        view=view_for(local_frames),
    )
    torch.manual_seed(0)
    plain = GAAttentionBackbone(**kwargs).double()
    dropping = GAAttentionBackbone(**kwargs, dropout=0.4).double()
    dropping.load_state_dict(plain.state_dict())
    with torch.no_grad():
        dropping.update_gates.fill_(0.7)
        plain.update_gates.fill_(0.7)
    plain.eval()
    dropping.eval()
    torch.testing.assert_close(
        dropping(positions, features, mask, vectors=velocities).vectors,
        plain(positions, features, mask, vectors=velocities).vectors,
        rtol=0,
        atol=0,
    )
    dropping.train()
    twin = copy.deepcopy(dropping)  # training mode also updates the running norm: same state for both calls
    R = random_orthogonal(3, torch.Generator().manual_seed(4))
    torch.manual_seed(7)
    out = dropping(positions, features, mask, vectors=velocities)
    torch.manual_seed(7)  # the same drop mask
    moved = twin(positions @ R.T + 2.0, features, mask, vectors=velocities @ R.T)
    torch.testing.assert_close(moved.vectors, out.vectors @ R.T, rtol=0, atol=1e-10)
    torch.testing.assert_close(moved.invariants, out.invariants, rtol=0, atol=1e-10)
    assert torch.all(out.invariants[~mask] == 0)
    # training mode really drops: another mask, another output
    other = dropping(positions, features, mask, vectors=velocities)
    assert (other.invariants - out.invariants)[mask].abs().max() > 1e-3


def test_dropout_out_of_range_names_the_key():
    with pytest.raises(ValueError, match="model.dropout"):
        GAAttentionBackbone(in_features=2, dropout=1.0)


def _local_backbone(radius=None):
    torch.manual_seed(0)
    backbone = (
        GAAttentionBackbone(
            in_features=2,
            width=8,
            depth=2,
            attention={"rank": 2, "invariant_mode": "full"},
            vector_inputs=True,
            geometry_updates=True,
            view=LocalFrames(radius),
        )
        .double()
        .eval()
    )
    with torch.no_grad():
        backbone.update_gates.fill_(0.7)
    return backbone


def test_view_radius_keeps_covariance_and_permutation_equivariance():
    positions, features, velocities, mask = cloud(seed=3)
    mask[:] = True
    backbone = _local_backbone(radius=0.8)
    out = backbone(positions, features, mask, vectors=velocities)
    R = random_orthogonal(3, torch.Generator().manual_seed(8))
    perm = torch.randperm(positions.shape[1], generator=torch.Generator().manual_seed(2))
    moved = backbone(positions[:, perm] @ R.T - 4.0, features[:, perm], mask, vectors=velocities[:, perm] @ R.T)
    torch.testing.assert_close(moved.vectors, out.vectors[:, perm] @ R.T, rtol=0, atol=1e-10)
    torch.testing.assert_close(moved.invariants, out.invariants[:, perm], rtol=0, atol=1e-10)


def test_view_radius_makes_an_ejected_point_look_the_same_at_any_distance():
    positions, features, velocities, mask = cloud(seed=4)
    mask[:] = True
    direction = torch.tensor([0.6, -0.8, 0.0])

    def others(backbone, distance):
        far = positions.clone()
        far[:, 0] = distance * direction
        return backbone(far, features, mask, vectors=velocities).invariants[:, 1:]

    limited, plain = _local_backbone(radius=0.5), _local_backbone()
    near, far = others(limited, 1e3), others(limited, 1e4)
    assert (near - far).abs().max() < 1e-3 * near.abs().max()
    # without the limit the other points' features keep changing with the distance
    assert (others(plain, 1e3) - others(plain, 1e4)).abs().max() > 0.1 * near.abs().max()


@pytest.mark.parametrize("radius", [0.0, -1.0, "2", True])
def test_view_radius_must_be_a_positive_number(radius):
    with pytest.raises(ValueError, match="model.view.radius must be a number > 0"):
        LocalFrames(radius)


@pytest.mark.parametrize("backbone_class", BACKBONES)
@pytest.mark.parametrize("local_frames", [False, True])
@pytest.mark.parametrize("vector_channels", [0, 2])
def test_parity_makes_the_prediction_reflection_covariant(backbone_class, local_frames, vector_channels):
    """parity=True (backbone and head): a rotoreflection of the inputs transforms the moves and
    the prediction the same way (O(3)); without it the pair covariants are pseudovectors
    (a x b) and a mirror image gets a different prediction."""
    positions, features, velocities, mask = cloud(seed=4)
    R = random_orthogonal(3, torch.Generator().manual_seed(14), proper=False)
    errors = {}
    for parity in (True, False):
        torch.manual_seed(4)
        backbone = (
            backbone_class(
                in_features=2,
                width=8,
                depth=3,
                attention={"rank": 2, "invariant_mode": "full", "parity": parity},
                vector_inputs=True,
                geometry_updates=True,
                view=view_for(local_frames),
                vector_channels=vector_channels,
            )
            .double()
            .eval()
        )
        with torch.no_grad():
            backbone.update_gates.fill_(0.7)
            if vector_channels:
                backbone.hidden_gates.fill_(0.7)
        head = CovariantVectorHead(width=8, num_vectors=1, parity=parity).double().eval()
        out, prediction = run(backbone, head, positions, features, velocities, mask)
        mirrored, mirrored_prediction = run(backbone, head, positions @ R.T, features, velocities @ R.T, mask)
        assert out.vectors[mask].abs().max() > 1e-3
        errors[parity] = max((mirrored.vectors - out.vectors @ R.T).abs().max(), (mirrored_prediction - prediction @ R.T).abs().max())
        if parity:
            torch.testing.assert_close(mirrored.invariants, out.invariants, rtol=0, atol=1e-10)
    assert errors[True] < 1e-10
    assert errors[False] > 1e-4
