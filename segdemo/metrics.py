"""Segmentation metrics in numpy: confusion matrix, accuracies, IoU and the boundary F1 score.

The three numbers the SegNet paper reports all come from one confusion matrix (rows = true class,
columns = predicted class):

* global accuracy: correctly labelled pixels / labelled pixels;
* class accuracy: the mean over classes of per-class recall (correct pixels of a class / its pixels);
* mean intersection over union (mIoU): the mean over classes of
  ``true positives / (true positives + false positives + false negatives)``.

Global accuracy is dominated by large classes (road, sky); class accuracy and mIoU weigh every class the
same, so a model that never finds a pole is visibly punished. The boundary F1 score (BF) of Csurka et al.
(2013), also in the SegNet paper, measures how well predicted boundaries line up with the true ones.

Pixels whose label is ``ignore_index`` (255: CamVid's void) are left out of every count. Example::

    >>> labels = np.array([[0, 0], [1, 255]], dtype=np.uint8)
    >>> predictions = np.array([[0, 1], [1, 1]], dtype=np.uint8)
    >>> confusion_matrix(labels, predictions, num_classes=2)
    array([[1, 1],
           [0, 1]])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

IGNORE_INDEX = 255
# The SegNet paper's BF tolerance: 0.75% of the image diagonal.
BOUNDARY_TOLERANCE_FRACTION = 0.0075


def _check_num_classes(num_classes: int) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")


def _check_integer_array(name: str, array: np.ndarray) -> None:
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"{name} must hold integer class ids, got dtype {array.dtype} (shape {array.shape}). "
            f"Convert scores to ids first, e.g. logits.argmax(axis=-1).astype(np.uint8)."
        )


def _valid_pixels(labels: np.ndarray, ignore_index: int | None) -> np.ndarray:
    """Boolean mask of the pixels that count (label is not the ignore index)."""
    if ignore_index is None:
        return np.ones(labels.shape, dtype=bool)
    return labels != ignore_index


def _check_range(name: str, values: np.ndarray, num_classes: int, hint: str) -> None:
    """Raises ValueError naming the first out-of-range value and how many pixels hold bad values."""
    if values.size == 0:
        return
    low, high = values.min(), values.max()
    if low >= 0 and high < num_classes:
        return
    bad = (values < 0) | (values >= num_classes)
    first = values[bad][0]
    raise ValueError(
        f"{name} holds value {int(first)} in {int(bad.sum())} pixel(s), outside [0, {num_classes}) "
        f"(num_classes={num_classes}). {hint}"
    )


def _check_pair(
    labels: Any, predictions: Any, num_classes: int, ignore_index: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validates a label/prediction pair; returns them as arrays plus the mask of counted pixels."""
    _check_num_classes(num_classes)
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    if labels.shape != predictions.shape:
        raise ValueError(
            f"labels and predictions must have the same shape, got labels {labels.shape} and "
            f"predictions {predictions.shape}. Resize the predictions to the label size (or the reverse)."
        )
    _check_integer_array("labels", labels)
    _check_integer_array("predictions", predictions)
    valid = _valid_pixels(labels, ignore_index)
    _check_range(
        "labels",
        labels[valid],
        num_classes,
        f"Labels must be class ids or the ignore index {ignore_index}; map void classes to {ignore_index}.",
    )
    _check_range(
        "predictions",
        predictions[valid],
        num_classes,
        "Predictions must be class ids of the model's num_classes outputs.",
    )
    return labels, predictions, valid


def confusion_matrix(
    labels: Any, predictions: Any, num_classes: int, ignore_index: int | None = IGNORE_INDEX
) -> np.ndarray:
    """Counts pixels by (true class, predicted class).

    Args:
        labels: integer array of any shape, e.g. uint8 (N, H, W): true class ids in ``[0, num_classes)``
            or ``ignore_index``.
        predictions: integer array of the same shape: predicted class ids. Values at ignored pixels are
            not read (they may be anything).
        num_classes: number of classes K.
        ignore_index: label value whose pixels are left out; ``None`` counts every pixel.

    Returns:
        int64 (K, K): ``matrix[i, j]`` is the number of pixels of true class ``i`` predicted as ``j``.
        It sums to the number of non-ignored pixels.

    Raises:
        ValueError: shapes differ, dtypes are not integer, or a counted label or prediction is outside
            ``[0, num_classes)``.
    """
    labels, predictions, valid = _check_pair(labels, predictions, num_classes, ignore_index)
    # One bincount over combined indices true * K + predicted: milliseconds for CamVid-sized batches.
    combined = labels[valid].astype(np.int64) * num_classes + predictions[valid].astype(np.int64)
    counts = np.bincount(combined, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _check_matrix(matrix: Any) -> np.ndarray:
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"matrix must be a square (K, K) confusion matrix, got shape {matrix.shape}.")
    if not (np.issubdtype(matrix.dtype, np.integer) or np.issubdtype(matrix.dtype, np.floating)):
        raise ValueError(f"matrix must hold pixel counts (integers), got dtype {matrix.dtype}.")
    if np.any(matrix < 0) or not np.all(np.isfinite(matrix)):
        raise ValueError("matrix must hold non-negative finite pixel counts; build it with confusion_matrix().")
    if matrix.sum() == 0:
        raise ValueError(
            f"matrix of shape {matrix.shape} counts no pixels: every label was ignored or nothing was added."
        )
    return matrix


