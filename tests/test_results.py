"""Tests of segdemo.results: result files, provenance and tables."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from segdemo import results


def _record(model="segnet_small", framework="pytorch", mean_iou=0.5):
    return {
        "model": model,
        "framework": framework,
        "data": "synthetic",
        "profile": "quick",
        "splits": {"val": {"mean_iou": np.float64(mean_iou), "per_class_iou": np.array([mean_iou, np.nan])}},
        "history": {"train_loss": [1.0, 0.5]},
    }


def test_write_then_read_round_trip_with_nan_as_null(tmp_path):
    path = results.result_path(tmp_path, "synthetic", "segnet_small", "pytorch", "quick")
    assert path == tmp_path / "synthetic" / "segnet_small-pytorch-quick.json"
    results.write_result(path, _record())
    record = results.read_result(path)
    assert record["schema"] == results.SCHEMA_VERSION and record["path"] == str(path)
    assert record["splits"]["val"] == {"mean_iou": 0.5, "per_class_iou": [0.5, None]}
    json.loads(path.read_text())  # strict JSON: no NaN literal
    assert "NaN" not in path.read_text()


def test_write_result_refuses_big_arrays(tmp_path):
    with pytest.raises(ValueError, match="limit"):
        results.write_result(tmp_path / "big.json", {"predictions": np.zeros(100_000)})
    assert not (tmp_path / "big.json").exists()


def test_read_result_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        results.read_result(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.json is not valid JSON"):
        results.read_result(tmp_path / "broken.json")
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a segdemo result"):
        results.read_result(tmp_path / "other.json")


def test_load_results_filters_and_sorts(tmp_path):
    for model, framework in [("segnet_small", "tensorflow"), ("encoder_decoder", "pytorch"), ("segnet_small", "pytorch")]:
        results.write_result(results.result_path(tmp_path, "synthetic", model, framework, "quick"),
                             _record(model, framework))
    loaded = results.load_results("synthetic", tmp_path)
    assert [(r["model"], r["framework"]) for r in loaded] == [
        ("encoder_decoder", "pytorch"), ("segnet_small", "pytorch"), ("segnet_small", "tensorflow")]
    assert [r["framework"] for r in results.load_results("synthetic", tmp_path, model="segnet_small")] == [
        "pytorch", "tensorflow"]
    assert results.load_results("camvid", tmp_path) == []


def test_format_table_percentages_missing_values_and_hand_rows():
    rows = [_record(mean_iou=0.4567), {"model": "SegNet (paper, test)", "splits": {"test": {"mean_iou": 0.6}}}]
    table = results.format_table(rows, {"model": "model", "mIoU val": "splits.val.mean_iou",
                                        "mIoU test": "splits.test.mean_iou"})
    assert table.splitlines() == [
        "| model | mIoU val | mIoU test |",
        "|---|---|---|",
        "| segnet_small | 45.7 | - |",
        "| SegNet (paper, test) | - | 60.0 |",
    ]
    assert "| 0.46 |" in results.format_table([_record(mean_iou=0.4567)], ["splits.val.mean_iou"], percent=False,
                                               digits=2)
    with pytest.raises(ValueError, match="columns is empty"):
        results.format_table(rows, [])


def test_summarise_scores_keeps_small_fields_only():
    evaluation = {"global_accuracy": 0.9, "class_accuracy": 0.8, "mean_iou": 0.7, "boundary_f1": 0.6,
                  "per_class_iou": np.array([0.7, math.nan]), "confusion_matrix": np.eye(2, dtype=np.int64)}
    assert results.summarise_scores(evaluation) == {
        "global_accuracy": 0.9, "class_accuracy": 0.8, "mean_iou": 0.7, "boundary_f1": 0.6,
        "per_class_iou": [0.7, None]}
    with pytest.raises(ValueError, match="boundary_f1"):
        results.summarise_scores({"mean_iou": 0.5})


def test_provenance_fields():
    record = results.provenance()
    assert set(record) >= {"git_commit", "git_dirty", "versions", "device", "date_utc", "command"}
    assert record["versions"]["numpy"] == np.__version__
    assert record["date_utc"].endswith("+00:00")
    assert record["git_commit"] is None or len(record["git_commit"]) == 40


def test_provenance_line_names_the_run_and_its_settings():
    record = {"model": "fcn8s", "framework": "pytorch", "profile": "standard",
              "provenance": {"git_commit": "0123456789abcdef", "git_dirty": False, "device": "cpu: x86_64 (2 cores)",
                             "date_utc": "2026-11-22T01:00:00+00:00", "num_train_images": 367, "width": 32,
                             "epochs": 15, "optimizer": "adam", "learning_rate": 0.001, "seconds_per_epoch": 61.5}}
    line = results.provenance_line(record)
    assert line.splitlines() == [
        "fcn8s-pytorch-standard: commit 01234567, 2026-11-22",
        "  cpu: x86_64 (2 cores), 367 training images, width 32, 15 epochs",
        "  adam lr 0.001, 61.5 s per epoch",
    ]
    record["provenance"].update(git_dirty=True, width=None)
    line = results.provenance_line(record)
    assert "(uncommitted changes)" in line and "width" not in line and "recipe" not in line
    record["provenance"].update(augment="flip+scale+color", schedule="cosine", indices=True)
    line = results.provenance_line(record)
    assert line.splitlines()[2] == "  adam lr 0.001, 61.5 s per epoch, recipe: flip+scale+color, cosine, indices"
    record["provenance"].update(augment="zoom+flip+brightness+color", schedule="warm-up then cosine",
                                precision="bfloat16 autocast")
    line = results.provenance_line(record)
    assert line.splitlines()[3] == "  recipe: zoom+flip+brightness+color, warm-up+cosine, bfloat16, indices"


def test_recipe_names_a_dropout_rate_other_than_the_models_default():
    def recipe(model, dropout):
        return results.recipe({"model": model, "provenance": {"dropout": dropout}})

    assert recipe("encoder_decoder", 0.5) == "no augmentation, constant, dropout 0.5"
    assert recipe("segnet_small", 0.0) == "no augmentation, constant, dropout 0"
    assert recipe("segnet_small", 0.5) == recipe("encoder_decoder", 0.0) == "no augmentation, constant"
    assert recipe("fcn8s", None) == "no augmentation, constant"


def test_provenance_lines_of_every_committed_result_fit_the_page():
    records = [record for data in ("camvid", "pets")
               for folder in (results.DEFAULT_RESULTS_DIR, results.DEFAULT_RESULTS_DIR / "ablation")
               for record in results.load_results(data, folder)]
    assert records
    for record in records:
        for part in results.provenance_line(record).splitlines():
            assert len(part) <= 88, part


def test_recipe_of_runs_made_before_recipes_were_recorded():
    assert results.recipe({"provenance": {"epochs": 15}}) == "no augmentation, constant"
    assert results.recipe({"provenance": {"augment": "flip", "schedule": "cosine", "precision": "bfloat16"}}) == (
        "flip, cosine, bfloat16")
    gpu_sweep = {"augmentation": "zoom 0.8-1.5 with random shift, horizontal flips, brightness +-0.2",
                 "schedule": "linear warm-up over 3% of steps, cosine decay to 0", "precision": "bfloat16 autocast"}
    assert results.recipe({"provenance": gpu_sweep}) == "zoom+flip+brightness, warm-up+cosine, bfloat16"
    assert results.recipe({"provenance": {"augmentation": "mixup", "schedule": "step"}}) == "mixup, step"


def test_split_rows_lead_with_test_and_label_every_split():
    def record(model, splits):
        return {"model": model, "framework": "pytorch", "profile": "standard", "path": f"/r/{model}.json",
                "provenance": {"image_size": [96, 128], "epochs": 40, "augment": "none", "schedule": "cosine"},
                "splits": {split: {"mean_iou": 0.5} for split in splits}}

    rows = results.split_rows([record("a", ["val", "test"]), record("b", ["val"]), record("c", ["test", "val"])])
    assert [(row["model"], row["split"]) for row in rows] == [("a", "test"), ("c", "test"), ("a", "val"),
                                                              ("b", "val"), ("c", "val")]
    assert rows[0]["size"] == "96x128" and rows[0]["recipe"] == "no augmentation, cosine" and rows[0]["name"] == "a"
    assert [row["split"] for row in results.split_rows([record("a", ["val", "test"])], splits=("val",))] == ["val"]


def test_provenance_takes_the_commit_a_remote_caller_names(monkeypatch):
    # A tree copied to a GPU machine may carry a stale .git: the commit the caller sent wins.
    monkeypatch.setenv(results.COMMIT_VARIABLE, "93395a7d2b678cd4c557aa5e394ad3fb62dc3584")
    monkeypatch.setenv(results.DIRTY_VARIABLE, "0")
    record = results.provenance()
    assert record["git_commit"] == "93395a7d2b678cd4c557aa5e394ad3fb62dc3584" and record["git_dirty"] is False
    monkeypatch.delenv(results.DIRTY_VARIABLE)
    assert results.provenance()["git_dirty"] is None


def test_load_results_refuses_a_missing_results_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="No results folder"):
        results.load_results("camvid", tmp_path / "nowhere")


def test_results_are_found_in_a_checkout_and_shipped_in_the_package():
    # In this checkout the default is results/; a wheel carries the same files as segdemo/_results.
    assert results.DEFAULT_RESULTS_DIR == Path(results.__file__).resolve().parent.parent / "results"
    pyproject = (Path(results.__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert '"segdemo._results" = "results"' in pyproject


def test_summarise_scores_keeps_per_class_accuracy_next_to_iou():
    evaluation = {"global_accuracy": 0.9, "class_accuracy": 0.8, "mean_iou": 0.7, "boundary_f1": 0.6,
                  "per_class_iou": np.array([0.7, 0.5]), "per_class_accuracy": np.array([0.9, math.nan])}
    summary = results.summarise_scores(evaluation)
    assert summary["per_class_accuracy"] == [0.9, None] and summary["per_class_iou"] == [0.7, 0.5]


def test_committed_result_files_without_per_class_accuracy_still_load_and_tabulate():
    records = results.load_results("camvid", results.DEFAULT_RESULTS_DIR)
    old = [record for record in records if "per_class_accuracy" not in record["splits"]["val"]]
    assert old, "the committed results predate per-class accuracy"
    table = results.format_table(old[:1], {"acc": "splits.val.per_class_accuracy", "mIoU": "splits.val.mean_iou"})
    assert table.splitlines()[2].startswith("| - |")


def test_result_path_takes_a_run_name(tmp_path):
    assert results.result_path(tmp_path, "camvid", "fcn8s", "pytorch", "standard", name="debug") == (
        tmp_path / "camvid" / "debug.json")


def test_cpu_model_is_a_name():
    name = results.cpu_model()
    assert isinstance(name, str) and name and "\n" not in name


def test_figure_paths_sit_beside_the_result_file(tmp_path):
    path = results.result_path(tmp_path, "camvid", "fcn8s", "pytorch", "standard")
    results.write_result(path, _record())
    record = results.read_result(path)
    for result in (record, path, str(path)):
        assert results.history_figure_path(result) == tmp_path / "camvid" / "fcn8s-pytorch-standard.png"
        assert results.prediction_figure_path(result) == (
            tmp_path / "camvid" / "fcn8s-pytorch-standard-predictions.png")


def test_figure_paths_refuse_what_is_not_a_result_file(tmp_path):
    with pytest.raises(ValueError, match="no 'path'"):
        results.prediction_figure_path(_record())
    with pytest.raises(ValueError, match="curves.png is not a result file"):
        results.history_figure_path(tmp_path / "curves.png")


@pytest.mark.parametrize("data", ["camvid", "pets"])
def test_every_committed_figure_belongs_to_a_committed_result(data):
    records = results.load_results(data)
    expected = {results.history_figure_path(record) for record in records}
    expected |= {results.prediction_figure_path(record) for record in records}
    figures = set((results.DEFAULT_RESULTS_DIR / data).glob("*.png"))
    assert figures and figures <= expected
    # Every standard or full run has its curves; prediction figures came later (older runs lack them).
    assert all(results.history_figure_path(record) in figures for record in records
               if record["profile"] in ("standard", "full"))
