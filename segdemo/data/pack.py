"""CamVid in one file small enough to travel: JPEG photos, the original label PNGs, a manifest.

A GPU machine reached through a remote call gets the working tree and nothing beside it, at most 64 MiB,
while CamVid's PNGs are about 180 MB. :func:`pack_camvid` writes the three splits into one zip file (stored,
not deflated: JPEG and PNG are compressed already) holding:

* ``<split>/<name>.jpg``: the photo as a JPEG, the one lossy step. The highest quality that keeps the whole
  file under ``max_bytes`` is chosen, and the manifest records it with the PSNR it costs.
* ``<split>annot/<name>.png``: the label file, byte for byte as in CamVid, so labels are bit-identical.
  The packer decodes every packed label and compares it with the original before it writes the file.
* ``manifest.json``: names per split, the SHA-256 of every label file, the JPEG quality and PSNR.

:func:`load_pack` reads a split back as the loaders of ``segdemo.data`` do (void mapped to 255) and checks
every label file against its recorded digest. Numpy and Pillow only.

Example:
    >>> info = pack_camvid("../shared/data/camvid", "pack/camvid.zip")  # doctest: +SKIP
    >>> images, masks = load_pack("pack/camvid.zip", "test")  # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import json
import math
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from segdemo.data import IGNORE_INDEX, _images
from segdemo.data.camvid import SPLITS, VOID_LABEL, find_camvid, read_camvid_labels, read_listing
from segdemo.files import atomic_path

PACK_FORMAT = 1
"""Bumped when the layout of a pack changes."""

MANIFEST_NAME = "manifest.json"

DEFAULT_MAX_BYTES = 48 * 2**20
"""Largest pack :func:`pack_camvid` writes by default: 48 MiB leaves room in a 64 MiB remote call."""

QUALITIES = (95, 93, 90, 87, 85, 80, 75)
"""JPEG qualities tried, best first; the first whose pack fits ``max_bytes`` is kept."""


def _encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _decode_rgb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _decode_labels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image, dtype=np.uint8)


def psnr(original: np.ndarray, decoded: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images (``inf`` when identical)."""
    error = np.mean((original.astype(np.float64) - decoded.astype(np.float64)) ** 2)
    return math.inf if error == 0 else float(10 * np.log10(255.0**2 / error))


def pack_camvid(
    root: str | os.PathLike[str] | None,
    path: str | os.PathLike[str],
    *,
    splits: Sequence[str] = SPLITS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    qualities: Sequence[int] = QUALITIES,
    max_images: int | None = None,
) -> dict[str, Any]:
    """Packs CamVid into one zip file of at most ``max_bytes`` (see the module docstring).

    Args:
        root: the CamVid folder (``None``: :func:`segdemo.data.find_camvid`).
        path: the pack to write (atomically; an existing file is replaced only once the new one is complete).
        splits: splits to pack.
        max_bytes: size limit of the whole file.
        qualities: JPEG qualities to try, best first.
        max_images: pack only the first ``max_images`` of each split (tests and dry runs).

    Returns:
        The manifest written (``quality``, ``psnr_db`` statistics, ``bytes`` and the names per split).

    Raises:
        FileNotFoundError: CamVid is missing (the message says how to get it).
        ValueError: when no quality fits ``max_bytes``, or a packed label does not decode to the original.
    """
    root = find_camvid(root)
    pairs = {split: read_listing(root, split)[:max_images] for split in splits}
    originals = {
        split: [(_images.read_rgb(image_path), label_path) for image_path, label_path in split_pairs]
        for split, split_pairs in pairs.items()
    }
    label_bytes = {
        split: [label_path.read_bytes() for _, label_path in items] for split, items in originals.items()
    }
    for split, items in originals.items():
        for (image_path, label_path), (image, _), data in zip(pairs[split], items, label_bytes[split]):
            labels = _decode_labels(data)
            if not np.array_equal(np.where(labels == VOID_LABEL, IGNORE_INDEX, labels), read_camvid_labels(label_path)):
                raise ValueError(f"Label file {label_path} does not decode to the same ids when packed.")
            _images.check_same_size(image, labels, image_path, label_path)

    for quality in qualities:
        jpegs = {
            split: [_encode_jpeg(image, quality) for image, _ in items] for split, items in originals.items()
        }
        ratios = [
            psnr(image, _decode_rgb(data))
            for split, items in originals.items()
            for (image, _), data in zip(items, jpegs[split])
        ]
        manifest = _manifest(root, quality, ratios, pairs, label_bytes)
        data = _zip_bytes(manifest, jpegs, label_bytes)
        if len(data) <= max_bytes:
            break
    else:
        raise ValueError(
            f"CamVid does not fit in {max_bytes} bytes even at JPEG quality {qualities[-1]}; "
            "raise max_bytes or pack fewer splits."
        )
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    manifest["bytes"] = len(data)
    return manifest