def _divide(numerators: np.ndarray, denominators: np.ndarray) -> np.ndarray:
    """Element-wise division with NaN where the denominator is 0 (the ratio is undefined there)."""
    numerators = numerators.astype(np.float64)
    denominators = denominators.astype(np.float64)
    result = np.full(numerators.shape, np.nan)
    np.divide(numerators, denominators, out=result, where=denominators > 0)
    return result


def scores(matrix: Any) -> dict[str, Any]:
    """Accuracies and IoU from a confusion matrix.

    Args:
        matrix: int64 (K, K) from :func:`confusion_matrix` (rows true, columns predicted).

    Returns:
        A dict with

        * ``"global_accuracy"`` (float): trace / total.
        * ``"per_class_accuracy"``: float64 (K,), recall ``matrix[c, c] / matrix[c, :].sum()``; NaN for a
          class absent from the labels.
        * ``"class_accuracy"`` (float): mean of ``per_class_accuracy`` over classes present in the labels.
        * ``"per_class_iou"``: float64 (K,), ``TP / (TP + FP + FN)``; NaN for a class absent from both
          labels and predictions (0/0). A class predicted but absent from the labels gets IoU 0.
        * ``"mean_iou"`` (float): mean of ``per_class_iou`` over the classes where it is defined (the
          convention of ``keras.metrics.MeanIoU``).

        All floats lie in [0, 1].

    Raises:
        ValueError: the matrix is not square, has negative entries, or counts no pixels.
    """
    matrix = _check_matrix(matrix)
    true_positives = np.diag(matrix)
    label_totals = matrix.sum(axis=1)
    prediction_totals = matrix.sum(axis=0)
    per_class_accuracy = _divide(true_positives, label_totals)
    per_class_iou = _divide(true_positives, label_totals + prediction_totals - true_positives)
    return {
        "global_accuracy": float(true_positives.sum() / matrix.sum()),
        "class_accuracy": float(np.nanmean(per_class_accuracy)),
        "mean_iou": float(np.nanmean(per_class_iou)),
        "per_class_accuracy": per_class_accuracy,
        "per_class_iou": per_class_iou,
    }


class ConfusionMatrix:
    """Accumulates a confusion matrix over batches, for evaluating a dataset that does not fit in memory.

    Example::

        >>> accumulator = ConfusionMatrix(num_classes=2)
        >>> accumulator.update(np.array([0, 1]), np.array([0, 0]))
        >>> accumulator.update(np.array([1]), np.array([1]))
        >>> accumulator.matrix
        array([[1, 0],
               [1, 1]])
    """

    def __init__(self, num_classes: int, ignore_index: int | None = IGNORE_INDEX) -> None:
        _check_num_classes(num_classes)
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, labels: Any, predictions: Any) -> None:
        """Adds one batch (same arguments as :func:`confusion_matrix`)."""
        self.matrix += confusion_matrix(labels, predictions, self.num_classes, self.ignore_index)

    def reset(self) -> None:
        """Sets every count back to zero."""
        self.matrix[...] = 0

    def scores(self) -> dict[str, Any]:
        """:func:`scores` of the accumulated matrix."""
        return scores(self.matrix)


# ---------------------------------------------------------------------------------------------------------
# Boundary F1


