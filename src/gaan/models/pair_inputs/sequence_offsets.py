"""Where each partner sits along the chain relative to the view's centre (proteins)."""

from __future__ import annotations

import torch
from torch import Tensor

from gaan.models.pair_inputs.base import PairInput
from gaan.models.views import ViewPairs


class SequenceOffsets(PairInput):
    """One-hot of the partner's sequence offset from the centre: offsets -max_offset..+max_offset
    on the same chain, farther on the same chain, or another chain (or across a chain break).

    Reads two input feature columns: `chain_column` (an id per chain segment: residues on the same
    unbroken chain share it) and `position_column` (the residue's index along its chain). Both are
    used only here: absolute ids and indices carry no meaning per point. The backbone's
    orientation along a protein chain is set by the sequence neighbours, which distances alone
    do not single out.
    """

    def __init__(self, chain_column: int, position_column: int, max_offset: int = 2):
        super().__init__()
        columns = (chain_column, position_column)
        if any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in columns) or chain_column == position_column:
            raise ValueError(f"model.pair_inputs: SequenceOffsets needs two distinct feature columns >= 0, got {list(columns)}")
        if isinstance(max_offset, bool) or not isinstance(max_offset, int) or max_offset < 1:
            raise ValueError(f"model.pair_inputs: SequenceOffsets max_offset must be an integer >= 1, got {max_offset!r}")
        self.consumed_columns = columns
        self.max_offset = max_offset
        self.size = 2 * max_offset + 3  # the offsets, farther on the chain, another chain

    def extra_repr(self) -> str:
        return f"chain_column={self.consumed_columns[0]}, position_column={self.consumed_columns[1]}, max_offset={self.max_offset}"

    def forward(self, pairs: ViewPairs, features: Tensor, vectors: Tensor) -> Tensor:
        chain, position = features[..., self.consumed_columns[0]], features[..., self.consumed_columns[1]]
        same_chain = pairs.partner(chain) == pairs.centre(chain)
        offset = torch.round(pairs.partner(position) - pairs.centre(position)).long()
        near = same_chain & (offset.abs() <= self.max_offset)
        slot = torch.where(near, offset + self.max_offset, torch.where(same_chain, 2 * self.max_offset + 1, 2 * self.max_offset + 2))
        return torch.nn.functional.one_hot(slot, self.size).to(features.dtype) * pairs.mask[..., None].to(features.dtype)
