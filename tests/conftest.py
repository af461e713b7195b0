"""Collects the worst equivariance errors seen, and prints them at the end of the run."""

import equivariance_report


def pytest_terminal_summary(terminalreporter):
    for line in equivariance_report.summary_lines():
        terminalreporter.write_line(line)