def _manifest(root: Path, quality: int, ratios: list[float], pairs: dict, label_bytes: dict) -> dict[str, Any]:
    return {
        "format": PACK_FORMAT,
        "dataset": "camvid",
        "source": str(root),
        "image_format": "JPEG",
        "quality": quality,
        "lossy_step": (
            f"photos re-encoded as JPEG quality {quality} (Pillow, 4:2:0 chroma); labels are the original PNG "
            "files, byte for byte"
        ),
        "psnr_db": {
            "mean": round(float(np.mean(ratios)), 3),
            "min": round(float(np.min(ratios)), 3),
            "max": round(float(np.max(ratios)), 3),
        },
        "splits": {split: [label_path.stem for _, label_path in items] for split, items in pairs.items()},
        "label_sha256": {
            split: [hashlib.sha256(data).hexdigest() for data in items] for split, items in label_bytes.items()
        },
    }


def _zip_bytes(manifest: dict[str, Any], jpegs: dict, label_bytes: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for split, names in manifest["splits"].items():
            for name, jpeg, label in zip(names, jpegs[split], label_bytes[split]):
                archive.writestr(f"{split}/{name}.jpg", jpeg)
                archive.writestr(f"{split}annot/{name}.png", label)
        archive.writestr(MANIFEST_NAME, json.dumps(manifest, indent=1))
    return buffer.getvalue()



def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a pack.

    Raises:
        FileNotFoundError: no file at ``path`` (the message says how to make one).
        ValueError: the file is not a pack of this format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No CamVid pack at {path}; make one with `python -m segdemo pack-camvid --output {path}` "
            "on a machine that has CamVid."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(MANIFEST_NAME))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as error:
        raise ValueError(f"{path} is not a segdemo CamVid pack ({error}); make it again with pack-camvid.") from None
    if manifest.get("format") != PACK_FORMAT:
        raise ValueError(
            f"{path} is a pack of format {manifest.get('format')!r}; this segdemo reads format {PACK_FORMAT}. "
            "Make it again with pack-camvid."
        )
    return manifest


def load_pack(
    path: str | os.PathLike[str],
    split: str,
    *,
    size: Sequence[int] | None = None,
    max_images: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Loads one split of a pack, checking every label file against its recorded SHA-256.

    Args:
        path: a pack written by :func:`pack_camvid`.
        split: ``"train"``, ``"val"`` or ``"test"``.
        size: ``(height, width)`` to resize to (images bilinear, masks nearest), ``None``: as packed.
        max_images: the first ``max_images`` images only.

    Returns:
        ``(images, masks)``: images uint8 (N, H, W, 3); masks uint8 (N, H, W), ids 0..10 and 255 for void.

    Raises:
        FileNotFoundError: no pack at ``path``.
        ValueError: not a pack, a split it lacks, or a label file whose digest differs (naming it).
    """
    path = Path(path)
    manifest = read_manifest(path)
    if split not in manifest["splits"]:
        raise ValueError(f"The pack {path} has no split {split!r}; it holds {sorted(manifest['splits'])}.")
    size = _images.validate_size(size)
    names = manifest["splits"][split][:max_images]
    digests = manifest["label_sha256"][split]
    with zipfile.ZipFile(path) as archive:
        photos = [archive.read(f"{split}/{name}.jpg") for name in names]
        labels = [archive.read(f"{split}annot/{name}.png") for name in names]
    for name, data, digest in zip(names, labels, digests):
        if hashlib.sha256(data).hexdigest() != digest:
            raise ValueError(
                f"Label {split}annot/{name}.png in {path} does not match its recorded SHA-256; the pack is "
                "damaged: make it again with pack-camvid."
            )

    def decode(index: int) -> tuple[np.ndarray, np.ndarray]:
        image = _decode_rgb(photos[index])
        ids = _decode_labels(labels[index])
        mask = np.where(ids == VOID_LABEL, np.uint8(IGNORE_INDEX), ids)
        return _images.resize_image(image, size), _images.resize_mask(mask, size)

    # Pillow releases the GIL while decoding, so threads decode in parallel.
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as pool:
        decoded = list(pool.map(decode, range(len(names))))
    if not decoded:
        raise ValueError(f"The pack {path} holds no {split} images.")
    paths = [Path(f"{path}:{split}/{name}.jpg") for name in names]
    return _images.stack_pairs([item[0] for item in decoded], [item[1] for item in decoded],
                               dataset="camvid pack", paths=paths)
