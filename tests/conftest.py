"""Shared fixtures, and the run-wide report of the worst equivariance errors seen.

Rule for every test: numbers recorded on one machine are compared in float64 (rebuild the
fixture in float64) or with tolerances that float32 error growth justifies, never at 1e-6 on
float32 activations: another CPU (other SIMD kernels, summation orders, thread counts) moves
float32 outputs of a few blocks by several 1e-6. The suite must also pass with any
OMP_NUM_THREADS, in any order (`-p randomly`) and with `torch.set_flush_denormal` on or off.
"""

import equivariance_report
import pytest
import torch


@pytest.fixture(autouse=True)
def float32_default_dtype():
    """Every test starts from float32 and nothing it sets leaks into the next one."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(previous)
    torch.set_flush_denormal(False)  # train/eval runs set it (config flush_denormal)


@pytest.fixture
def float64_default_dtype(float32_default_dtype):
    """Opt in with ``pytestmark = pytest.mark.usefixtures("float64_default_dtype")``."""
    torch.set_default_dtype(torch.float64)


def pytest_terminal_summary(terminalreporter):
    for line in equivariance_report.summary_lines():
        terminalreporter.write_line(line)
