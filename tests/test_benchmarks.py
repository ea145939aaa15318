"""Smoke test of the benchmark scripts: they run end to end in their --quick mode; their shared provenance."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
# What every benchmark's JSON says about the machine and the code (benchmarks/provenance.py).
PROVENANCE_KEYS = {"date_utc", "platform", "cpu", "cpu_flags", "cpu_count", "physical_cores", "load_average_start",
                   "load_average_end", "wall_seconds", "python", "numpy", "torch", "torch_threads", "tensorflow",
                   "tensorflow_intra_op_threads", "keras", "git_commit", "git_dirty", "command"}


def run_benchmark(script: str, *arguments: str) -> subprocess.CompletedProcess:
    """Runs ``benchmarks/<script>.py`` with ``arguments`` as a reader would, from the command line."""
    return subprocess.run([sys.executable, str(REPOSITORY / "benchmarks" / f"{script}.py"), *arguments],
                          capture_output=True, text=True, timeout=300)


def load_benchmark_module(name: str):
    """Imports ``benchmarks/<name>.py`` (not a package) the way the scripts import each other."""
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(f"benchmark_{name}", REPOSITORY / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPOSITORY / "benchmarks"))
    return module


def test_unpool_benchmark_quick_run_writes_a_consistent_record(tmp_path):
    output = tmp_path / "unpool.json"
    completed = run_benchmark("unpool", "--quick", "--output", str(output))
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
    assert PROVENANCE_KEYS <= set(record["provenance"])
    assert record["copy_to_numpy_ms"] > 0  # measured on its own, outside the medians


def test_unpool_benchmark_takes_another_shape(tmp_path):
    output = tmp_path / "unpool.json"
    completed = run_benchmark("unpool", "--shape", "1", "3", "5", "2", "--repeats", "1", "--output", str(output))
    assert completed.returncode == 0, completed.stderr
    record = json.loads(output.read_text())
    assert record["pooled_shape_nhwc"] == [1, 3, 5, 2] and record["output_shape_nhwc"] == [1, 6, 10, 2]
    assert all(record["identical_outputs"].values())


def test_unpool_benchmark_refuses_an_empty_shape(tmp_path):
    completed = run_benchmark("unpool", "--shape", "1", "3", "0", "2", "--output", str(tmp_path / "unpool.json"))
    assert completed.returncode == 2
    assert "--shape needs four positive sizes, got [1, 3, 0, 2]" in completed.stderr
    assert not (tmp_path / "unpool.json").exists()


def test_train_step_benchmark_quick_run_writes_a_consistent_record(tmp_path):
    output = tmp_path / "train_step.json"
    completed = run_benchmark("train_step", "--quick", "--models", "segnet_basic", "--output", str(output))
    assert completed.returncode == 0, completed.stderr
    assert "best adoptable" in completed.stdout  # the table
    record = json.loads(output.read_text())
    assert record["quick"] is True and record["image_size"] == [32, 32] and record["num_classes"] == 11
    assert PROVENANCE_KEYS <= set(record["provenance"])
    frameworks = record["models"]["segnet_basic"]
    assert set(frameworks) == {"pytorch", "tensorflow"}
    expected = {"pytorch": {"current", "channels_last", "channels_last_nondeterministic", "compiled", "bfloat16_autocast"},
                "tensorflow": {"current", "nondeterministic", "jit_compile", "jit_compile_nondeterministic",
                               "mixed_bfloat16"}}
    for framework, result in frameworks.items():
        variants = result["variants"]
        assert expected[framework] <= set(variants)
        assert result["timed_steps"] == 2
        floor = result["noise_floor"]
        assert all(math.isfinite(value) and value >= 0 for value in floor.values())
        current = variants["current"]
        assert current["status"] == "ok" and current["ratio_vs_current"] == 1.0 and current["matches_current"]
        assert current["relative_loss_difference"] == {"before_step": 0.0, "after_one_step": 0.0}
        assert current["reproducible"] is True
        for name, variant in variants.items():
            assert variant["status"] in {"ok", "failed", "skipped"}, name
            if variant["status"] != "ok":
                assert variant["reason"], name  # one line saying why, instead of a crash
                continue
            assert len(variant["step_seconds"]) == 2
            for key in ("seconds_per_step_median", "seconds_per_step_min", "images_per_second_median",
                        "ratio_vs_current", "ratio_of_minima_vs_current"):
                assert math.isfinite(variant[key]) and variant[key] > 0, (name, key)
            assert variant["seconds_per_step_min"] <= variant["seconds_per_step_median"]
            expected_ratio = current["seconds_per_step_median"] / variant["seconds_per_step_median"]
            assert abs(variant["ratio_vs_current"] - expected_ratio) <= 0.01 * expected_ratio + 0.01
            differences = variant["relative_loss_difference"]
            assert all(math.isfinite(value) and value >= 0 for value in differences.values()), name
            assert isinstance(variant["matches_current"], bool)
        assert result["best_adoptable"] in variants
    # --quick compiles nothing with torch.compile; SegNet's pooling with indices has no XLA kernel, at either size.
    assert frameworks["pytorch"]["variants"]["compiled"]["status"] == "skipped"
    assert "MaxPoolWithArgmax" in frameworks["tensorflow"]["variants"]["jit_compile_nondeterministic"]["reason"]
    assert record["provenance"]["cpu_flags"] or sys.platform != "linux"
    flags = record["provenance"]["cpu_flags"]
    if not (flags.get("avx512_bf16") or flags.get("amx_bf16")):
        # Emulated bfloat16 takes minutes a step at the standard size: not timed, and the record says why.
        for framework, name in (("pytorch", "bfloat16_autocast"), ("tensorflow", "mixed_bfloat16")):
            variant = frameworks[framework]["variants"][name]
            assert variant["status"] == "skipped" and "--bfloat16-anyway" in variant["reason"]
    sizes = record["xla_sizes"]["segnet_basic"]["jit_compile_nondeterministic"]
    assert set(sizes) == {"35x37"}
    assert not any(entry["runs"] for entry in sizes.values())


def test_bfloat16_variants_are_timed_only_with_bfloat16_instructions_or_when_forced():
    module = load_benchmark_module("train_step")
    avx2_only = {"avx2": True, "avx512f": False, "avx512_bf16": False, "amx_bf16": False}
    assert "--bfloat16-anyway" in module.bfloat16_skip_reason(avx2_only, forced=False)
    assert module.bfloat16_skip_reason(avx2_only, forced=True) is None
    assert module.bfloat16_skip_reason({**avx2_only, "avx512_bf16": True}, forced=False) is None
    assert module.bfloat16_skip_reason({**avx2_only, "amx_bf16": True}, forced=False) is None


def test_train_step_benchmark_refuses_bad_arguments_before_any_work(tmp_path):
    output = tmp_path / "train_step.json"
    completed = run_benchmark("train_step", "--quick", "--models", "segnett", "--output", str(output))
    assert completed.returncode == 2
    assert "unknown model(s) segnett" in completed.stderr
    completed = run_benchmark("train_step", "--quick", "--steps", "0", "--output", str(output))
    assert completed.returncode == 2
    assert "--steps must be at least 1, got 0" in completed.stderr
    assert not output.exists()


def test_inference_benchmark_quick_run_writes_a_consistent_record(tmp_path):
    from segdemo.experiment import MODEL_NAMES, WIDTH_MODELS

    output = tmp_path / "inference.json"
    completed = run_benchmark("inference", "--quick", "--output", str(output), "--note", "smoke test")
    assert completed.returncode == 0, completed.stderr
    assert "logits agree" in completed.stdout  # the table
    record = json.loads(output.read_text())
    assert record["quick"] is True and record["batch_size"] == 1 and record["num_classes"] == 11
    assert record["repeats"] == 2 and record["note"] == "smoke test"
    assert PROVENANCE_KEYS <= set(record["provenance"])
    sizes = {f"{height}x{width}" for height, width in record["image_sizes"]}
    assert sizes == {"32x32"}
    assert list(record["models"]) == list(MODEL_NAMES)  # every model of the book, in the registry's order
    for name, entry in record["models"].items():
        assert entry["builder_arguments"] == ({"width": 4} if name in WIDTH_MODELS else {}), name
        assert entry["parameters"]["pytorch"] == entry["parameters"]["tensorflow"] > 0, name
        assert entry["parity"]["logits_agree"] is True, (name, entry["parity"])
        assert entry["parity"]["logits_shape_nhwc"] == [1, 32, 32, 11]
        assert set(entry["sizes"]) == sizes
        for size, timing in entry["sizes"].items():
            assert set(timing) == {"pytorch", "tensorflow", "keras_over_pytorch"}
            for framework in ("pytorch", "tensorflow"):
                result = timing[framework]
                assert len(result["times_ms"]) == 2 and all(value > 0 for value in result["times_ms"])
                assert 0 < result["min_ms"] <= result["median_ms"], (name, size, framework)
                assert result["first_call_ms"] > 0
            # Every ratio is Keras / PyTorch of the recorded medians (or minima), up to their rounding.
            for statistic, key in (("median", "median_ms"), ("min", "min_ms")):
                expected = timing["tensorflow"][key] / timing["pytorch"][key]
                assert math.isclose(timing["keras_over_pytorch"][statistic], expected, rel_tol=1e-3, abs_tol=1e-3), (
                    name, size, statistic)


def test_inference_benchmark_refuses_bad_arguments_before_any_work(tmp_path):
    output = tmp_path / "inference.json"
    completed = run_benchmark("inference", "--quick", "--models", "segnett", "--output", str(output))
    assert completed.returncode == 2
    assert "unknown model(s) segnett" in completed.stderr
    completed = run_benchmark("inference", "--repeats", "0", "--output", str(output))
    assert completed.returncode == 2
    assert "--repeats must be at least 1, got 0" in completed.stderr
    assert not output.exists()


def test_provenance_records_the_machine_the_code_and_the_command():
    import time

    import numpy  # noqa: F401  (provenance reads the versions of the libraries already imported)
    import tensorflow  # noqa: F401
    import torch  # noqa: F401

    provenance = load_benchmark_module("provenance")
    record = provenance.provenance(started=time.perf_counter() - 2.0, load_before=[1.0, 1.0, 1.0],
                                   argv=["--quick", "--note", "x"])
    assert PROVENANCE_KEYS <= set(record)
    assert record["wall_seconds"] >= 2.0 and record["load_average_start"] == [1.0, 1.0, 1.0]
    assert record["command"].endswith("--quick --note x")
    assert len(record["git_commit"]) == 40 and isinstance(record["git_dirty"], bool)  # the test runs in a checkout
    assert record["physical_cores"] >= 1
    json.dumps(record, allow_nan=False)  # JSON-ready as it is


def test_benchmark_records_are_strict_json_written_atomically(tmp_path):
    provenance = load_benchmark_module("provenance")
    assert provenance.json_safe({"a": [1.0, math.nan, (math.inf, 2)], "b": -math.inf, "c": "x"}) == {
        "a": [1.0, None, [None, 2]], "b": None, "c": "x"}
    path = tmp_path / "deep" / "record.json"
    provenance.write_record({"ratio": 1.5}, path)
    assert json.loads(path.read_text()) == {"ratio": 1.5}
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        provenance.write_record({"ratio": math.nan}, path)  # a NaN must go through json_safe first
    assert json.loads(path.read_text()) == {"ratio": 1.5}  # the old file survives a failed write
    assert [entry.name for entry in path.parent.iterdir()] == ["record.json"]  # no temporary left behind
