"""The benchmark stays runnable: a tiny grid runs end to end and its two networks agree."""

import json

import pytest
from repo_scripts import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("bench/bench.py", "gaan_bench")


@pytest.mark.parametrize("extra", [[], ["--blockwise", "always"]])
def test_tiny_grid_writes_table_and_results(bench, tmp_path, capsys, extra):
    pytest.importorskip("geometric_algebra_attention")
    bench.main(
        [
            "--ranks",
            "2",
            "--points",
            "5",
            "--modes",
            "single",
            "--runs",
            "1",
            "--batch",
            "4",
            "--min-time",
            "0.01",
            "--threads",
            "1",
            "--width",
            "8",
            "--depth",
            "1",
            "--out",
            str(tmp_path),
            *extra,
        ]
    )
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


def test_flush_denormal_bench_times_a_checkpoint_both_ways(tmp_path, capsys):
    flush_bench = load_script("bench/flush_denormal.py", "gaan_bench_flush")
    from gaan.train import compose_config, run

    overrides = [
        "model.width=8",
        "task.datamodule.num_samples=96",
        "task.datamodule.batch_size=32",
        f"paths.data_dir={tmp_path}/data",
        f"paths.log_dir={tmp_path}/logs",
    ]
    quiet = [
        "trainer.max_epochs=1",
        "test=false",
        "callbacks.rich_progress_bar=null",
        "callbacks.model_summary=null",
        "trainer.enable_progress_bar=false",
    ]
    run(compose_config([*overrides, *quiet, f"paths.output_dir={tmp_path}/out"]))
    ckpt = tmp_path / "out" / "checkpoints" / "last.ckpt"
    result = flush_bench.main([str(ckpt), *overrides, "--steps", "1"])
    assert result["unflushed_s"] > 0 and result["flushed_s"] > 0
    assert "flushed" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="overrides.yaml"):
        flush_bench.main([str(ckpt), "--steps", "1"])  # no Hydra run dir: the overrides must be given
