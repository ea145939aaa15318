"""Tests of segdemo.data.pets on a generated tree in the official Oxford-IIIT Pet layout."""

import numpy as np
import pytest
from PIL import Image

from segdemo.data.pets import CLASS_NAMES, COLOURS, RESOURCES, load_pets


def write_pets(root, names=("Abyssinian_1", "beagle_2"), size=(10, 14)):
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    rng = np.random.default_rng(1)
    trimaps = {}
    for name in names:
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / "images" / f"{name}.jpg")
        trimap = rng.integers(1, 4, size, dtype=np.uint8)
        Image.fromarray(trimap, mode="L").save(root / "annotations" / "trimaps" / f"{name}.png")
        trimaps[name] = trimap
    listing = "".join(f"{name} 1 1 1\n" for name in names)
    (root / "annotations" / "trainval.txt").write_text("# name class species breed\n" + listing)
    (root / "annotations" / "test.txt").write_text(listing)
    return trimaps


def test_trimap_mapping_background_first(tmp_path):
    trimaps = write_pets(tmp_path)
    images, masks = load_pets(tmp_path, "trainval")
    assert images.shape == (2, 10, 14, 3) and images.dtype == np.uint8
    assert masks.shape == (2, 10, 14) and masks.dtype == np.uint8
    on_disk = trimaps["Abyssinian_1"]
    # On disk 1 pet, 2 background, 3 border -> 1 pet, 0 background, 2 border.
    assert np.all(masks[0][on_disk == 1] == CLASS_NAMES.index("pet"))
    assert CLASS_NAMES.index("background") == 0
    assert np.all(masks[0][on_disk == 2] == 0)
    assert np.all(masks[0][on_disk == 3] == CLASS_NAMES.index("border"))
    assert len(COLOURS) == 3


def test_resize(tmp_path):
    write_pets(tmp_path)
    images, masks = load_pets(tmp_path, "test", size=(8, 8), cache_dir=tmp_path / "cache")
    assert images.shape == (2, 8, 8, 3) and set(np.unique(masks)) <= {0, 1, 2}


def test_different_sizes_without_size_ask_for_size(tmp_path):
    write_pets(tmp_path)
    Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(tmp_path / "images" / "beagle_2.jpg")
    Image.fromarray(np.ones((6, 6), np.uint8), mode="L").save(tmp_path / "annotations" / "trimaps" / "beagle_2.png")
    with pytest.raises(ValueError, match=r"beagle_2\.jpg.*size=\(height, width\)"):
        load_pets(tmp_path, "trainval")


def test_bad_trimap_value_names_file_and_value(tmp_path):
    write_pets(tmp_path)
    bad = np.full((10, 14), 2, np.uint8)
    bad[3, 3] = 7
    Image.fromarray(bad, mode="L").save(tmp_path / "annotations" / "trimaps" / "beagle_2.png")
    with pytest.raises(ValueError, match=r"beagle_2\.png.*value 7"):
        load_pets(tmp_path, "trainval")


def test_missing_folder_split_and_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="download_pets"):
        load_pets(tmp_path / "nowhere", "trainval")
    write_pets(tmp_path)
    with pytest.raises(ValueError, match="'train'"):
        load_pets(tmp_path, "train")
    (tmp_path / "images" / "beagle_2.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"beagle_2\.jpg"):
        load_pets(tmp_path, "trainval")


def test_published_checksums_are_md5_hex():
    assert all(len(md5) == 32 and int(md5, 16) >= 0 for _, md5 in RESOURCES)
