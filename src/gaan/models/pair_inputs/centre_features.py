"""The centre's own input features on every pair of its view (e.g. its element)."""

from __future__ import annotations

from torch import Tensor

from gaan.models.pair_inputs.base import PairInput
from gaan.models.views import ViewPairs


class CentreFeatures(PairInput):
    """x_i for every pair (i, k) of centre i's view.

    A per-point view's tuples are built from the partners' features only: without this, a tuple
    of two neighbours is scored and valued the same whichever atom looks at it (an H or an O
    centre weighs its C-C tuple alike). Added to every partner's features, the centre's element
    conditions each tuple's score and, with `join: product`, its filtered value.
    """

    def check(self, in_features: int, vector_inputs: bool) -> None:
        super().check(in_features, vector_inputs)
        self.size = in_features

    def forward(self, pairs: ViewPairs, features: Tensor, vectors: Tensor) -> Tensor:
        return pairs.centre(features)
