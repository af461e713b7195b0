"""The pair-input contract: per-pair invariant features of per-point views.

A pair input computes, for every (centre i, partner k) pair of a per-point view
(`gaan.models.views.ViewPairs`), `size` rotation-invariant numbers from the pair's relative
vector and the two points' input features and vectors. The backbone embeds them with each
block's own linear map and adds them to the partner's features in the centre's view. Modules
have no parameters: they are feature maps, chosen per task or experiment in config
(`model.pair_inputs`), one file each.
"""

from __future__ import annotations

from torch import Tensor, nn

from gaan.models.views import ViewPairs


class PairInput(nn.Module):
    """Base class: set `size`; `consumed_columns` are input feature columns used only here
    (the backbone does not embed them per point); `uses_vectors` if `forward` reads the input
    vectors."""

    size: int
    consumed_columns: tuple[int, ...] = ()
    uses_vectors: bool = False

    @property
    def name(self) -> str:
        return type(self).__name__

    def check(self, in_features: int, vector_inputs: bool) -> None:
        """Raise a ValueError naming the option when the backbone cannot feed this input."""
        if self.uses_vectors and not vector_inputs:
            raise ValueError(f"model.pair_inputs: {self.name} reads input vectors: it needs model.vector_inputs=true")
        for column in self.consumed_columns:
            if not 0 <= column < in_features:
                raise ValueError(f"model.pair_inputs: {self.name} feature column {column} is not in [0, {in_features})")

    def forward(self, pairs: ViewPairs, features: Tensor, vectors: Tensor) -> Tensor:
        """pairs: the view's point pairs; features (B, N, F): the input features (zero at padding);
        vectors (B, N, V, C): the input vectors in the layers' form and normalized units.
        Returns (B, N, P, size) (or broadcastable to it)."""
        raise NotImplementedError


def distinct_indices(key: str, values) -> tuple[int, ...]:
    """A non-empty list of distinct integers >= 0 (feature columns or vector channels)."""
    values = tuple(values or ())
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in values) or len(set(values)) != len(values):
        raise ValueError(f"{key} must be a non-empty list of distinct integers >= 0, got {list(values)}")
    return values
