"""Tests of segdemo.data.voc on a generated tree in the VOCdevkit/VOC2012 layout."""

import numpy as np
import pytest
from PIL import Image

from segdemo.data.voc import CLASS_NAMES, COLOURS, load_voc


def write_voc(devkit, names=("2007_000032", "2007_000039"), size=(9, 13)):
    root = devkit / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True)
    rng = np.random.default_rng(3)
    labels = {}
    palette = np.zeros((256, 3), np.uint8)
    palette[:21] = COLOURS
    palette[255] = (224, 224, 192)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / "JPEGImages" / f"{name}.jpg")
        label = rng.choice(np.array([*range(21), 255], np.uint8), size=size)
        image = Image.fromarray(label, mode="P")
        image.putpalette(palette.ravel().tolist())
        image.save(root / "SegmentationClass" / f"{name}.png")
        labels[name] = label
    for split in ("train", "val", "trainval"):
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return root, labels


def test_palette_pngs_are_read_as_indices_with_border_kept(tmp_path):
    root, labels = write_voc(tmp_path)
    images, masks = load_voc(root, "train")
    assert images.shape == (2, 9, 13, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(masks, np.stack(list(labels.values())))
    assert 255 in np.unique(masks)


def test_devkit_parent_is_accepted_and_resize(tmp_path):
    write_voc(tmp_path)
    images, masks = load_voc(tmp_path, "val", size=(64, 64), cache_dir=tmp_path / "cache")
    assert images.shape == (2, 64, 64, 3) and masks.shape == (2, 64, 64)


def test_palette_matches_the_official_colours():
    assert len(CLASS_NAMES) == 21 == len(COLOURS)
    # Known VOC colours: aeroplane, person, tvmonitor.
    assert tuple(COLOURS[1]) == (128, 0, 0)
    assert tuple(COLOURS[15]) == (192, 128, 128)
    assert tuple(COLOURS[20]) == (0, 64, 128)


def test_bad_label_value_names_file_and_value(tmp_path):
    root, _ = write_voc(tmp_path)
    bad = np.zeros((9, 13), np.uint8)
    bad[1, 1] = 30
    image = Image.fromarray(bad, mode="P")
    image.putpalette(list(range(256)) * 3)  # with a full palette Pillow stores the indices unchanged
    image.save(root / "SegmentationClass" / "2007_000039.png")
    with pytest.raises(ValueError, match=r"2007_000039\.png.*value 30"):
        load_voc(root, "train")


def test_rgb_label_file_is_refused(tmp_path):
    root, _ = write_voc(tmp_path)
    Image.fromarray(np.zeros((9, 13, 3), np.uint8)).save(root / "SegmentationClass" / "2007_000039.png")
    with pytest.raises(ValueError, match=r"2007_000039\.png.*mode 'RGB'"):
        load_voc(root, "train")


def test_missing_folder_listing_and_bad_split(tmp_path):
    with pytest.raises(FileNotFoundError, match="download_voc"):
        load_voc(tmp_path / "nowhere", "train")
    root, _ = write_voc(tmp_path)
    with pytest.raises(ValueError, match="'test'"):
        load_voc(root, "test")
    (root / "ImageSets" / "Segmentation" / "val.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"val\.txt"):
        load_voc(root, "val")
