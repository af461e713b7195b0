"""Products of a feature column between a view's centre and each partner (e.g. charges)."""

from __future__ import annotations

from torch import Tensor

from gaan.models.pair_inputs.base import PairInput, distinct_indices
from gaan.models.views import ViewPairs


class FeatureProducts(PairInput):
    """x_i[c] * x_k[c] for each column c (EGNN's edge attribute q_i q_k for N-body charges).

    The columns are used only through these products, not embedded per point: negating them for
    every point at once changes nothing, so the backbone is exactly invariant to it (for charges,
    a symmetry of Coulomb dynamics the network would otherwise have to learn).
    """

    def __init__(self, columns):
        super().__init__()
        self.consumed_columns = distinct_indices("model.pair_inputs: FeatureProducts columns", columns)
        self.size = len(self.consumed_columns)

    def extra_repr(self) -> str:
        return f"columns={list(self.consumed_columns)}"

    def forward(self, pairs: ViewPairs, features: Tensor, vectors: Tensor) -> Tensor:
        values = features[..., list(self.consumed_columns)]
        return pairs.centre(values) * pairs.partner(values)
