"""segdemo.augmentation: image and mask move together, nothing else changes, and it is reproducible."""

import numpy as np
import pytest

from segdemo import augmentation
from segdemo.augmentation import augment_batch, batch_rng, parse_augment


def _batch(num_images=3, size=(12, 16)):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (num_images, *size, 3), dtype=np.uint8)
    masks = rng.integers(0, 5, (num_images, *size), dtype=np.uint8)
    return images, masks


@pytest.mark.parametrize(("value", "expected"), [
    (None, ()), ("none", ()), ("", ()), ("scale,flip", ("flip", "scale")), ("color+flip", ("flip", "color")),
    (["flip", "FLIP", " scale "], ("flip", "scale")), ("flip,scale,color", augmentation.AUGMENTATIONS),
])
def test_parse_augment_is_canonical(value, expected):
    assert parse_augment(value) == expected


def test_describe_augment():
    assert augmentation.describe_augment(()) == "none"
    assert augmentation.describe_augment(("flip", "scale")) == "flip+scale"
    assert parse_augment(augmentation.describe_augment(("flip", "color"))) == ("flip", "color")


def test_no_augmentation_returns_the_batch():
    images, masks = _batch()
    out_images, out_masks = augment_batch(images, masks, (), batch_rng(0, 0, 1))
    assert out_images is images and out_masks is masks


def test_same_seed_same_batch_and_inputs_untouched():
    images, masks = _batch()
    copies = images.copy(), masks.copy()
    first = augment_batch(images, masks, augmentation.AUGMENTATIONS, batch_rng(3, 1, 2))
    second = augment_batch(images, masks, augmentation.AUGMENTATIONS, batch_rng(3, 1, 2))
    other = augment_batch(images, masks, augmentation.AUGMENTATIONS, batch_rng(3, 1, 3))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], other[0])
    np.testing.assert_array_equal(images, copies[0])
    np.testing.assert_array_equal(masks, copies[1])


def test_shapes_dtypes_and_labels_are_kept():
    images, masks = _batch()
    out_images, out_masks = augment_batch(images, masks, augmentation.AUGMENTATIONS, batch_rng(0, 0, 1),
                                          ignore_index=255)
    assert out_images.shape == images.shape and out_images.dtype == np.uint8
    assert out_masks.shape == masks.shape and out_masks.dtype == np.uint8
    assert set(np.unique(out_masks)) <= set(range(5)) | {255}


def test_flip_mirrors_image_and_mask_together():
    images, masks = _batch(num_images=40)
    out_images, out_masks = augment_batch(images, masks, ("flip",), batch_rng(0, 0, 1))
    flipped = [np.array_equal(out_images[i], images[i, :, ::-1]) for i in range(40)]
    kept = [np.array_equal(out_images[i], images[i]) for i in range(40)]
    assert all(f or k for f, k in zip(flipped, kept)) and 5 < sum(flipped) < 35
    for index in range(40):
        expected = masks[index, :, ::-1] if flipped[index] else masks[index]
        np.testing.assert_array_equal(out_masks[index], expected)


def test_zoom_keeps_image_and_mask_aligned():
    # An image whose colour encodes its class: after any zoom, every labelled pixel must still show its colour.
    size = (24, 32)
    masks = np.zeros((8, *size), dtype=np.uint8)
    masks[:, :, 16:] = 1
    masks[:, 12:, :] += 2
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [255, 255, 0]], dtype=np.uint8)
    images = palette[masks]
    out_images, out_masks = augment_batch(images, masks, ("scale",), batch_rng(1, 0, 1), ignore_index=255)
    labelled = out_masks != 255
    # Away from class edges (where bilinear mixes colours) the image shows the label's colour.
    interior = labelled.copy()
    for shift in (-1, 1):
        for axis in (1, 2):
            interior &= np.roll(out_masks, shift, axis=axis) == out_masks
    assert interior.sum() > 0.3 * labelled.sum()
    np.testing.assert_array_equal(out_images[interior], palette[out_masks[interior]])


def test_zooming_out_leaves_an_ignored_black_border(monkeypatch):
    monkeypatch.setattr(augmentation, "SCALE_RANGE", (0.5, 0.5))
    images, masks = _batch()
    images[:] = 200
    out_images, out_masks = augment_batch(images, masks, ("scale",), batch_rng(0, 0, 1), ignore_index=255)
    border = out_masks == 255
    assert 0.5 < border.mean() < 0.9  # half the size each way leaves three quarters outside
    assert np.all(out_images[border] == 0)
    assert np.all(out_images[~border] == 200)


def test_colour_changes_only_the_image():
    images, masks = _batch()
    out_images, out_masks = augment_batch(images, masks, ("color",), batch_rng(0, 0, 1))
    np.testing.assert_array_equal(out_masks, masks)
    assert not np.array_equal(out_images, images)


def test_mismatched_batch_is_refused():
    images, masks = _batch()
    with pytest.raises(ValueError, match=r"images \(N, H, W, 3\) and masks \(N, H, W\); got"):
        augment_batch(images, masks[:, :5], ("flip",), batch_rng(0, 0, 1))
