"""Pictures of segmentation: colourised label maps, overlays, example grids, training curves, confusion matrices.

matplotlib and numpy only (no framework). Figures are made with ``pyplot`` so a notebook shows them when a
cell ends with ``plt.show()``; close them with ``plt.close(figure)`` in scripts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

IGNORE_INDEX = 255


def _check_colours(colours: Any) -> np.ndarray:
    colours = np.asarray(colours)
    if colours.ndim != 2 or colours.shape[1] != 3 or colours.shape[0] == 0:
        raise ValueError(f"colours must be a (K, 3) array of RGB values, got shape {colours.shape}.")
    if colours.min() < 0 or colours.max() > 255:
        raise ValueError("colours must hold RGB values in [0, 255] (uint8), e.g. from segdemo.data.dataset_classes.")
    return colours.astype(np.uint8)


def colourise(
    masks: Any,
    colours: Any,
    *,
    ignore_index: int = IGNORE_INDEX,
    ignore_colour: Sequence[int] = (0, 0, 0),
) -> np.ndarray:
    """Paints class ids with their colours.

    Args:
        masks: integer (..., H, W), e.g. uint8 (N, H, W): class ids in ``[0, K)`` or ``ignore_index``.
        colours: uint8 (K, 3): the RGB colour of each class.
        ignore_index: label value painted with ``ignore_colour``.
        ignore_colour: RGB colour of ignored pixels (black by default, as in CamVid's void).

    Returns:
        uint8 (..., H, W, 3) RGB images.

    Raises:
        ValueError: masks are not integer, or hold a class id without a colour.
    """
    masks = np.asarray(masks)
    colours = _check_colours(colours)
    if not np.issubdtype(masks.dtype, np.integer):
        raise ValueError(f"masks must hold integer class ids, got dtype {masks.dtype} (shape {masks.shape}).")
    ignored = masks == ignore_index
    counted = masks[~ignored]
    if counted.size and (counted.min() < 0 or counted.max() >= len(colours)):
        bad = counted[(counted < 0) | (counted >= len(colours))][0]
        raise ValueError(
            f"masks hold class id {int(bad)} but only {len(colours)} colours were given; "
            f"pass one colour per class (or mark the pixel with ignore_index={ignore_index})."
        )
    # A lookup table with one extra row for ignored pixels.
    table = np.concatenate([colours, np.asarray(ignore_colour, dtype=np.uint8).reshape(1, 3)])
    indices = np.where(ignored, len(colours), masks).astype(np.intp)
    return table[indices]


def overlay(
    images: Any,
    masks: Any,
    colours: Any,
    alpha: float = 0.5,
    *,
    ignore_index: int = IGNORE_INDEX,
) -> np.ndarray:
    """Blends colourised masks over images; ignored pixels keep the image.

    Args:
        images: uint8 (..., H, W, 3) RGB images.
        masks: integer (..., H, W) class ids, same leading shape as ``images``.
        colours: uint8 (K, 3) class colours.
        alpha: weight of the mask colour, in [0, 1].
        ignore_index: label value left unpainted.

    Returns:
        uint8 (..., H, W, 3).

    Raises:
        ValueError: shapes do not match, ``images`` are not uint8 RGB, or ``alpha`` is outside [0, 1].
    """
    images = np.asarray(images)
    masks = np.asarray(masks)
    if images.dtype != np.uint8 or images.ndim < 3 or images.shape[-1] != 3:
        raise ValueError(
            f"images must be uint8 (..., H, W, 3), got dtype {images.dtype} and shape {images.shape}."
        )
    if images.shape[:-1] != masks.shape:
        raise ValueError(
            f"images {images.shape} and masks {masks.shape} must match: "
            f"masks are (..., H, W) for images (..., H, W, 3)."
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}.")
    painted = colourise(masks, colours, ignore_index=ignore_index).astype(np.float64)
    blended = (1.0 - alpha) * images.astype(np.float64) + alpha * painted
    blended = np.where((masks == ignore_index)[..., None], images, np.rint(blended))
    return blended.astype(np.uint8)


def class_legend(class_names: Sequence[str], colours: Any) -> list[Patch]:
    """Legend handles, one coloured patch per class: ``axes.legend(handles=class_legend(...))``.

    Args:
        class_names: K names.
        colours: uint8 (K, 3).

    Raises:
        ValueError: the numbers of names and colours differ.
    """
    colours = _check_colours(colours)
    if len(class_names) != len(colours):
        raise ValueError(f"Got {len(class_names)} class names but {len(colours)} colours; give one colour per class.")
    return [
        Patch(facecolor=colour / 255.0, edgecolor="black", linewidth=0.5, label=name)
        for name, colour in zip(class_names, colours)
    ]


def _as_picture(item: Any, colours: np.ndarray | None, column: str, ignore_index: int) -> np.ndarray:
    """An RGB picture from an image (H, W, 3) or a mask (H, W) (colourised)."""
    item = np.asarray(item)
    if item.ndim == 3 and item.shape[-1] == 3:
        return item
    if item.ndim == 2:
        if colours is None:
            raise ValueError(f"Column {column!r} holds masks (H, W): pass colours=(K, 3) to colourise them.")
        return colourise(item, colours, ignore_index=ignore_index)
    raise ValueError(
        f"Column {column!r} holds an item of shape {item.shape}; expected an image (H, W, 3) or a mask (H, W)."
    )


def show_grid(
    columns: Mapping[str, Any],
    *,
    colours: Any = None,
    max_rows: int = 4,
    ignore_index: int = IGNORE_INDEX,
    cell_size: float = 2.2,
) -> Figure:
    """A grid of examples: one column per entry (e.g. input | prediction | ground truth), one row per example.

    Args:
        columns: title -> sequence of images uint8 (H, W, 3) or masks integer (H, W), e.g. arrays
            (N, H, W, 3) / (N, H, W). Every column needs the same number of items.
        colours: uint8 (K, 3) class colours, required when a column holds masks.
        max_rows: at most this many examples are drawn (the first ones).
        ignore_index: label value drawn black in masks.
        cell_size: inches per panel.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: no columns, columns of different lengths, ``max_rows`` < 1, or masks without colours.
    """
    if not columns:
        raise ValueError("columns is empty: pass e.g. {'image': images, 'ground truth': masks}.")
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}.")
    lengths = {title: len(items) for title, items in columns.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"Every column needs the same number of items, got {lengths}.")
    number = min(next(iter(lengths.values())), max_rows)
    if number == 0:
        raise ValueError("The columns hold no items.")
    checked_colours = None if colours is None else _check_colours(colours)
    figure, axes = plt.subplots(
        number, len(columns), figsize=(cell_size * len(columns), cell_size * number), squeeze=False
    )
    for column_index, (title, items) in enumerate(columns.items()):
        for row in range(number):
            picture = _as_picture(items[row], checked_colours, title, ignore_index)
            axes[row, column_index].imshow(picture, interpolation="nearest")
            axes[row, column_index].set_axis_off()
        axes[0, column_index].set_title(title)
    figure.tight_layout()
    return figure


def prediction_figure(
    images: Any,
    masks: Any,
    predictions: Any,
    *,
    colours: Any,
    prediction_title: str = "prediction",
    caption: str = "",
    cell_size: float = 2.6,
) -> Figure:
    """Image | ground truth | prediction for a few examples, in the dataset's colours, with a caption.

    Args:
        images: uint8 (N, H, W, 3).
        masks: integer (N, H, W), the ground truth.
        predictions: integer (N, H, W), the model's classes.
        colours: uint8 (K, 3) class colours.
        prediction_title: title of the prediction column (e.g. the model's name).
        caption: a line under the grid: which split, which images, the dataset's citation.
        cell_size: inches per panel.

    Returns:
        The matplotlib Figure (one row per example).

    Raises:
        ValueError: the three sequences differ in length, or are empty.
    """
    figure = show_grid({"image": images, "ground truth": masks, prediction_title: predictions},
                       colours=colours, max_rows=len(images), cell_size=cell_size)
    if caption:
        figure.text(0.5, 0.005, caption, ha="center", va="bottom", fontsize=8, wrap=True)
        figure.tight_layout(rect=(0, 0.04, 1, 1))
    return figure


def _numeric_series(history: Mapping[str, Any]) -> dict[str, list[float]]:
    series = {}
    for key, values in history.items():
        try:
            numbers = [float(value) for value in values]
        except (TypeError, ValueError):
            continue  # e.g. a stored confusion matrix or a string
        if numbers:
            series[key] = numbers
    return series


def plot_history(history: Mapping[str, Any]) -> Figure:
    """Training curves: one panel for the losses, one for accuracies and IoU.

    Args:
        history: key -> list of per-epoch numbers, e.g. ``{"train_loss": [...], "val_loss": [...],
            "train_global_accuracy": [...], "val_mean_iou": [...]}`` as returned by ``fit``. Keys containing
            ``"loss"`` go to the left panel, the other numeric series to the right one; other entries are
            skipped.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: the history holds no numeric series.
    """
    series = _numeric_series(history)
    if not series:
        raise ValueError(f"history holds no per-epoch numbers (keys: {sorted(history)}); pass fit()'s history.")
    losses = {key: values for key, values in series.items() if "loss" in key}
    others = {key: values for key, values in series.items() if "loss" not in key}
    panels = [(title, group) for title, group in (("loss", losses), ("accuracy and IoU", others)) if group]
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for axis, (title, group) in zip(axes[0], panels):
        for key, values in group.items():
            axis.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=key)
        axis.set_xlabel("epoch")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    figure.tight_layout()
    return figure


def plot_confusion_matrix(matrix: Any, class_names: Sequence[str], normalize: bool = True) -> Figure:
    """A confusion matrix as a heat map (rows = true class, columns = predicted).

    Args:
        matrix: int64 (K, K) from ``segdemo.metrics.confusion_matrix``.
        class_names: K names.
        normalize: divide each row by its total, so the diagonal shows per-class recall; rows of classes
            absent from the labels stay 0.

    Returns:
        The matplotlib Figure. Cells are annotated when K <= 12.

    Raises:
        ValueError: the matrix is not (K, K) with K = len(class_names).
    """
    matrix = np.asarray(matrix)
    size = len(class_names)
    if matrix.shape != (size, size):
        raise ValueError(
            f"matrix has shape {matrix.shape} but {size} class names were given; expected ({size}, {size})."
        )
    values = matrix.astype(np.float64)
    if normalize:
        totals = values.sum(axis=1, keepdims=True)
        values = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    side = max(3.5, 0.45 * size + 2.0)
    figure, axis = plt.subplots(figsize=(side + 1.0, side))
    image = axis.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    axis.set_xticks(range(size), class_names, rotation=60, ha="right")
    axis.set_yticks(range(size), class_names)
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    if size <= 12:
        threshold = values.max() / 2 if values.max() > 0 else 1.0
        for row in range(size):
            for column in range(size):
                text = f"{values[row, column]:.2f}" if normalize else f"{int(matrix[row, column])}"
                colour = "white" if values[row, column] > threshold else "black"
                axis.text(column, row, text, ha="center", va="center", fontsize=7, color=colour)
    axis.set_title("confusion matrix" + (" (rows sum to 1)" if normalize else " (pixels)"))
    figure.tight_layout()
    return figure
