"""Tests for segdemo.plotting (Agg backend; every figure is closed)."""

from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from segdemo import plotting  # noqa: E402

COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_colourise_paints_each_class_and_ignored_pixels() -> None:
    masks = np.array([[[0, 1], [2, 255]]], dtype=np.uint8)
    painted = plotting.colourise(masks, COLOURS)
    assert painted.shape == (1, 2, 2, 3) and painted.dtype == np.uint8
    np.testing.assert_array_equal(painted[0, 0, 0], COLOURS[0])
    np.testing.assert_array_equal(painted[0, 0, 1], COLOURS[1])
    np.testing.assert_array_equal(painted[0, 1, 0], COLOURS[2])
    np.testing.assert_array_equal(painted[0, 1, 1], [0, 0, 0])
    white = plotting.colourise(masks, COLOURS, ignore_colour=(255, 255, 255))
    np.testing.assert_array_equal(white[0, 1, 1], [255, 255, 255])


def test_colourise_errors() -> None:
    with pytest.raises(ValueError, match="class id 3 but only 3 colours"):
        plotting.colourise(np.array([[3]], np.uint8), COLOURS)
    with pytest.raises(ValueError, match="integer class ids, got dtype float32"):
        plotting.colourise(np.zeros((2, 2), np.float32), COLOURS)
    with pytest.raises(ValueError, match=r"\(K, 3\) array of RGB values, got shape \(3,\)"):
        plotting.colourise(np.zeros((2, 2), np.uint8), np.array([1, 2, 3]))


def test_overlay_blends_and_keeps_ignored_pixels() -> None:
    images = np.full((2, 3, 4, 3), 100, dtype=np.uint8)
    masks = np.zeros((2, 3, 4), dtype=np.uint8)
    masks[:, 0, 0] = 255
    blended = plotting.overlay(images, masks, COLOURS, alpha=0.5)
    assert blended.shape == images.shape and blended.dtype == np.uint8
    # Half of 100 plus half of red (255, 0, 0), rounded: (178, 50, 50).
    np.testing.assert_array_equal(blended[0, 1, 1], [178, 50, 50])
    np.testing.assert_array_equal(blended[:, 0, 0], images[:, 0, 0])
    np.testing.assert_array_equal(plotting.overlay(images, masks, COLOURS, alpha=0.0), images)


def test_overlay_errors() -> None:
    images = np.zeros((3, 4, 3), np.uint8)
    with pytest.raises(ValueError, match=r"images \(3, 4, 3\) and masks \(4, 3\) must match"):
        plotting.overlay(images, np.zeros((4, 3), np.uint8), COLOURS)
    with pytest.raises(ValueError, match="alpha must lie in"):
        plotting.overlay(images, np.zeros((3, 4), np.uint8), COLOURS, alpha=1.5)
    with pytest.raises(ValueError, match="images must be uint8"):
        plotting.overlay(images.astype(np.float32), np.zeros((3, 4), np.uint8), COLOURS)


def test_class_legend_handles() -> None:
    handles = plotting.class_legend(["a", "b", "c"], COLOURS)
    assert [handle.get_label() for handle in handles] == ["a", "b", "c"]
    assert handles[1].get_facecolor()[:3] == (0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="2 class names but 3 colours"):
        plotting.class_legend(["a", "b"], COLOURS)


def test_show_grid_draws_rows_and_columns() -> None:
    images = np.zeros((6, 5, 5, 3), np.uint8)
    masks = np.ones((6, 5, 5), np.uint8)
    figure = plotting.show_grid({"image": images, "truth": masks, "prediction": masks}, colours=COLOURS, max_rows=4)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 4 * 3
    assert figure.axes[0].get_title() == "image"
    # The mask panel shows the colourised mask.
    np.testing.assert_array_equal(figure.axes[1].images[0].get_array()[0, 0], COLOURS[1])


def test_show_grid_errors() -> None:
    masks = np.ones((2, 5, 5), np.uint8)
    with pytest.raises(ValueError, match="pass colours"):
        plotting.show_grid({"truth": masks})
    with pytest.raises(ValueError, match="same number of items"):
        plotting.show_grid({"a": masks, "b": masks[:1]}, colours=COLOURS)
    with pytest.raises(ValueError, match="columns is empty"):
        plotting.show_grid({})
    with pytest.raises(ValueError, match=r"shape \(5, 5, 2\)"):
        plotting.show_grid({"odd": np.zeros((1, 5, 5, 2), np.uint8)})


def test_plot_history_panels() -> None:
    history = {
        "train_loss": [1.0, 0.5],
        "val_loss": [1.1, 0.7],
        "train_global_accuracy": [0.5, 0.8],
        "val_mean_iou": [0.2, 0.4],
        "confusion_matrix": [np.zeros((2, 2))],  # not a per-epoch number: skipped
    }
    figure = plotting.plot_history(history)
    loss_axis, metric_axis = figure.axes[0], figure.axes[1]
    assert {line.get_label() for line in loss_axis.lines} == {"train_loss", "val_loss"}
    assert {line.get_label() for line in metric_axis.lines} == {"train_global_accuracy", "val_mean_iou"}
    only_loss = plotting.plot_history({"train_loss": [1.0]})
    assert len(only_loss.axes) == 1
    with pytest.raises(ValueError, match="no per-epoch numbers"):
        plotting.plot_history({"note": "x"})


def test_plot_confusion_matrix() -> None:
    matrix = np.array([[3, 1, 0], [0, 0, 0], [1, 0, 3]])
    figure = plotting.plot_confusion_matrix(matrix, ["a", "b", "c"])
    shown = figure.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown[0], [0.75, 0.25, 0.0])
    np.testing.assert_allclose(shown[1], [0.0, 0.0, 0.0])  # class absent from the labels
    counts = plotting.plot_confusion_matrix(matrix, ["a", "b", "c"], normalize=False)
    assert "3" in [text.get_text() for text in counts.axes[0].texts]
    with pytest.raises(ValueError, match=r"expected \(2, 2\)"):
        plotting.plot_confusion_matrix(matrix, ["a", "b"])


def test_framework_free_modules_import_no_framework() -> None:
    code = (
        "import sys, segdemo.metrics, segdemo.plotting; "
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
