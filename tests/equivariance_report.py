"""A run-wide record of equivariance errors, so a test run can report the worst one seen."""

from collections import defaultdict

_worst: dict[str, float] = defaultdict(float)
_cases: dict[str, set] = defaultdict(set)


def record(dtype_name: str, case_key, error: float) -> None:
    _cases[dtype_name].add(case_key)
    _worst[dtype_name] = max(_worst[dtype_name], error)


def summary_lines() -> list[str]:
    return [
        f"equivariance: {len(_cases[name])} layer configurations checked in {name}, worst relative error {_worst[name]:.3g}"
        for name in sorted(_cases)
    ]
