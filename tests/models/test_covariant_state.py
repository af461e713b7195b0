"""GA attention with covariant hidden state (gaan.models.ga_covariant_state): the features are
invariant and the hidden vectors covariant under rotations, reflections, translations, point
permutations and padding, in 2-D and 3-D; the hidden vectors carry directions between blocks."""

import pytest
import torch
from geometry_helpers import random_rotation

from gaan.models import GACovariantStateBackbone
from gaan.models.envelopes import PolynomialCutoff, Squared
from gaan.models.pair_inputs import BesselBasis, RadialBasis
from gaan.models.views import LocalFrames, NearestSmooth, ScaledLocalFrames, SmoothNeighbourhoods
from gaan.nn.covariant_state_attention import CovariantStateAttention

# (view, pair input) pairs: every view with a Gaussian radial basis, and the md17 smooth view with
# the Bessel basis
CONFIGURATIONS = {
    "local_frames": lambda: (LocalFrames(), RadialBasis(8, 3.0)),
    "scaled_local_frames": lambda: (ScaledLocalFrames(Squared(PolynomialCutoff(1.0))), RadialBasis(8, 3.0)),
    "nearest_smooth": lambda: (NearestSmooth(PolynomialCutoff(1.0), k=3), RadialBasis(8, 3.0)),
    "smooth_neighbourhoods_bessel": lambda: (SmoothNeighbourhoods(PolynomialCutoff(4.0), k=6), BesselBasis(8, 4.0)),
}


def backbone(view, pair_input=None) -> GACovariantStateBackbone:
    torch.manual_seed(0)
    pair_input = RadialBasis(8, 3.0) if pair_input is None else pair_input
    model = GACovariantStateBackbone(2, width=8, depth=3, channels=4, attention={"heads": 2}, view=view, pair_inputs=[pair_input])
    return model.double().eval()


@pytest.fixture
def cloud():
    g = torch.Generator().manual_seed(1)
    positions = 1.5 * torch.randn(3, 6, 3, generator=g, dtype=torch.float64)
    features = torch.randn(3, 6, 2, generator=g, dtype=torch.float64)
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[0, 4:] = False
    mask[1, 5:] = False
    return positions, features, mask


@pytest.mark.parametrize("configuration", sorted(CONFIGURATIONS))
def test_invariant_to_rotation_reflection_translation_and_padding(configuration, cloud):
    positions, features, mask = cloud
    model = backbone(*CONFIGURATIONS[configuration]())
    out = model(positions, features, mask).invariants
    assert out.shape == (3, 6, 8) and torch.all(out[~mask] == 0) and out[mask].abs().mean() > 1e-3
    rotation = random_rotation().double()
    for transform in (rotation, -rotation):  # proper and improper
        moved = positions @ transform.T + torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
        torch.testing.assert_close(model(moved, features, mask).invariants, out, atol=1e-10, rtol=1e-8)
    junk_pos, junk_feat = positions.clone(), features.clone()
    junk_pos[~mask], junk_feat[~mask] = 50.0, -7.0
    torch.testing.assert_close(model(junk_pos, junk_feat, mask).invariants, out, atol=1e-12, rtol=0)


@pytest.mark.parametrize("configuration", sorted(CONFIGURATIONS))
def test_a_planar_cloud_is_invariant_in_2d(configuration, cloud):
    positions, features, mask = cloud
    planar = positions[..., :2]
    model = backbone(*CONFIGURATIONS[configuration]())
    out = model(planar, features, mask).invariants
    turn = torch.tensor([[0.6, -0.8], [0.8, 0.6]], dtype=torch.float64)
    for transform in (turn, turn * torch.tensor([1.0, -1.0], dtype=torch.float64)):
        torch.testing.assert_close(model(planar @ transform.T + 3.0, features, mask).invariants, out, atol=1e-10, rtol=1e-8)


@pytest.mark.parametrize("configuration", sorted(CONFIGURATIONS))
def test_permuting_points_permutes_the_features(configuration, cloud):
    positions, features, _ = cloud
    model = backbone(*CONFIGURATIONS[configuration]())
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    out = model(positions, features).invariants
    torch.testing.assert_close(model(positions[:, order], features[:, order]).invariants, out[:, order], atol=1e-10, rtol=1e-8)


