"""The CamVid pack: one small file with JPEG photos and bit-identical labels."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from segdemo.data import load_camvid
from segdemo.data.pack import load_pack, pack_camvid, psnr, read_manifest
from tests.test_data_camvid import write_camvid


@pytest.fixture()
def camvid_tree(tmp_path):
    root = tmp_path / "camvid"
    rows, columns = np.mgrid[0:24, 0:32]
    for split, count in (("train", 4), ("val", 2), ("test", 3)):
        write_camvid(root, split, count=count, height=24, width=32)
        # Smooth photos, as real ones are: JPEG keeps them close (random noise would not survive it).
        for index, path in enumerate(sorted((root / split).glob("*.png"))):
            photo = np.stack([rows * 8, columns * 6 + index, (rows + columns) * 4], axis=-1).astype(np.uint8)
            Image.fromarray(photo).save(path)
    return root


def test_labels_are_bit_identical_and_photos_close(camvid_tree, tmp_path):
    manifest = pack_camvid(camvid_tree, tmp_path / "pack.zip")
    assert manifest["quality"] == 95 and manifest["psnr_db"]["min"] > 30
    assert "JPEG quality 95" in manifest["lossy_step"]
    for split in ("train", "val", "test"):
        images, masks = load_pack(tmp_path / "pack.zip", split)
        reference_images, reference_masks = load_camvid(camvid_tree, split)
        np.testing.assert_array_equal(masks, reference_masks)  # void 11 -> 255 as the loader does
        assert images.shape == reference_images.shape and images.dtype == np.uint8
        assert psnr(reference_images, images) > 30
    with zipfile.ZipFile(tmp_path / "pack.zip") as archive:
        packed = archive.read("trainannot/seq_000.png")
    assert packed == (camvid_tree / "trainannot" / "seq_000.png").read_bytes()


def test_quality_drops_until_the_pack_fits(camvid_tree, tmp_path):
    big = pack_camvid(camvid_tree, tmp_path / "big.zip")
    small = pack_camvid(camvid_tree, tmp_path / "small.zip", max_bytes=big["bytes"] - 1)
    assert small["quality"] < big["quality"] and small["bytes"] < big["bytes"]
    with pytest.raises(ValueError, match="does not fit in 1000 bytes"):
        pack_camvid(camvid_tree, tmp_path / "tiny.zip", max_bytes=1000)
    assert not (tmp_path / "tiny.zip").exists()


def test_resize_and_max_images(camvid_tree, tmp_path):
    pack_camvid(camvid_tree, tmp_path / "pack.zip", max_images=2)
    images, masks = load_pack(tmp_path / "pack.zip", "train", size=(12, 16))
    assert images.shape == (2, 12, 16, 3) and masks.shape == (2, 12, 16)
    assert set(np.unique(masks)) <= set(range(11)) | {255}
    assert read_manifest(tmp_path / "pack.zip")["splits"]["test"] == ["seq_000", "seq_001"]


def test_damaged_label_is_refused_by_name(camvid_tree, tmp_path):
    path = tmp_path / "pack.zip"
    pack_camvid(camvid_tree, path)
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "valannot/seq_001.png":
                buffer = io.BytesIO()
                Image.fromarray(np.zeros((24, 32), np.uint8), mode="L").save(buffer, format="PNG")
                data = buffer.getvalue()
            target.writestr(item, data)
    load_pack(damaged, "train")  # other splits still load
    with pytest.raises(ValueError, match=r"valannot/seq_001.png .* SHA-256"):
        load_pack(damaged, "val")


def test_missing_or_foreign_files_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="pack-camvid"):
        load_pack(tmp_path / "nowhere.zip", "train")
    (tmp_path / "not.zip").write_text("hello")
    with pytest.raises(ValueError, match="not a segdemo CamVid pack"):
        read_manifest(tmp_path / "not.zip")
    with zipfile.ZipFile(tmp_path / "old.zip", "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="format 99"):
        read_manifest(tmp_path / "old.zip")


def test_unknown_split(camvid_tree, tmp_path):
    pack_camvid(camvid_tree, tmp_path / "pack.zip", splits=("train",))
    with pytest.raises(ValueError, match="no split 'test'"):
        load_pack(tmp_path / "pack.zip", "test")
