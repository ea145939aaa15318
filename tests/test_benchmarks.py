"""Smoke test of the benchmark scripts: they run end to end in their --quick mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def test_unpool_benchmark_quick_run_writes_a_consistent_record(tmp_path):
    output = tmp_path / "unpool.json"
    completed = subprocess.run(
        [sys.executable, str(REPOSITORY / "benchmarks" / "unpool.py"), "--quick", "--output", str(output)],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    record = json.loads(output.read_text())
    assert record["quick"] is True
    assert all(record["identical_outputs"].values())
    medians = record["medians_ms"]
    assert set(medians) == {"article", "segdemo", "torch_nchw", "torch_channels_last"}
    for row in medians.values():
        assert set(row) == {"forward", "forward_graph", "forward_backward"}
        assert all(value > 0 for value in row.values())
    ratio = record["ratios"]["article_over_segdemo_forward_backward"]
    expected = medians["article"]["forward_backward"] / medians["segdemo"]["forward_backward"]
    assert abs(ratio - expected) <= 0.01 * expected + 0.01  # ratios are rounded to 2 decimals
    assert {"date_utc", "cpu", "python", "torch", "tensorflow", "numpy", "git_commit"} <= set(record["provenance"])
    assert record["copy_to_numpy_ms"] > 0  # measured on its own, outside the medians


def test_unpool_benchmark_takes_another_shape(tmp_path):
    output = tmp_path / "unpool.json"
    completed = subprocess.run(
        [sys.executable, str(REPOSITORY / "benchmarks" / "unpool.py"), "--shape", "1", "3", "5", "2", "--repeats", "1",
         "--output", str(output)],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    record = json.loads(output.read_text())
    assert record["pooled_shape_nhwc"] == [1, 3, 5, 2] and record["output_shape_nhwc"] == [1, 6, 10, 2]
    assert all(record["identical_outputs"].values())


def test_unpool_benchmark_refuses_an_empty_shape(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(REPOSITORY / "benchmarks" / "unpool.py"), "--shape", "1", "3", "0", "2",
         "--output", str(tmp_path / "unpool.json")],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 2
    assert "--shape needs four positive sizes, got [1, 3, 0, 2]" in completed.stderr
    assert not (tmp_path / "unpool.json").exists()