def test_the_layer_hidden_vectors_rotate_with_the_points_in_2d_and_3d():
    for dim in (2, 3):
        torch.manual_seed(0)
        layer = CovariantStateAttention(8, 4, pair_size=3, heads=2).double()
        relative = torch.randn(2, 5, 5, dim, dtype=torch.float64)
        features = torch.randn(2, 5, 5, 8, dtype=torch.float64)
        centre, partners = torch.randn(2, 5, 4, dim, dtype=torch.float64), torch.randn(2, 5, 5, 4, dim, dtype=torch.float64)
        pairs, mask = torch.randn(2, 5, 5, 3, dtype=torch.float64), torch.rand(2, 5, 5) > 0.2
        weights = torch.rand(2, 5, 5, dtype=torch.float64)
        dh, dv = layer(relative, features, centre, partners, pairs, mask, weights)
        rotation = random_rotation().double()[:dim, :dim] if dim == 3 else torch.tensor([[0.6, -0.8], [0.8, 0.6]], dtype=torch.float64)
        dh2, dv2 = layer(relative @ rotation.T, features, centre @ rotation.T, partners @ rotation.T, pairs, mask, weights)
        torch.testing.assert_close(dh2, dh, atol=1e-10, rtol=1e-8)
        torch.testing.assert_close(dv2, dv @ rotation.T, atol=1e-10, rtol=1e-8)
        # a masked pair (its weight and values set to junk) changes nothing
        junk = partners.clone()
        junk[~mask] = 1e3
        torch.testing.assert_close(layer(relative, features, centre, junk, pairs, mask, weights)[1], dv, atol=1e-10, rtol=0)


def test_hidden_vectors_carry_directions_between_blocks(cloud):
    """With the hidden vectors cut (V = 0 after every block), the features change: they read the
    hidden vectors' products, not only each block's fresh geometry."""
    positions, features, mask = cloud
    model = backbone(LocalFrames())
    out = model(positions, features, mask).invariants
    for block in model.blocks:
        block.gates.weight.data.zero_()
        block.gates.bias.data.zero_()
    assert (model(positions, features, mask).invariants - out).abs().max() > 1e-3


def test_options_are_checked():
    with pytest.raises(ValueError, match="model.attention.rank"):
        GACovariantStateBackbone(2, attention={"rank": 2})
    with pytest.raises(ValueError, match="multiples of model.attention.heads"):
        GACovariantStateBackbone(2, width=8, channels=3, attention={"heads": 2})
    with pytest.raises(ValueError, match="model.vector_norm must be a module"):
        GACovariantStateBackbone(2, vector_norm=True)
    with pytest.raises(ValueError, match="per-point view"):
        from gaan.models.views import WholeCloud

        GACovariantStateBackbone(2, view=WholeCloud())


def test_a_deep_copy_predicts_the_same(cloud):
    """The md17 task copies the model to float64 for its NVE checks (a deep copy): nothing in the
    backbone may refuse to be copied."""
    import copy

    positions, features, mask = cloud
    model = backbone(ScaledLocalFrames(Squared(PolynomialCutoff(1.0))))
    torch.testing.assert_close(copy.deepcopy(model)(positions, features, mask).invariants, model(positions, features, mask).invariants)


def test_a_vector_norm_keeps_the_backbone_invariant_and_its_hidden_vectors_bounded(cloud):
    """With `vector_norm=SoftVectorNorm()` the features stay invariant to rotations, reflections,
    permutations and padding, and the hidden vectors entering every block stay below sqrt(C)
    even for a cloud stretched far beyond any training geometry (without it they grow with it)."""
    from gaan.nn import SoftVectorNorm

    positions, features, mask = cloud
    torch.manual_seed(0)
    model = GACovariantStateBackbone(
        2, width=8, depth=3, channels=4, attention={"heads": 2}, pair_inputs=[RadialBasis(8, 3.0)], vector_norm=SoftVectorNorm()
    ).double()
    out = model(positions, features, mask).invariants
    rotation = random_rotation().double()
    for transform in (rotation, -rotation):
        torch.testing.assert_close(model(positions @ transform.T - 1.0, features, mask).invariants, out, atol=1e-10, rtol=1e-8)
    junk_pos = positions.clone()
    junk_pos[~mask] = 50.0
    torch.testing.assert_close(model(junk_pos, features, mask).invariants, out, atol=1e-12, rtol=0)
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    permuted = model(positions[:, order], features[:, order]).invariants
    torch.testing.assert_close(permuted, model(positions, features).invariants[:, order], atol=1e-10, rtol=1e-8)

    def largest_hidden_vector(model, stretch):
        seen = []

        def record(module, args, output):
            seen.append(args[2].norm(dim=-1).max())  # the hidden vectors entering the block

        hooks = [block.register_forward_hook(record) for block in model.blocks]
        model(stretch * positions, features, mask)
        for hook in hooks:
            hook.remove()
        return max(seen)

    assert largest_hidden_vector(model, 100.0) < 4**0.5
    model.vector_norm = None
    assert largest_hidden_vector(model, 100.0) > 10 * largest_hidden_vector(model, 1.0)