def _boundaries(class_ids: np.ndarray, valid: np.ndarray, class_id: int) -> np.ndarray:
    """Boundary pixels of one class: valid pixels of the class with a valid 4-neighbour of another class.

    Args:
        class_ids: integer (N, H, W).
        valid: bool (N, H, W), pixels that count.
        class_id: the class whose boundary is wanted.

    Returns:
        bool (N, H, W). The image border and ignored neighbours do not make a boundary.
    """
    inside = (class_ids == class_id) & valid
    outside = (class_ids != class_id) & valid
    boundary = np.zeros_like(inside)
    # Compare each pixel with its neighbour below / above / right / left.
    boundary[:, :-1, :] |= inside[:, :-1, :] & outside[:, 1:, :]
    boundary[:, 1:, :] |= inside[:, 1:, :] & outside[:, :-1, :]
    boundary[:, :, :-1] |= inside[:, :, :-1] & outside[:, :, 1:]
    boundary[:, :, 1:] |= inside[:, :, 1:] & outside[:, :, :-1]
    return boundary


def boundary_map(masks: Any, ignore_index: int | None = IGNORE_INDEX) -> np.ndarray:
    """All class boundaries of label maps: pixels with a 4-neighbour of another class.

    The union over classes of the per-class boundaries that :func:`boundary_f1` compares. Ignored pixels
    and the image border make no boundary.

    Args:
        masks: integer (H, W) or (N, H, W) class ids.
        ignore_index: label value of ignored pixels; ``None`` treats every value as a class.

    Returns:
        bool array of the same shape as ``masks``.

    Raises:
        ValueError: ``masks`` are not integer or not (H, W) / (N, H, W).
    """
    masks = np.asarray(masks)
    _check_integer_array("masks", masks)
    if masks.ndim not in (2, 3):
        raise ValueError(f"masks must be (H, W) or (N, H, W), got shape {masks.shape}.")
    batch = masks[None] if masks.ndim == 2 else masks
    valid = _valid_pixels(batch, ignore_index)
    boundary = np.zeros(batch.shape, dtype=bool)
    below = (batch[:, :-1, :] != batch[:, 1:, :]) & valid[:, :-1, :] & valid[:, 1:, :]
    right = (batch[:, :, :-1] != batch[:, :, 1:]) & valid[:, :, :-1] & valid[:, :, 1:]
    boundary[:, :-1, :] |= below
    boundary[:, 1:, :] |= below
    boundary[:, :, :-1] |= right
    boundary[:, :, 1:] |= right
    return boundary[0] if masks.ndim == 2 else boundary


def dilate_disk(masks: Any, radius: float) -> np.ndarray:
    """Marks pixels within Euclidean distance ``radius`` (``<=``) of a True pixel: BF's tolerance band.

    Args:
        masks: bool (H, W) or (N, H, W).
        radius: distance in pixels, >= 0.

    Returns:
        bool array of the same shape.

    Raises:
        ValueError: ``radius`` is negative or ``masks`` are not (H, W) / (N, H, W).
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim not in (2, 3):
        raise ValueError(f"masks must be (H, W) or (N, H, W), got shape {masks.shape}.")
    if not math.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be a non-negative number of pixels, got {radius!r}.")
    if masks.ndim == 2:
        return _dilate_disk(masks[None], radius)[0]
    return _dilate_disk(masks, radius)


def _dilate_disk(masks: np.ndarray, radius: float) -> np.ndarray:
    """Dilates bool (N, H, W) masks by a Euclidean disk: pixels at distance <= radius from a True pixel.

    The disk is decomposed into rows: for each vertical offset dy the row half-width is
    floor(sqrt(radius**2 - dy**2)). Horizontal dilations are built incrementally, then shifted vertically,
    so the cost is about 4 * radius array operations instead of one per disk pixel.
    """
    reach = int(math.floor(radius))
    if reach <= 0:
        return masks.copy()
    number, height, width = masks.shape
    padded = np.zeros((number, height + 2 * reach, width + 2 * reach), dtype=bool)
    padded[:, reach : reach + height, reach : reach + width] = masks
    # horizontal[w]: padded dilated by a horizontal segment of half-width w.
    horizontal = [padded]
    for half_width in range(1, reach + 1):
        previous = horizontal[-1].copy()
        previous[:, :, half_width:] |= padded[:, :, :-half_width]
        previous[:, :, :-half_width] |= padded[:, :, half_width:]
        horizontal.append(previous)
    result = np.zeros_like(padded)
    for offset in range(-reach, reach + 1):
        half_width = int(math.floor(math.sqrt(max(radius * radius - offset * offset, 0.0)) + 1e-9))
        row_dilated = horizontal[half_width]
        if offset >= 0:
            result[:, offset:, :] |= row_dilated[:, : row_dilated.shape[1] - offset, :]
        else:
            result[:, :offset, :] |= row_dilated[:, -offset:, :]
    return result[:, reach : reach + height, reach : reach + width]


def default_boundary_tolerance(height: int, width: int) -> float:
    """The SegNet paper's BF tolerance in pixels: 0.75% of the image diagonal."""
    return BOUNDARY_TOLERANCE_FRACTION * math.hypot(height, width)


