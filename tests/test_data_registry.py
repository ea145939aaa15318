"""Tests of segdemo.data.registry: load_dataset and dataset_classes."""

import numpy as np
import pytest

from segdemo.data import DATASET_NAMES, dataset_classes, load_dataset, synthetic_shapes
from segdemo.data.registry import SYNTHETIC_IMAGES


def test_synthetic_splits_use_seed_offsets():
    for offset, split in enumerate(("train", "val", "test")):
        images, masks = load_dataset("synthetic", split, size=(32, 32), max_images=2, seed=10)
        expected_images, expected_masks = synthetic_shapes(2, size=(32, 32), seed=10 + offset)
        np.testing.assert_array_equal(images, expected_images)
        np.testing.assert_array_equal(masks, expected_masks)


def test_synthetic_default_count_and_boundary_variant():
    images, _ = load_dataset("synthetic", "val", size=(16, 16))
    assert len(images) == SYNTHETIC_IMAGES["val"]
    _, masks = load_dataset("synthetic_boundary", "train", size=(32, 32), max_images=3)
    names, colours = dataset_classes("synthetic_boundary")
    assert masks.max() < len(names) == len(colours)


def test_every_dataset_has_matching_names_and_colours():
    for name in DATASET_NAMES:
        names, colours = dataset_classes(name)
        assert len(names) == len(colours) and colours.dtype == np.uint8 and colours.shape[1] == 3


def test_real_dataset_is_read_from_data_dir_and_capped(tmp_path):
    from tests.test_data_camvid import write_camvid

    write_camvid(tmp_path, "val", count=3)
    images, masks = load_dataset("camvid", "val", size=(6, 8), max_images=2, data_dir=tmp_path)
    assert images.shape == (2, 6, 8, 3) and masks.shape == (2, 6, 8)


def test_errors():
    with pytest.raises(ValueError, match="'mnist'"):
        load_dataset("mnist", "train", size=(32, 32))
    with pytest.raises(ValueError, match="'mnist'"):
        dataset_classes("mnist")
    with pytest.raises(ValueError, match="'holdout'"):
        load_dataset("synthetic", "holdout", size=(32, 32))
    with pytest.raises(ValueError, match="'test'.*voc"):
        load_dataset("voc", "test", size=(32, 32))
    with pytest.raises(ValueError, match="max_images"):
        load_dataset("synthetic", "train", size=(32, 32), max_images=0)
