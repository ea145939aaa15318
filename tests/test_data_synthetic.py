"""Tests of segdemo.data.synthetic: determinism, classes, shapes, validation, speed."""

import time

import numpy as np
import pytest

from segdemo.data.synthetic import (
    BOUNDARY_CLASS_NAMES,
    BOUNDARY_COLOURS,
    CLASS_NAMES,
    COLOURS,
    synthetic_shapes,
)


def test_shapes_and_dtypes():
    images, masks = synthetic_shapes(3, size=(32, 48), seed=5)
    assert images.shape == (3, 32, 48, 3) and images.dtype == np.uint8
    assert masks.shape == (3, 32, 48) and masks.dtype == np.uint8


def test_same_seed_gives_identical_arrays_and_other_seed_differs():
    first = synthetic_shapes(4, seed=7)
    second = synthetic_shapes(4, seed=7)
    other = synthetic_shapes(4, seed=8)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], other[0])


def test_image_i_does_not_depend_on_num_images():
    few_images, few_masks = synthetic_shapes(2, seed=3)
    many_images, many_masks = synthetic_shapes(5, seed=3)
    np.testing.assert_array_equal(few_images, many_images[:2])
    np.testing.assert_array_equal(few_masks, many_masks[:2])


def test_every_class_appears_and_labels_are_in_range():
    _, masks = synthetic_shapes(40, seed=0)
    assert set(np.unique(masks)) == set(range(len(CLASS_NAMES)))
    assert len(COLOURS) == len(CLASS_NAMES) and COLOURS.dtype == np.uint8


def test_poles_are_thin():
    # A pole is at most ~2 pixels wide at 64x64: count pole pixels per row where a pole exists.
    _, masks = synthetic_shapes(40, seed=1)
    pole = masks == CLASS_NAMES.index("pole")
    widths = pole.sum(axis=2)[pole.any(axis=2)]
    assert np.median(widths) <= 3


def test_object_colours_vary_within_a_class():
    images, masks = synthetic_shapes(30, seed=2)
    disc = CLASS_NAMES.index("disc")
    means = [images[i][masks[i] == disc].mean(axis=0) for i in range(30) if (masks[i] == disc).sum() > 20]
    assert len(means) >= 5
    assert np.ptp(np.array(means), axis=0).max() > 20  # correlated with the class, not identical


def test_boundary_adds_a_band_around_objects_only_over_background():
    plain_images, plain_masks = synthetic_shapes(6, seed=4)
    images, masks = synthetic_shapes(6, seed=4, boundary=True)
    border = BOUNDARY_CLASS_NAMES.index("border")
    assert border == len(CLASS_NAMES) and len(BOUNDARY_COLOURS) == len(BOUNDARY_CLASS_NAMES)
    np.testing.assert_array_equal(images, plain_images)  # same scenes, only labels change
    assert (masks == border).any()
    # Border pixels were background; object pixels are untouched.
    assert np.all(plain_masks[masks == border] == 0)
    np.testing.assert_array_equal(masks[masks != border], plain_masks[masks != border])
    # Every border pixel touches an object within 2 pixels (the band width at 64x64).
    objects = plain_masks > 0
    for index in range(6):
        grown = objects[index].copy()
        for _ in range(2):
            step = grown.copy()
            step[1:] |= grown[:-1]
            step[:-1] |= grown[1:]
            step[:, 1:] |= grown[:, :-1]
            step[:, :-1] |= grown[:, 1:]
            grown = step
        assert np.all(grown[masks[index] == border])


def test_object_sizes_scale_with_image_size():
    _, small = synthetic_shapes(30, size=(64, 64), seed=0)
    _, large = synthetic_shapes(30, size=(128, 128), seed=0)
    # Same scenes at double the side: the object share of the pixels stays comparable.
    assert abs((small > 0).mean() - (large > 0).mean()) < 0.05


def test_hundred_images_are_fast():
    start = time.perf_counter()
    synthetic_shapes(100, size=(64, 64))
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_images": 0}, "num_images"),
        ({"num_images": 2.5}, "num_images"),
        ({"num_images": 2, "size": (8, 64)}, "at least 16"),
        ({"num_images": 2, "size": (64,)}, "size"),
        ({"num_images": 2, "seed": -1}, "seed"),
    ],
)
def test_bad_arguments_raise_value_error(arguments, message):
    with pytest.raises(ValueError, match=message):
        synthetic_shapes(**arguments)
