"""Tests of segdemo.data.kitti on a generated tree in the KITTI road layout."""

import numpy as np
import pytest
from PIL import Image

from segdemo.data.kitti import CLASS_NAMES, DEFAULT_SIZE, load_kitti_road

MAGENTA, RED, BLACK = (255, 0, 255), (255, 0, 0), (0, 0, 0)


def write_kitti(root, count=5, size=(20, 60)):
    (root / "training" / "image_2").mkdir(parents=True)
    (root / "training" / "gt_image_2").mkdir(parents=True)
    rng = np.random.default_rng(2)
    truths = []
    for index in range(count):
        name = f"um_{index:06d}.png"
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / "training" / "image_2" / name)
        choice = rng.integers(0, 3, size)
        truth = np.array([MAGENTA, RED, BLACK], np.uint8)[choice]
        Image.fromarray(truth).save(root / "training" / "gt_image_2" / f"um_road_{index:06d}.png")
        # The lane ground truth sits beside the road one and must be ignored.
        Image.fromarray(truth).save(root / "training" / "gt_image_2" / f"um_lane_{index:06d}.png")
        truths.append(choice)
    return truths


def test_colours_map_to_road_not_road_and_ignore(tmp_path):
    truths = write_kitti(tmp_path)
    images, masks = load_kitti_road(tmp_path, "trainval", size=None)
    assert images.shape == (5, 20, 60, 3) and masks.shape == (5, 20, 60) and masks.dtype == np.uint8
    expected = np.array([CLASS_NAMES.index("road"), CLASS_NAMES.index("not road"), 255], np.uint8)[np.stack(truths)]
    np.testing.assert_array_equal(masks, expected)


def test_default_size_is_the_articles_and_split_is_every_fifth(tmp_path):
    write_kitti(tmp_path)
    assert DEFAULT_SIZE == (160, 576)
    train_images, _ = load_kitti_road(tmp_path, "train", cache_dir=tmp_path / "cache")
    val_images, val_masks = load_kitti_road(tmp_path, "val", cache_dir=tmp_path / "cache")
    assert train_images.shape == (4, 160, 576, 3) and val_masks.shape == (1, 160, 576)


def test_unknown_colour_names_file_and_colour(tmp_path):
    write_kitti(tmp_path)
    bad = np.zeros((20, 60, 3), np.uint8)
    bad[2, 3] = (0, 255, 0)
    Image.fromarray(bad).save(tmp_path / "training" / "gt_image_2" / "um_road_000001.png")
    with pytest.raises(ValueError, match=r"um_road_000001\.png.*\(0, 255, 0\)"):
        load_kitti_road(tmp_path, "trainval")


def test_missing_folder_ground_truth_and_bad_split(tmp_path):
    with pytest.raises(FileNotFoundError, match="download_kitti_road"):
        load_kitti_road(tmp_path / "nowhere", "train")
    write_kitti(tmp_path)
    with pytest.raises(ValueError, match="'test'"):
        load_kitti_road(tmp_path, "test")
    (tmp_path / "training" / "gt_image_2" / "um_road_000002.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"um_road_000002\.png"):
        load_kitti_road(tmp_path, "trainval")
