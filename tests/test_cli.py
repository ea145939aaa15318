"""Tests of the command line (python -m segdemo) and segdemo.experiment, including kill-and-resume."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from segdemo import experiment, results
from segdemo.__main__ import build_parser, main

TINY_RUN = ["--model", "segnet_small", "--width", "8", "--profile", "quick", "--image-size", "32x32",
            "--max-train-images", "4", "--max-val-images", "2", "--batch-size", "2", "--no-progress", "--name", "tiny"]


def _folders(tmp_path):
    return ["--output-dir", str(tmp_path / "results"), "--checkpoint-dir", str(tmp_path / "runs")]


def test_help_explains_every_option(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, command in commands.items():
        for action in command._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings} has no help"
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--model", "--framework", "--data", "--profile", "--data-dir", "--epochs", "--resume",
                   "--output-dir", "--checkpoint-dir", "--class-weights", "median-frequency"):
        assert option in text


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_train_then_evaluate_writes_result_and_figure(tmp_path, framework, capsys):
    assert main(["train", "--framework", framework, "--epochs", "1", *TINY_RUN, *_folders(tmp_path)]) == 0
    path = tmp_path / "results" / "synthetic" / "tiny.json"
    record = results.read_result(path)
    assert results.history_figure_path(path).stat().st_size > 0
    # A figure of test images (the split the paper reports): image | ground truth | prediction.
    assert results.prediction_figure_path(record) == path.with_name("tiny-predictions.png")
    assert results.prediction_figure_path(record).stat().st_size > 5000
    assert list(record["splits"]) == ["test", "val"]
    assert set(record["splits"]["val"]) == set(results.SUMMARY_KEYS)
    assert len(record["splits"]["val"]["per_class_iou"]) == record["num_classes"] == len(record["class_names"])
    assert len(record["history"]["train_loss"]) == 1 and record["class_weighting"] == "none"
    provenance = record["provenance"]
    assert provenance["image_size"] == [32, 32] and provenance["epochs"] == 1 and provenance["batch_size"] == 2
    assert provenance["num_train_images"] == 4 and provenance["optimizer"] == "adam" and provenance["seed"] == 0
    assert provenance["augment"] == "none" and provenance["schedule"] == "constant"
    assert {"git_commit", "git_dirty", "device", "versions", "wall_seconds", "seconds_per_epoch", "date_utc",
            "command"} <= set(provenance)
    assert path.stat().st_size < 20_000
    assert f"Wrote {path}" in capsys.readouterr().out

    folder = tmp_path / "runs" / "synthetic" / "tiny"
    assert main(["evaluate", "--checkpoint", str(folder), "--data", "synthetic", "--split", "val",
                 "--max-images", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "val" and report["framework"] == framework and report["num_images"] == 2
    # The checkpoint holds the trained weights: scoring it reproduces the result file's val scores.
    assert report["scores"]["global_accuracy"] == pytest.approx(record["splits"]["val"]["global_accuracy"])


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_resnet50_segnet_with_indices_trains_and_its_checkpoint_evaluates(tmp_path, framework, capsys):
    run = ["--model", "resnet50_segnet", "--indices", "--framework", framework, "--profile", "quick",
           "--image-size", "32x32", "--max-train-images", "2", "--max-val-images", "2", "--batch-size", "2",
           "--epochs", "1", "--no-progress", *_folders(tmp_path)]
    assert main(["train", *run]) == 0
    name = f"resnet50_segnet-{framework}-quick-32x32-epochs1-batch2-train2-val2-indices"
    record = results.read_result(tmp_path / "results" / "synthetic" / f"{name}.json")
    assert record["provenance"]["indices"] is True
    capsys.readouterr()
    # run.json records the option, so the checkpoint is rebuilt with the indexed encoder and loads.
    assert main(["evaluate", "--checkpoint", str(tmp_path / "runs" / "synthetic" / name), "--data", "synthetic",
                 "--split", "val", "--max-images", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scores"]["global_accuracy"] == pytest.approx(record["splits"]["val"]["global_accuracy"])


def test_encoder_decoder_with_dropout_trains_and_its_checkpoint_evaluates(tmp_path, capsys):
    run = ["--model", "encoder_decoder", "--dropout", "0.5", "--width", "4", "--framework", "pytorch", "--profile",
           "quick", "--image-size", "32x32", "--max-train-images", "2", "--max-val-images", "2", "--batch-size", "2",
           "--epochs", "1", "--no-progress", *_folders(tmp_path)]
    assert main(["train", *run]) == 0
    name = "encoder_decoder-pytorch-quick-32x32-epochs1-batch2-train2-val2-dropout0.5"
    record = results.read_result(tmp_path / "results" / "synthetic" / f"{name}.json")
    assert record["provenance"]["dropout"] == 0.5 and results.recipe(record).endswith("dropout 0.5")
    folder = tmp_path / "runs" / "synthetic" / name
    assert json.loads((folder / experiment.RUN_FILE).read_text())["dropout"] == 0.5
    capsys.readouterr()
    # Dropout is off in evaluation: the checkpoint rebuilt from run.json reproduces the val scores.
    assert main(["evaluate", "--checkpoint", str(folder), "--data", "synthetic", "--split", "val",
                 "--max-images", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scores"]["global_accuracy"] == pytest.approx(record["splits"]["val"]["global_accuracy"])
    # A resume may not change the rate.
    assert main(["train", *run, "--resume", "--dropout", "0.2", "--name", name]) == 2
    assert "dropout=0.5" in capsys.readouterr().err


def test_class_weighting_defaults():
    assert experiment.default_class_weighting("segnet_basic") == "median-frequency"
    assert experiment.default_class_weighting("segnet") == "median-frequency"
    assert experiment.default_class_weighting("encoder_decoder") == "none"


def test_errors_are_reported_with_exit_status_2(tmp_path, capsys):
    assert main(["evaluate", "--checkpoint", str(tmp_path)]) == 2
    assert "run.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--model", "segnet_small", "--framework", "jax"])
    with pytest.raises(SystemExit):
        main(["train", "--model", "segnet_small", "--framework", "pytorch", "--image-size", "32by32"])
    with pytest.raises(ValueError, match="'jax'"):
        experiment.framework_package("jax")


# The child trains slowly (a sleep after each recorded epoch) so the test can kill it between checkpoints.
SLOW_TRAINING = textwrap.dedent(
    """
    import sys, time
    from segdemo import training
    record_epoch = training.record_epoch
    def slow_record_epoch(history, values):
        time.sleep(1.0)
        return record_epoch(history, values)
    training.record_epoch = slow_record_epoch
    from segdemo.__main__ import main
    sys.exit(main(sys.argv[1:]))
    """
)


def test_killed_run_resumes_and_keeps_finished_epochs(tmp_path):
    import torch

    arguments = ["train", "--framework", "pytorch", "--epochs", "3", *TINY_RUN, *_folders(tmp_path)]
    folder = tmp_path / "runs" / "synthetic" / "tiny"
    checkpoint = folder / "checkpoint.pt"
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    child = subprocess.Popen([sys.executable, "-c", SLOW_TRAINING, *arguments], env=environment,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not checkpoint.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    _, errors = child.communicate()
    assert child.returncode == -signal.SIGKILL, errors.decode()
    saved = torch.load(checkpoint, weights_only=True)
    done = saved["epochs_done"]
    assert 1 <= done < 3
    assert not (tmp_path / "results").exists()  # the killed run wrote no result

    assert main([*arguments, "--resume"]) == 0
    record = results.read_result(tmp_path / "results" / "synthetic" / "tiny.json")
    history = record["history"]
    assert len(history["train_loss"]) == 3 and record["provenance"]["resumed"] is True
    for key in ("train_loss", "val_loss", "val_mean_iou", "epoch_seconds"):
        assert history[key][:done] == pytest.approx(saved["history"][key]), key


def test_pack_camvid_command(tmp_path, capsys):
    from tests.test_data_camvid import write_camvid

    for split in ("train", "val", "test"):
        write_camvid(tmp_path / "camvid", split, count=2)
    output = tmp_path / "pack" / "camvid.zip"
    assert main(["pack-camvid", "--data-dir", str(tmp_path / "camvid"), "--output", str(output)]) == 0
    assert "labels bit-identical" in capsys.readouterr().out and output.is_file()
    assert main(["pack-camvid", "--data-dir", str(tmp_path / "nowhere"), "--output", str(output)]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("dataset", ["camvid", "pets", "kitti_road", "voc"])
def test_download_command_uses_the_verified_download(tmp_path, monkeypatch, capsys, dataset):
    from segdemo import data

    calls = []

    def fake_download(cache_dir=None):
        calls.append(cache_dir)
        return tmp_path / "cache" / dataset

    monkeypatch.setattr(data, f"download_{dataset}", fake_download)  # no network in tests
    assert main(["download", dataset, "--to", str(tmp_path / "cache")]) == 0
    assert calls == [str(tmp_path / "cache")]
    assert f"--data-dir {tmp_path / 'cache' / dataset}" in capsys.readouterr().out


def test_download_offline_is_one_line_with_exit_status_1(monkeypatch, capsys):
    from segdemo import data

    def offline(cache_dir=None):
        raise data.DownloadError("Could not download https://example.org (unreachable); offline? copy it by hand.")

    monkeypatch.setattr(data, "download_pets", offline)
    assert main(["download", "pets"]) == 1
    assert capsys.readouterr().err == "error: Could not download https://example.org (unreachable); offline? copy it " \
                                      "by hand.\n"


def test_help_documents_the_cache(capsys):
    for command in (["--help"], ["train", "--help"]):
        with pytest.raises(SystemExit):
            main(command)
        text = " ".join(capsys.readouterr().out.split())
        assert "~/.cache/segdemo" in text and "$SEGDEMO_CACHE_DIR" in text and "arrays" in text
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--cache-dir" in capsys.readouterr().out


def test_cache_dir_option_holds_the_resized_arrays(tmp_path, monkeypatch):
    from segdemo.data import load_dataset
    from tests.test_data_camvid import write_camvid

    for split in ("train", "val", "test"):
        write_camvid(tmp_path / "camvid", split, count=2)
    load_dataset("camvid", "val", size=(8, 8), data_dir=tmp_path / "camvid", cache_dir=tmp_path / "mine")
    assert len(list((tmp_path / "mine" / "arrays").glob("camvid-val-8x8-*.npz"))) == 1


def test_corrupt_run_file_and_diverged_training_are_one_line(tmp_path, capsys):
    (tmp_path / "run.json").write_text("{not json")
    assert main(["evaluate", "--checkpoint", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {tmp_path / 'run.json'} is not valid JSON") and error.count("\n") == 1
    arguments = ["train", "--framework", "pytorch", "--epochs", "1", *TINY_RUN, *_folders(tmp_path),
                 "--learning-rate", "1e30"]
    assert main(arguments) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: The training loss became") and "Traceback" not in error


def test_tensorflow_start_up_lines_are_silenced(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    arguments = ["train", "--framework", "tensorflow", "--epochs", "1", *TINY_RUN, *_folders(tmp_path)]
    completed = subprocess.run([sys.executable, "-m", "segdemo", *arguments], env=environment, capture_output=True,
                               text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert "oneDNN custom operations" not in completed.stderr and "absl::InitializeLog" not in completed.stderr
