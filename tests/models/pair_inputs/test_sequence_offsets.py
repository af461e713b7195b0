"""SequenceOffsets: one-hot of where each partner sits along the chain relative to the centre."""

import pytest
import torch
from pair_input_models import dense_pairs

from gaan.models.pair_inputs import SequenceOffsets

pytestmark = pytest.mark.usefixtures("float64_default_dtype")


def test_slots_are_offsets_then_farther_then_other_chain():
    # chain A residues 10..14, then chain B residue 3; the last point is padding
    chain = torch.tensor([[0, 0, 0, 0, 0, 1, 0]], dtype=torch.float64)
    position = torch.tensor([[10, 11, 12, 13, 14, 3, 0]], dtype=torch.float64)
    features = torch.stack([chain, position], -1)
    mask = torch.tensor([[True] * 6 + [False]])
    values = SequenceOffsets(chain_column=0, position_column=1, max_offset=2)(dense_pairs(torch.zeros(1, 7, 3), mask), features, None)
    assert values.shape == (1, 7, 7, 7)
    slot = values.argmax(-1)
    # centre residue 12 (index 2): offsets -2..+2 are slots 0..4
    assert slot[0, 2, :5].tolist() == [0, 1, 2, 3, 4]
    assert slot[0, 0, 4] == 5  # residue 14 seen from 10: farther on the same chain
    assert slot[0, 0, 5] == 6 and slot[0, 5, 0] == 6  # another chain
    assert values[0, :, 6].abs().max() == 0 and values[0, 6].abs().max() == 0  # padding
    assert torch.all(values[0, :6, :6].sum(-1) == 1)  # one-hot


@pytest.mark.parametrize("columns", [(0, 0), (-1, 1), (True, 1)])
def test_bad_columns_name_the_key(columns):
    with pytest.raises(ValueError, match="model.pair_inputs: SequenceOffsets needs two distinct feature columns"):
        SequenceOffsets(*columns)


def test_max_offset_must_be_positive():
    with pytest.raises(ValueError, match="max_offset must be an integer >= 1"):
        SequenceOffsets(0, 1, max_offset=0)
