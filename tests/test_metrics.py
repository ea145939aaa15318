"""Tests for segdemo.metrics: hand-worked examples, cross-checks with torchmetrics and Keras, properties."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from segdemo import metrics

# A 4x4 example worked by hand (255 = ignored).
HAND_LABELS = np.array(
    [
        [0, 0, 1, 1],
        [0, 0, 1, 1],
        [2, 2, 1, 1],
        [2, 2, 255, 255],
    ],
    dtype=np.uint8,
)
HAND_PREDICTIONS = np.array(
    [
        [0, 0, 1, 1],
        [0, 1, 1, 1],
        [2, 2, 2, 1],
        [0, 2, 1, 1],
    ],
    dtype=np.uint8,
)
# Class 0: 4 pixels, one predicted as 1. Class 1: 6 pixels, one predicted as 2. Class 2: 4 pixels, one as 0.
HAND_MATRIX = np.array([[3, 1, 0], [0, 5, 1], [1, 0, 3]])


def test_confusion_matrix_hand_example() -> None:
    matrix = metrics.confusion_matrix(HAND_LABELS, HAND_PREDICTIONS, num_classes=3)
    np.testing.assert_array_equal(matrix, HAND_MATRIX)
    assert matrix.dtype == np.int64
    assert matrix.sum() == 14  # 16 pixels minus 2 ignored


def test_scores_hand_example() -> None:
    result = metrics.scores(HAND_MATRIX)
    # Row sums 4, 6, 4; column sums 4, 6, 4; diagonal 3, 5, 3.
    per_class_accuracy = [Fraction(3, 4), Fraction(5, 6), Fraction(3, 4)]
    per_class_iou = [Fraction(3, 4 + 4 - 3), Fraction(5, 6 + 6 - 5), Fraction(3, 4 + 4 - 3)]
    assert result["global_accuracy"] == pytest.approx(float(Fraction(11, 14)))
    np.testing.assert_allclose(result["per_class_accuracy"], [float(v) for v in per_class_accuracy])
    assert result["class_accuracy"] == pytest.approx(float(sum(per_class_accuracy) / 3))
    np.testing.assert_allclose(result["per_class_iou"], [float(v) for v in per_class_iou])
    assert result["mean_iou"] == pytest.approx(float(sum(per_class_iou) / 3))


def test_scores_absent_classes_are_nan_and_excluded() -> None:
    # Class 2 appears nowhere; class 3 is predicted but never labelled.
    labels = np.array([0, 0, 1, 1, 0])
    predictions = np.array([0, 1, 1, 3, 0])
    result = metrics.scores(metrics.confusion_matrix(labels, predictions, num_classes=4))
    assert np.isnan(result["per_class_iou"][2])
    assert result["per_class_iou"][3] == 0.0
    assert np.isnan(result["per_class_accuracy"][2]) and np.isnan(result["per_class_accuracy"][3])
    # IoU: class 0: 2 / (3 + 2 - 2), class 1: 1 / (2 + 2 - 1), class 3: 0 -> mean over the three defined.
    assert result["mean_iou"] == pytest.approx((2 / 3 + 1 / 3 + 0) / 3)
    # Recall over classes present in the labels only: (2 / 3 + 1 / 2) / 2.
    assert result["class_accuracy"] == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_confusion_matrix_accepts_any_prediction_at_ignored_pixels() -> None:
    labels = np.array([[0, 255]], dtype=np.uint8)
    predictions = np.array([[0, 200]], dtype=np.uint8)
    np.testing.assert_array_equal(metrics.confusion_matrix(labels, predictions, 2), [[1, 0], [0, 0]])


def test_confusion_matrix_without_ignore_index_counts_everything() -> None:
    labels = np.array([0, 1, 2])
    predictions = np.array([0, 2, 2])
    matrix = metrics.confusion_matrix(labels, predictions, 3, ignore_index=None)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 0, 1], [0, 0, 1]])


def test_confusion_matrix_accumulator_matches_one_shot() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=(6, 5, 7)).astype(np.uint8)
    labels[labels == 3] = 255
    predictions = rng.integers(0, 3, size=labels.shape).astype(np.uint8)
    accumulator = metrics.ConfusionMatrix(num_classes=3)
    for start in range(0, 6, 2):
        accumulator.update(labels[start : start + 2], predictions[start : start + 2])
    expected = metrics.confusion_matrix(labels, predictions, 3)
    np.testing.assert_array_equal(accumulator.matrix, expected)
    assert accumulator.scores()["mean_iou"] == metrics.scores(expected)["mean_iou"]
    accumulator.reset()
    assert accumulator.matrix.sum() == 0


# --- cross-checks with reference implementations -----------------------------------------------------


def _random_pair(seed: int, num_classes: int, shape=(3, 9, 11)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes + 1, size=shape).astype(np.uint8)
    labels[labels == num_classes] = 255  # about 1 / (K + 1) of the pixels ignored
    predictions = rng.integers(0, num_classes, size=shape).astype(np.uint8)
    return labels, predictions


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_torchmetrics(seed: int) -> None:
    import torch
    from torchmetrics import classification
    num_classes = 5
    labels, predictions = _random_pair(seed, num_classes)
    target = torch.from_numpy(labels.astype(np.int64))
    preds = torch.from_numpy(predictions.astype(np.int64))
    matrix = metrics.confusion_matrix(labels, predictions, num_classes)
    result = metrics.scores(matrix)

    reference_matrix = classification.MulticlassConfusionMatrix(num_classes, ignore_index=255)(preds, target)
    np.testing.assert_array_equal(matrix, reference_matrix.numpy())
    per_class_iou = classification.MulticlassJaccardIndex(num_classes, average="none", ignore_index=255)(
        preds, target
    )
    np.testing.assert_allclose(result["per_class_iou"], per_class_iou.numpy(), rtol=1e-6)
    mean_iou = classification.MulticlassJaccardIndex(num_classes, average="macro", ignore_index=255)(preds, target)
    assert result["mean_iou"] == pytest.approx(float(mean_iou), rel=1e-6)
    # With every class present in the labels, macro accuracy is the mean recall.
    assert not np.isnan(result["per_class_accuracy"]).any()
    class_accuracy = classification.MulticlassAccuracy(num_classes, average="macro", ignore_index=255)(preds, target)
    assert result["class_accuracy"] == pytest.approx(float(class_accuracy), rel=1e-6)
    global_accuracy = classification.MulticlassAccuracy(num_classes, average="micro", ignore_index=255)(preds, target)
    assert result["global_accuracy"] == pytest.approx(float(global_accuracy), rel=1e-6)


def test_against_keras_mean_iou_with_absent_class() -> None:
    import keras
    num_classes = 4
    labels, predictions = _random_pair(3, num_classes)
    # Remove class 3 from both sides so Keras and segdemo must agree on excluding it from the mean.
    labels[labels == 3] = 0
    predictions[predictions == 3] = 1
    valid = labels != 255  # Keras has no ignore index: filter first
    metric = keras.metrics.MeanIoU(num_classes=num_classes)
    metric.update_state(labels[valid].astype(np.int32), predictions[valid].astype(np.int32))
    result = metrics.scores(metrics.confusion_matrix(labels, predictions, num_classes))
    assert np.isnan(result["per_class_iou"][3])
    assert result["mean_iou"] == pytest.approx(float(metric.result()), rel=1e-6)


# --- properties -----------------------------------------------------------------------------------------

label_maps = hnp.arrays(
    dtype=np.uint8,
    shape=hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=6),
    elements=st.sampled_from([0, 1, 2, 3, 255]),
)


@settings(max_examples=60, deadline=None)
@given(labels=label_maps, seed=st.integers(0, 2**16))
def test_matrix_sums_to_counted_pixels(labels: np.ndarray, seed: int) -> None:
    predictions = np.random.default_rng(seed).integers(0, 4, size=labels.shape).astype(np.uint8)
    matrix = metrics.confusion_matrix(labels, predictions, 4)
    assert matrix.sum() == int((labels != 255).sum())
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(labels[labels != 255], minlength=4))


@settings(max_examples=60, deadline=None)
@given(labels=label_maps)
def test_perfect_prediction_scores_one(labels: np.ndarray) -> None:
    if not (labels != 255).any():
        return  # nothing labelled: covered by test_scores_rejects_empty_matrix
    predictions = np.where(labels == 255, 0, labels).astype(np.uint8)
    result = metrics.scores(metrics.confusion_matrix(labels, predictions, 4))
    assert result["global_accuracy"] == result["class_accuracy"] == result["mean_iou"] == 1.0
    if labels.ndim == 3:
        assert metrics.boundary_f1(labels, predictions, 4) == 1.0


@settings(max_examples=60, deadline=None)
@given(labels=label_maps, seed=st.integers(0, 2**16), permutation=st.permutations(range(4)))
def test_scores_invariant_to_renaming_classes(labels: np.ndarray, seed: int, permutation: list[int]) -> None:
    if not (labels != 255).any():
        return
    predictions = np.random.default_rng(seed).integers(0, 4, size=labels.shape).astype(np.uint8)
    table = np.arange(256, dtype=np.uint8)
    table[:4] = permutation
    original = metrics.scores(metrics.confusion_matrix(labels, predictions, 4))
    renamed = metrics.scores(metrics.confusion_matrix(table[labels], table[predictions], 4))
    for key in ("global_accuracy", "class_accuracy", "mean_iou"):
        assert renamed[key] == pytest.approx(original[key])
    np.testing.assert_allclose(renamed["per_class_iou"][permutation], original["per_class_iou"])


@settings(max_examples=60, deadline=None)
@given(labels=label_maps, seed=st.integers(0, 2**16))
def test_scores_lie_in_unit_interval(labels: np.ndarray, seed: int) -> None:
    if not (labels != 255).any():
        return
    predictions = np.random.default_rng(seed).integers(0, 4, size=labels.shape).astype(np.uint8)
    result = metrics.scores(metrics.confusion_matrix(labels, predictions, 4))
    for key in ("global_accuracy", "class_accuracy", "mean_iou"):
        assert 0.0 <= result[key] <= 1.0
    # IoU_c = TP / (TP + FP + FN) never exceeds recall_c = TP / (TP + FN).
    both = ~np.isnan(result["per_class_accuracy"])
    assert np.all(result["per_class_iou"][both] <= result["per_class_accuracy"][both] + 1e-12)


# --- boundary F1 --------------------------------------------------------------------------------------


def _reference_boundary_f1(labels, predictions, num_classes, tolerance, ignore_index=255) -> float:
    """Slow, loop-based implementation of the documented definition (pairwise distances)."""
    image_scores = []
    for label_map, prediction_map in zip(labels, predictions):
        valid = label_map != ignore_index
        if not valid.any():
            continue
        height, width = label_map.shape

        def boundary_points(class_map, class_id):
            points = []
            for y, x in itertools.product(range(height), range(width)):
                if not valid[y, x] or class_map[y, x] != class_id:
                    continue
                for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                    ny, nx = y + dy, x + dx
                    if 0 <= ny < height and 0 <= nx < width and valid[ny, nx] and class_map[ny, nx] != class_id:
                        points.append((y, x))
                        break
            return points

        def share_matched(points, others):
            if not points:
                return None
            matched = sum(any(math.dist(p, q) <= tolerance for q in others) for p in points)
            return matched / len(points)

        class_scores = []
        for class_id in range(num_classes):
            true_mask = (label_map == class_id) & valid
            predicted_mask = (prediction_map == class_id) & valid
            if not (true_mask.any() or predicted_mask.any()):
                continue
            true_points = boundary_points(label_map, class_id)
            predicted_points = boundary_points(prediction_map, class_id)
            if not true_points and not predicted_points:
                class_scores.append(float(np.array_equal(true_mask, predicted_mask)))
                continue
            if not true_points or not predicted_points:
                class_scores.append(0.0)
                continue
            precision = share_matched(predicted_points, true_points)
            recall = share_matched(true_points, predicted_points)
            total = precision + recall
            class_scores.append(2 * precision * recall / total if total > 0 else 0.0)
        image_scores.append(sum(class_scores) / len(class_scores))
    return sum(image_scores) / len(image_scores)


@settings(max_examples=25, deadline=None)
@given(
    labels=hnp.arrays(np.uint8, (2, 7, 8), elements=st.sampled_from([0, 1, 2, 255])),
    seed=st.integers(0, 2**16),
    tolerance=st.sampled_from([0.0, 1.0, 1.5, 2.3]),
)
def test_boundary_f1_matches_reference(labels: np.ndarray, seed: int, tolerance: float) -> None:
    if not (labels != 255).any():
        return
    rng = np.random.default_rng(seed)
    # Blocky predictions so that boundaries are sometimes near, sometimes far.
    predictions = np.repeat(np.repeat(rng.integers(0, 3, size=(2, 4, 4)), 2, axis=1), 2, axis=2)[:, :7, :8]
    predictions = predictions.astype(np.uint8)
    expected = _reference_boundary_f1(labels, predictions, 3, tolerance)
    assert metrics.boundary_f1(labels, predictions, 3, tolerance=tolerance) == pytest.approx(expected)


def _half_and_half(height: int, width: int, edge: int) -> np.ndarray:
    """Class 0 left of column ``edge``, class 1 from it on: one vertical boundary, no wrap-around."""
    mask = np.zeros((1, height, width), dtype=np.uint8)
    mask[:, :, edge:] = 1
    return mask


def test_boundary_f1_perfect_prediction() -> None:
    labels = _half_and_half(20, 20, 10)
    assert metrics.boundary_f1(labels, labels.copy(), 2) == 1.0


def test_boundary_f1_shift_within_and_beyond_tolerance() -> None:
    labels = _half_and_half(20, 20, 10)
    shifted = _half_and_half(20, 20, 12)  # boundary two columns to the right
    assert metrics.boundary_f1(labels, shifted, 2, tolerance=2.0) == 1.0
    assert metrics.boundary_f1(labels, shifted, 2, tolerance=1.9) < 1.0
    assert metrics.boundary_f1(labels, shifted, 2, tolerance=1.9) == 0.0  # no boundary pixel matched


def test_boundary_f1_default_tolerance_is_paper_value() -> None:
    assert metrics.default_boundary_tolerance(360, 480) == pytest.approx(0.0075 * 600)
    # 600 x 800 -> diagonal 1000 -> 7.5 px: a 7-column shift matches, an 8-column shift does not.
    labels = _half_and_half(600, 800, 400)
    assert metrics.boundary_f1(labels, _half_and_half(600, 800, 407), 2) == 1.0
    assert metrics.boundary_f1(labels, _half_and_half(600, 800, 408), 2) == 0.0


def test_boundary_f1_ignores_void_borders() -> None:
    # Boundaries against ignored pixels are not boundaries: predicting the whole valid region right scores 1.
    labels = np.zeros((1, 6, 6), dtype=np.uint8)
    labels[:, :, 3:] = 255
    predictions = np.ones_like(labels)
    predictions[:, :, :3] = 0
    assert metrics.boundary_f1(labels, predictions, 2) == 1.0


def test_boundary_f1_wrong_uniform_prediction_scores_zero() -> None:
    labels = np.zeros((1, 4, 4), dtype=np.uint8)
    predictions = np.ones_like(labels)
    assert metrics.boundary_f1(labels, predictions, 2) == 0.0


def test_boundary_f1_accepts_single_image() -> None:
    labels = _half_and_half(8, 8, 4)
    assert metrics.boundary_f1(labels[0], labels[0], 2) == 1.0


def test_dilate_disk_matches_distance_definition() -> None:
    rng = np.random.default_rng(5)
    masks = rng.random((2, 9, 10)) < 0.08
    for radius in (0.5, 1.0, 1.5, 2.0, 2.9):
        dilated = metrics._dilate_disk(masks, radius)
        for n in range(2):
            points = np.argwhere(masks[n])
            for y, x in itertools.product(range(9), range(10)):
                expected = any(math.dist((y, x), tuple(p)) <= radius for p in points)
                assert dilated[n, y, x] == expected


def test_boundary_map_is_union_of_class_boundaries() -> None:
    rng = np.random.default_rng(7)
    masks = rng.integers(0, 4, size=(2, 6, 7)).astype(np.uint8)
    masks[masks == 3] = 255
    valid = masks != 255
    union = np.zeros(masks.shape, dtype=bool)
    for class_id in range(3):
        union |= metrics._boundaries(masks, valid, class_id)
    np.testing.assert_array_equal(metrics.boundary_map(masks), union)
    np.testing.assert_array_equal(metrics.boundary_map(masks[0]), union[0])


def test_boundary_map_hand_example() -> None:
    mask = np.array([[0, 0, 1], [0, 0, 1], [255, 255, 1]], dtype=np.uint8)
    expected = np.array([[0, 1, 1], [0, 1, 1], [0, 0, 0]], dtype=bool)  # the void row makes no boundary
    np.testing.assert_array_equal(metrics.boundary_map(mask), expected)


def test_dilate_disk_public_wrapper() -> None:
    mask = np.zeros((5, 5), dtype=bool)
    mask[2, 2] = True
    grown = metrics.dilate_disk(mask, 1.0)
    assert grown.sum() == 5  # the centre and its four neighbours; diagonals are sqrt(2) away
    assert metrics.dilate_disk(mask, 1.5).sum() == 9
    with pytest.raises(ValueError, match="radius must be a non-negative"):
        metrics.dilate_disk(mask, -0.5)
    with pytest.raises(ValueError, match=r"got shape \(5,\)"):
        metrics.dilate_disk(mask[0], 1.0)
    with pytest.raises(ValueError, match="masks must hold integer"):
        metrics.boundary_map(mask.astype(np.float32))


# --- validation errors -----------------------------------------------------------------------------------


def test_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"labels \(2, 3\) and predictions \(3, 2\)"):
        metrics.confusion_matrix(np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.uint8), 2)


def test_label_out_of_range_names_value_and_count() -> None:
    labels = np.array([0, 7, 7, 1], dtype=np.uint8)
    with pytest.raises(ValueError, match=r"labels holds value 7 in 2 pixel\(s\), outside \[0, 3\)"):
        metrics.confusion_matrix(labels, np.zeros_like(labels), 3)


def test_negative_label_is_rejected() -> None:
    with pytest.raises(ValueError, match="labels holds value -1"):
        metrics.confusion_matrix(np.array([-1, 0]), np.array([0, 0]), 2)


def test_prediction_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"predictions holds value 5 in 1 pixel\(s\)"):
        metrics.confusion_matrix(np.array([0, 1]), np.array([0, 5]), 2)


def test_float_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="integer class ids, got dtype float32"):
        metrics.confusion_matrix(np.zeros(4, np.uint8), np.zeros(4, np.float32), 2)
    with pytest.raises(ValueError, match="labels must hold integer"):
        metrics.boundary_f1(np.zeros((2, 2), np.float64), np.zeros((2, 2), np.uint8), 2)


@pytest.mark.parametrize("num_classes", [0, -3, 2.5, True])
def test_bad_num_classes(num_classes) -> None:
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        metrics.confusion_matrix(np.zeros(2, np.uint8), np.zeros(2, np.uint8), num_classes)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.zeros((2, 3)), r"square \(K, K\)"),
        (np.array([[1, -1], [0, 1]]), "non-negative"),
        (np.zeros((3, 3), np.int64), "counts no pixels"),
        (np.array([["a"]]), "pixel counts"),
    ],
)
def test_scores_rejects_bad_matrix(matrix, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        metrics.scores(matrix)


def test_scores_rejects_empty_matrix() -> None:
    labels = np.full((2, 2), 255, np.uint8)
    with pytest.raises(ValueError, match="counts no pixels"):
        metrics.scores(metrics.confusion_matrix(labels, labels, 2))


def test_boundary_f1_errors() -> None:
    labels = np.zeros((1, 4, 4), np.uint8)
    with pytest.raises(ValueError, match="tolerance must be a non-negative"):
        metrics.boundary_f1(labels, labels, 2, tolerance=-1.0)
    with pytest.raises(ValueError, match=r"\(H, W\) or \(N, H, W\), got shape \(1, 1, 4, 4\)"):
        metrics.boundary_f1(labels[None], labels[None], 2)
    ignored = np.full((1, 4, 4), 255, np.uint8)
    with pytest.raises(ValueError, match="No pixel is labelled"):
        metrics.boundary_f1(ignored, ignored, 2)
