"""The conditions the suite runs under are the ones asked for (tests/conftest.py): the denormal
mode of GAAN_TEST_FLUSH_DENORMAL is in effect in every test, whatever ran before."""

import pytest
import torch
from conftest import FLUSH_DENORMAL, FLUSH_SUPPORTED


def test_the_requested_denormal_mode_is_in_effect():
    """Read, not set, here: the mode must already be the requested one when a test starts."""
    if FLUSH_DENORMAL and not FLUSH_SUPPORTED:
        pytest.skip("this CPU cannot flush subnormal floats")
    subnormal = torch.full((100_000,), 1e-40) * 1.0  # below float32's smallest normal, 1.18e-38
    assert bool((subnormal == 0).all()) == FLUSH_DENORMAL


def test_a_test_that_changes_the_mode_does_not_leak_it():
    torch.set_flush_denormal(not FLUSH_DENORMAL)  # the autouse fixture restores the mode after this test


def test_the_mode_is_restored_after_a_test_changed_it():
    test_the_requested_denormal_mode_is_in_effect()
