"""The full-profile sweep, dry-run on the CPU through the same command line the GPU machine runs."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile

import pytest

from segdemo import experiment, results
from segdemo.__main__ import main
from segdemo.data.pack import pack_camvid
from segdemo.torch import sweep
from tests.test_data_camvid import write_camvid


@pytest.fixture(scope="module")
def tiny_pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("camvid")
    for split in ("train", "val", "test"):
        write_camvid(root, split, count=4, height=64, width=80)
    path = root / "pack.zip"
    pack_camvid(root, path)
    return path


def test_cpu_dry_run_of_every_model(tiny_pack, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEGDEMO_CACHE_DIR", str(tmp_path / "cache"))
    output, archive = tmp_path / "out", tmp_path / "sweep.tar"
    status = main(["sweep", "--pack", str(tiny_pack), "--output-dir", str(output), "--image-size", "64x80",
                   "--max-images", "4", "--epochs", "1", "--batch-size", "2", "--device", "cpu",
                   "--warmup", "1", "--repeats", "1", "--archive", str(archive), "--budget-seconds", "600"])
    assert status == 0
    table = capsys.readouterr().out
    names = [model.name for model in sweep.FULL_SWEEP]
    for name in names:
        record = json.loads((output / "camvid" / f"{name}-pytorch-dryrun.json").read_text())
        # Anything but 360x480 on every image is labelled a dry run, never "full".
        assert record["profile"] == "dryrun" and record["provenance"]["image_size"] == [64, 80]
        assert set(record["splits"]) == {"test", "val"}
        assert record["splits"]["test"]["boundary_f1"] is not None
        assert record["provenance"]["data_source"]["labels"].startswith("bit-identical")
        assert len(record["history"]["train_loss"]) == 1
        figure = results.prediction_figure_path(output / "camvid" / f"{name}-pytorch-dryrun.json")
        assert figure.name == f"{name}-pytorch-dryrun-predictions.png" and figure.stat().st_size > 1000
        assert name in table
    benchmark = json.loads((output / sweep.BENCHMARK_FILE).read_text())
    assert set(benchmark["models"]) == set(names)
    for entry in benchmark["models"].values():
        assert entry["eager"]["flops_per_step"] > 0 and entry["eager"]["images_per_second"] > 0
        assert "compiled" not in entry  # torch.compile is benchmarked on a GPU only, unless asked
    with tarfile.open(archive) as tar:
        members = set(tar.getnames())
    assert "benchmarks/gpu_train_step.json" in members and "camvid/segnet-pytorch-dryrun.json" in members
    with tarfile.open(archive.with_name("sweep-checkpoints.tar")) as tar:
        assert "segnet_basic-pytorch-dryrun/checkpoint.pt" in tar.getnames()
    # The small checkpoints are in the runner's layout: `evaluate` re-scores them from the folder alone.
    report = experiment.evaluate_checkpoint(output / "checkpoints" / "segnet_basic-pytorch-dryrun",
                                            data_dir=str(tiny_pack.parent), split="test", max_images=2)
    assert report["model"] == "segnet_basic" and report["num_images"] == 2
    assert 0 <= report["scores"]["mean_iou"] <= 1


def test_plan_epochs():
    assert sweep.plan_epochs(100.0, 2.0, 10.0, 100) == 45
    assert sweep.plan_epochs(1000.0, 2.0, 10.0, 100) == 100
    assert sweep.plan_epochs(5.0, 2.0, 10.0, 100) == 1


def test_bad_arguments(tiny_pack, tmp_path, capsys):
    assert main(["sweep", "--pack", str(tiny_pack), "--output-dir", str(tmp_path), "--models", "vgg"]) == 2
    assert "Unknown sweep model(s) ['vgg']" in capsys.readouterr().err
    assert main(["sweep", "--pack", str(tmp_path / "none.zip"), "--output-dir", str(tmp_path),
                 "--device", "cpu"]) == 2
    assert "pack-camvid" in capsys.readouterr().err


def test_the_sweep_never_imports_tensorflow():
    code = "import sys, segdemo.torch.sweep, segdemo.torch.throughput; print('tensorflow' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "False"