def boundary_f1(
    labels: Any,
    predictions: Any,
    num_classes: int,
    tolerance: float | None = None,
    ignore_index: int | None = IGNORE_INDEX,
) -> float:
    """The boundary F1 score (BF) of the SegNet paper, after Csurka et al. (2013).

    What is computed, per image:

    1. Only valid pixels count (label not ``ignore_index``). A *boundary pixel* of class ``c`` is a valid
       pixel of class ``c`` with at least one valid 4-neighbour of another class; the image border and
       ignored neighbours make no boundary. This is done separately for the labels and the predictions.
    2. For each class present (among valid pixels) in the labels or the predictions: precision is the share
       of predicted boundary pixels lying within ``tolerance`` pixels (Euclidean distance ``<=``) of a true
       boundary pixel, recall the share of true boundary pixels within ``tolerance`` of a predicted one,
       and F1 = 2PR / (P + R) (0 when P + R = 0, or when only one of the two has boundary pixels). When
       neither has boundary pixels, F1 is 1 if the class masks agree on the valid pixels, else 0.
    3. The image's score is the mean F1 over those classes.

    The result is the mean over images that have at least one valid pixel.

    Args:
        labels: integer (H, W) or (N, H, W): true class ids or ``ignore_index``.
        predictions: integer array of the same shape: predicted class ids.
        num_classes: number of classes K.
        tolerance: distance in pixels under which a boundary pixel counts as matched; ``None`` uses 0.75% of
            the image diagonal, as in the SegNet paper (4.5 px at 360x480, 0.68 px at 64x64, which means
            an exact match).
        ignore_index: label value whose pixels are left out; ``None`` counts every pixel.

    Returns:
        The mean BF score, a float in [0, 1].

    Raises:
        ValueError: shapes differ or are not (H, W) / (N, H, W), dtypes are not integer, values are out of
            range, ``tolerance`` is negative, or no pixel is labelled.
    """
    labels, predictions, valid = _check_pair(labels, predictions, num_classes, ignore_index)
    if labels.ndim == 2:
        labels, predictions, valid = labels[None], predictions[None], valid[None]
    if labels.ndim != 3:
        raise ValueError(
            f"boundary_f1 expects label maps of shape (H, W) or (N, H, W), got shape {labels.shape}."
        )
    height, width = labels.shape[1:]
    if tolerance is None:
        tolerance = default_boundary_tolerance(height, width)
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a non-negative number of pixels, got {tolerance!r}.")
    images_with_pixels = valid.any(axis=(1, 2))
    if not images_with_pixels.any():
        raise ValueError(
            f"No pixel is labelled: every label of the {labels.shape} array equals ignore_index={ignore_index}."
        )

    f1_sums = np.zeros(labels.shape[0])
    class_counts = np.zeros(labels.shape[0])
    for class_id in range(num_classes):
        true_mask = (labels == class_id) & valid
        predicted_mask = (predictions == class_id) & valid
        present = true_mask.any(axis=(1, 2)) | predicted_mask.any(axis=(1, 2))
        if not present.any():
            continue
        true_boundary = _boundaries(labels, valid, class_id)
        predicted_boundary = _boundaries(predictions, valid, class_id)
        true_count = true_boundary.sum(axis=(1, 2))
        predicted_count = predicted_boundary.sum(axis=(1, 2))
        matched_predicted = (predicted_boundary & _dilate_disk(true_boundary, tolerance)).sum(axis=(1, 2))
        matched_true = (true_boundary & _dilate_disk(predicted_boundary, tolerance)).sum(axis=(1, 2))
        precision = _divide(matched_predicted, predicted_count)
        recall = _divide(matched_true, true_count)
        with np.errstate(invalid="ignore"):
            f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        # One side without boundary pixels: nothing of the other side can be matched.
        f1 = np.where((true_count > 0) != (predicted_count > 0), 0.0, f1)
        neither = (true_count == 0) & (predicted_count == 0)
        masks_agree = ~np.any(true_mask != predicted_mask, axis=(1, 2))
        f1 = np.where(neither, masks_agree.astype(np.float64), f1)
        f1_sums += np.where(present, f1, 0.0)
        class_counts += present
    per_image = f1_sums[images_with_pixels] / class_counts[images_with_pixels]
    return float(per_image.mean())
