"""Pair inputs: per-pair invariant features of per-point views, one module per file.

Chosen per task or experiment in config, e.g. for N-body charges and velocities::

    model:
      view: {_target_: gaan.models.views.LocalFrames, radius: 4.0}
      pair_inputs:
        - {_target_: gaan.models.pair_inputs.FeatureProducts, columns: [0]}
        - {_target_: gaan.models.pair_inputs.RelativeMotion, channels: [0]}
"""

from gaan.models.pair_inputs.base import PairInput, checked_pair_inputs, pair_features, point_feature_columns
from gaan.models.pair_inputs.bessel_basis import BesselBasis
from gaan.models.pair_inputs.centre_features import CentreFeatures
from gaan.models.pair_inputs.feature_products import FeatureProducts
from gaan.models.pair_inputs.inverse_distances import InverseDistances
from gaan.models.pair_inputs.radial_basis import RadialBasis
from gaan.models.pair_inputs.relative_motion import RelativeMotion
from gaan.models.pair_inputs.sequence_offsets import SequenceOffsets

__all__ = [
    "BesselBasis",
    "CentreFeatures",
    "FeatureProducts",
    "InverseDistances",
    "PairInput",
    "RadialBasis",
    "RelativeMotion",
    "SequenceOffsets",
    "checked_pair_inputs",
    "pair_features",
    "point_feature_columns",
]
