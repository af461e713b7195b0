"""The pair-input contract: per-pair invariant features of per-point views.

A pair input computes, for every (centre i, partner k) pair of a per-point view
(`gaan.models.views.ViewPairs`), `size` rotation-invariant numbers from the pair's relative
vector and the two points' input features and vectors. The backbone embeds them with each
block's own linear map and adds them to the partner's features in the centre's view. Modules
have no parameters: they are feature maps, chosen per task or experiment in config
(`model.pair_inputs`), one file each.
"""

from __future__ import annotations

import torch
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


def checked_pair_inputs(pair_inputs, in_features: int, vector_inputs: bool) -> list[PairInput]:
    """A backbone's `model.pair_inputs` as a list, each entry checked against its inputs, no
    feature column read by two of them."""
    pair_inputs = list(pair_inputs or ())
    for entry in pair_inputs:
        if not isinstance(entry, PairInput):
            raise ValueError(f"model.pair_inputs entries must be gaan.models.pair_inputs modules (with _target_), got {entry!r}")
        entry.check(in_features, vector_inputs)
    columns = [c for p in pair_inputs for c in p.consumed_columns]
    if len(set(columns)) != len(columns):
        raise ValueError(f"model.pair_inputs read the same feature column twice: {columns}")
    return pair_inputs


def point_feature_columns(pair_inputs, in_features: int) -> list[int]:
    """The feature columns a backbone embeds per point: all but those only pair inputs read."""
    consumed = {c for p in pair_inputs for c in p.consumed_columns}
    columns = [c for c in range(in_features) if c not in consumed]
    if not columns:
        raise ValueError("model.pair_inputs consume every feature column: leave at least one to embed per point")
    return columns


def pair_features(pair_inputs, pairs: ViewPairs, features: Tensor, vectors: Tensor) -> Tensor:
    """Every pair input's features, concatenated: (B, N, P, sum of sizes)."""
    return torch.cat([p(pairs, features, vectors).expand(*pairs.mask.shape, -1) for p in pair_inputs], -1)
