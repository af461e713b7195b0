"""The benchmark stays runnable: a tiny grid runs end to end and its two networks agree."""

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("gaan_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("extra", [[], ["--blockwise", "always"]])
def test_tiny_grid_writes_table_and_results(bench, tmp_path, capsys, extra):
    pytest.importorskip("geometric_algebra_attention")
    bench.main(["--ranks", "2", "--points", "5", "--modes", "single", "--runs", "1", "--batch", "4",
                "--min-time", "0.01", "--threads", "1", "--width", "8", "--depth", "1", "--out", str(tmp_path), *extra])
    table = capsys.readouterr().out
    assert "floor x" in table and "eager x" in table and "train/s gaan" in table
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert len(rows) == 1
    row = rows[0]
    assert row["max_abs_diff"] < 1e-5  # same weights, same function
    for key in ("gaan_train", "ref_train", "floor_train", "floor_ratio", "eager_floor_ratio", "gaan_mem", "ref_mem"):
        assert row[key] > 0, key
    assert row["eager_floor_train"] < row["floor_train"]  # the eager floor does more work


def test_unknown_compile_choice_is_rejected(bench):
    with pytest.raises(SystemExit):
        bench.main(["--compile", "everything"])
