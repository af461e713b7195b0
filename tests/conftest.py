"""Shared fixtures, and the run-wide report of the worst equivariance errors seen.

Rule for every test: numbers recorded on one machine are compared in float64 (rebuild the
fixture in float64) or with tolerances that float32 error growth justifies, never at 1e-6 on
float32 activations: another CPU (other SIMD kernels, summation orders, thread counts) moves
float32 outputs of a few blocks by several 1e-6. The suite must also pass with any
OMP_NUM_THREADS, in any order (`-p randomly`) and with `torch.set_flush_denormal` on or off.
"""

import os

import equivariance_report
import pytest
import torch

# GAAN_TEST_FLUSH_DENORMAL=1 runs every test with subnormal floats flushed to zero (as training
# runs do by default, config flush_denormal), unset or 0 without: the suite must pass both ways
FLUSH_DENORMAL = os.environ.get("GAAN_TEST_FLUSH_DENORMAL", "0") == "1"
# whether this CPU can flush at all (set_flush_denormal says so; the mode is set per test below)
FLUSH_SUPPORTED = torch.set_flush_denormal(True)
torch.set_flush_denormal(FLUSH_DENORMAL)


@pytest.fixture(autouse=True)
def float32_default_dtype():
    """Every test starts from float32 and the chosen denormal mode, and nothing it sets leaks
    into the next one."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    torch.set_flush_denormal(FLUSH_DENORMAL)
    yield
    torch.set_default_dtype(previous)
    torch.set_flush_denormal(FLUSH_DENORMAL)  # train/eval runs set it (config flush_denormal)


def pytest_configure(config):
    # the flag is per thread and torch's intra-op threads copy it when they start: set it
    # before collection runs any torch code
    torch.set_flush_denormal(FLUSH_DENORMAL)


def pytest_report_header(config):
    threads = os.environ.get("OMP_NUM_THREADS")
    return f"gaan: flush_denormal {'on' if FLUSH_DENORMAL else 'off'} (GAAN_TEST_FLUSH_DENORMAL), OMP_NUM_THREADS={threads}"


@pytest.fixture(scope="module")
def ubiquitin():
    """Ubiquitin's heavy atoms (`protein_samples.ubiquitin_atoms`), OXT included."""
    from protein_samples import ubiquitin_atoms  # gaan.tasks.protein: only for the tests that use it

    return ubiquitin_atoms()


@pytest.fixture(scope="module")
def ubiquitin_without_oxt():
    """Ubiquitin's heavy atoms without the C-terminal OXT (the atoms gaan-backmap predicts)."""
    from protein_samples import ubiquitin_atoms

    return ubiquitin_atoms(oxt=False)


@pytest.fixture
def float64_default_dtype(float32_default_dtype):
    """Opt in with ``pytestmark = pytest.mark.usefixtures("float64_default_dtype")``."""
    torch.set_default_dtype(torch.float64)


def pytest_terminal_summary(terminalreporter):
    for line in equivariance_report.summary_lines():
        terminalreporter.write_line(line)
