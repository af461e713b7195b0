"""Padded points may hold anything, NaN included: a backbone's outputs at real points must not
change. Data modules pad with zeros, but a user's own batches (or a bug upstream) may not, and a
NaN mixed into a centroid or a view silently spreads to every real point."""

import pytest
import torch

from gaan.models import (
    DeepSetsBackbone,
    EGNNBackbone,
    GAAttentionBackbone,
    GACovariantStateBackbone,
    GAMultivectorAttentionBackbone,
    TransformerBackbone,
)
from gaan.models.envelopes import PolynomialCutoff
from gaan.models.pair_inputs import BesselBasis, RadialBasis
from gaan.models.views import LocalFrames, Neighbourhoods, ScaledLocalFrames, SmoothNeighbourhoods, WholeCloud
from gaan.nn import SoftVectorNorm

FEATURES = 4

BACKBONES = {
    "ga_whole_cloud": lambda: GAAttentionBackbone(FEATURES, width=8, view=WholeCloud()),
    "ga_local_frames": lambda: GAAttentionBackbone(FEATURES, width=8, view=LocalFrames()),
    "ga_local_frames_radius": lambda: GAAttentionBackbone(FEATURES, width=8, view=LocalFrames(radius=2.0), normalize=False),
    "ga_neighbourhoods": lambda: GAAttentionBackbone(FEATURES, width=8, view=Neighbourhoods(k=3)),
    # the N-body preset's shape: input velocities, moving points and hidden vectors
    "ga_local_frames_vectors_updates": lambda: GAAttentionBackbone(
        FEATURES, width=8, view=LocalFrames(), vector_inputs=True, geometry_updates=True, vector_channels=1
    ),
    "ga_multivector_local_frames": lambda: GAMultivectorAttentionBackbone(FEATURES, width=8, view=LocalFrames()),
    "ga_covariant_state_scaled_frames": lambda: GACovariantStateBackbone(
        FEATURES,
        width=8,
        channels=4,
        attention={"heads": 2},
        view=ScaledLocalFrames(PolynomialCutoff(1.0)),
        pair_inputs=[RadialBasis(8, 3.0)],
    ),
    # the md17 ethanol experiment's shape with the Bessel basis: a smooth 4 A view
    "ga_covariant_state_smooth_bessel": lambda: GACovariantStateBackbone(
        FEATURES,
        width=8,
        channels=4,
        attention={"heads": 2},
        view=SmoothNeighbourhoods(PolynomialCutoff(4.0), k=5),
        pair_inputs=[BesselBasis(8, 4.0)],
        vector_norm=SoftVectorNorm(),
    ),
    "egnn": lambda: EGNNBackbone(FEATURES, width=8, depth=2),
    "transformer": lambda: TransformerBackbone(FEATURES, width=8, depth=1),
    "deepsets": lambda: DeepSetsBackbone(FEATURES, width=8),
}


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_nan_in_padded_positions_features_and_vectors_changes_no_output_at_real_points(name):
    torch.manual_seed(0)
    backbone = BACKBONES[name]().double().eval()
    positions, features = torch.randn(2, 5, 3, dtype=torch.float64), torch.randn(2, 5, FEATURES, dtype=torch.float64)
    vectors = torch.randn(2, 5, 1, 3, dtype=torch.float64)
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    clean = backbone(positions, features, mask, vectors=vectors)

    poisoned = [x.clone() for x in (positions, features, vectors)]
    for x in poisoned:
        x[1, 3:] = float("nan")
    dirty = backbone(*poisoned[:2], mask, vectors=poisoned[2])

    assert torch.isfinite(dirty.invariants[mask]).all()
    torch.testing.assert_close(dirty.invariants[mask], clean.invariants[mask], atol=1e-12, rtol=0)
    assert torch.all(dirty.invariants[~mask] == 0)
    if clean.vectors is not None:
        torch.testing.assert_close(dirty.vectors[mask], clean.vectors[mask], atol=1e-12, rtol=0)
