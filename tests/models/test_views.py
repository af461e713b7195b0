"""View builders: every combination of view and pair inputs keeps the model rotation-covariant,
permutation-equivariant and blind to padding; k-nearest neighbourhoods that hold the whole cloud
compute what local frames compute, smaller ones see only their neighbours; bad settings name the key."""

import pytest
import torch
from geometry_helpers import random_cloud_with_velocities, random_orthogonal
from pair_input_models import build, predict

from gaan.models import GAAttentionBackbone, GAMultivectorAttentionBackbone
from gaan.models.envelopes import PolynomialCutoff
from gaan.models.pair_inputs import CentreFeatures, FeatureProducts, InverseDistances, RelativeMotion
from gaan.models.views import LocalFrames, NearestSmooth, Neighbourhoods, ScaledLocalFrames, SmoothNeighbourhoods, WholeCloud

pytestmark = pytest.mark.usefixtures("float64_default_dtype")

PAIR_INPUTS = {
    "none": lambda: [],
    "inverse_distance": lambda: [InverseDistances(0.1)],
    "relative_motion": lambda: [RelativeMotion([0])],
    "all": lambda: [FeatureProducts([0]), InverseDistances(0.1), RelativeMotion([0])],
    "centre_features": lambda: [CentreFeatures()],
}
VIEWS = {
    "local_frames": lambda: LocalFrames(radius=2.0),
    "neighbourhoods": lambda: Neighbourhoods(k=3, radius=2.0),
    "smooth_neighbourhoods": lambda: SmoothNeighbourhoods(PolynomialCutoff(1.5), k=4, radius=2.0),
    "nearest_smooth": lambda: NearestSmooth(PolynomialCutoff(1.0), k=3, cutoff=3.0, radius=2.0),
    "scaled_local_frames": lambda: ScaledLocalFrames(PolynomialCutoff(1.0), power=4.0, radius=2.0),
}


def cloud(seed=0):
    return random_cloud_with_velocities(points=5, seed=seed, padded_from=3)


@pytest.mark.parametrize("backbone_class", [GAAttentionBackbone, GAMultivectorAttentionBackbone])
@pytest.mark.parametrize("view", sorted(VIEWS))
@pytest.mark.parametrize("inputs", sorted(PAIR_INPUTS))
def test_rotation_covariance_permutation_equivariance_and_padding(backbone_class, view, inputs):
    positions, features, velocities, mask = cloud(seed=2)
    model = build(PAIR_INPUTS[inputs](), seed=2, backbone_class=backbone_class, view=VIEWS[view]())
    prediction = predict(model, positions, features, velocities, mask)
    R = random_orthogonal(3, torch.Generator().manual_seed(12))  # proper: multivectors carry pseudoscalars
    rotated = predict(model, positions @ R.T + 0.3, features, velocities @ R.T, mask)
    torch.testing.assert_close(rotated, prediction @ R.T, rtol=0, atol=1e-10)
    perm = torch.randperm(positions.shape[1], generator=torch.Generator().manual_seed(4))
    permuted = predict(model, positions[:, perm], features[:, perm], velocities[:, perm], mask[:, perm])
    torch.testing.assert_close(permuted, prediction[:, perm], rtol=0, atol=1e-10)
    moved, moving, noisy = positions.clone(), velocities.clone(), features.clone()
    moved[~mask] = positions[0, 0] + 1e-3  # padding right on top of a real point
    moving[~mask], noisy[~mask] = 5.0, 7.0
    torch.testing.assert_close(predict(model, moved, noisy, moving, mask), prediction, rtol=0, atol=1e-12)


@pytest.mark.parametrize("inputs", ["inverse_distance", "relative_motion", "centre_features"])
def test_pair_inputs_reach_the_output(inputs):
    positions, features, velocities, mask = cloud(seed=4)
    with_inputs, without = build(PAIR_INPUTS[inputs]()), build([])
    # same weights apart from the pair embedding, which starts random: the outputs differ
    without[0].load_state_dict(with_inputs[0].state_dict(), strict=False)
    without[1].load_state_dict(with_inputs[1].state_dict())
    difference = predict(with_inputs, positions, features, velocities, mask) - predict(without, positions, features, velocities, mask)
    assert difference[mask].abs().max() > 1e-4


@pytest.mark.parametrize("backbone_class", [GAAttentionBackbone, GAMultivectorAttentionBackbone])
def test_neighbourhoods_holding_the_whole_cloud_compute_local_frames(backbone_class):
    positions, features, velocities, mask = cloud(seed=5)
    local = build(PAIR_INPUTS["all"](), seed=5, backbone_class=backbone_class, view=LocalFrames(radius=2.0))
    near = build(PAIR_INPUTS["all"](), seed=5, backbone_class=backbone_class, view=Neighbourhoods(k=8, radius=2.0))
    torch.testing.assert_close(
        predict(near, positions, features, velocities, mask), predict(local, positions, features, velocities, mask), rtol=0, atol=1e-10
    )


def test_small_neighbourhoods_see_only_their_neighbours():
    g = torch.Generator().manual_seed(6)
    positions = torch.randn(1, 8, 3, generator=g)
    positions[0, 7] = torch.tensor([30.0, 0.0, 0.0])  # far from everything: nobody's neighbour but its own
    features = torch.randn(1, 8, 1, generator=g)
    torch.manual_seed(0)
    backbone = GAAttentionBackbone(in_features=1, width=8, depth=1, view=Neighbourhoods(k=4)).double().eval()
    out = backbone(positions, features).invariants
    moved = positions.clone()
    moved[0, 7] = torch.tensor([0.0, 40.0, 0.0])
    torch.testing.assert_close(backbone(moved, features).invariants[0, :7], out[0, :7], rtol=0, atol=1e-12)
    whole = GAAttentionBackbone(in_features=1, width=8, depth=1, view=LocalFrames()).double().eval()
    whole.load_state_dict(backbone.state_dict())
    assert (whole(moved, features).invariants[0, :7] - whole(positions, features).invariants[0, :7]).abs().max() > 1e-6


def test_pair_inputs_need_per_point_views():
    with pytest.raises(ValueError, match="model.pair_inputs need per-point views"):
        GAAttentionBackbone(in_features=2, view=WholeCloud(), pair_inputs=[InverseDistances(0.1)])
    with pytest.raises(ValueError, match="must be gaan.models.pair_inputs modules"):
        GAAttentionBackbone(in_features=2, view=LocalFrames(), pair_inputs=[{"softening": 0.1}])


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"k": 1}, "model.view.k must be an integer >= 2"),
        ({"k": 2.5}, "model.view.k must be an integer >= 2"),
        ({"k": 4, "cutoff": 0.0}, "model.view.cutoff must be a number > 0"),
        ({"k": 4, "radius": -1.0}, "model.view.radius must be a number > 0"),
    ],
)
def test_bad_neighbourhood_settings_name_the_key(settings, message):
    with pytest.raises(ValueError, match=message):
        Neighbourhoods(**settings)


def test_layer_options_the_backbone_sets_are_refused():
    with pytest.raises(ValueError, match="model.attention.reduce is set by the backbone"):
        GAAttentionBackbone(in_features=2, attention={"reduce": True})
