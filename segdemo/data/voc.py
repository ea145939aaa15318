"""PASCAL VOC 2012 semantic segmentation (``SegmentationClass``): 20 object classes and background.

Layout of a root folder (``VOCdevkit/VOC2012`` from the official trainval archive)::

    JPEGImages/<id>.jpg
    SegmentationClass/<id>.png                 # palette PNG: the pixel values are class ids
    ImageSets/Segmentation/train.txt  val.txt  trainval.txt

Labels are read as palette indices (never through the palette's colours): 0 background, 1..20 the classes,
255 the "border/difficult" outline, kept as the ignore label.

The SegNet-in-Keras article trained on ``SegmentationObject``, whose PNGs hold instance ids (1, 2, 3, ... per
object in each image), not classes: the same id means different classes in different images, so its "22
classes" are not classes. We use ``SegmentationClass``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segdemo.data import _images
from segdemo.data._loading import check_label_values, find_root, load_pairs, read_split_names

VOC_ENVIRONMENT_VARIABLE = "SEGDEMO_VOC_DIR"
SPLITS = ("train", "val", "trainval")
CLASS_NAMES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip


def _voc_palette(count: int) -> np.ndarray:
    """The VOC colour map: the bits of the class id spread over the high bits of R, G and B."""
    colours = np.zeros((count, 3), dtype=np.uint8)
    for index in range(count):
        value, red, green, blue = index, 0, 0, 0
        for shift in range(7, -1, -1):
            red |= (value & 1) << shift
            green |= ((value >> 1) & 1) << shift
            blue |= ((value >> 2) & 1) << shift
            value >>= 3
        colours[index] = (red, green, blue)
    return colours


COLOURS = _voc_palette(21)
"""uint8 (21, 3): the official VOC palette colours of classes 0..20 (the border, 255, is drawn (224, 224, 192))."""

URL = "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar"
MD5 = "6cd6e144f989b92b3379bac3b3de84fd"
"""MD5 of the trainval archive (the value torchvision's ``VOCSegmentation`` checks)."""

_HOW_TO_GET = (
    "Get it with segdemo.data.download_voc() when online, or download VOCtrainval_11-May-2012.tar from "
    f"http://host.robots.ox.ac.uk/pascal/VOC/voc2012/, extract it and set {VOC_ENVIRONMENT_VARIABLE} to "
    "VOCdevkit/VOC2012."
)
_ALLOWED_LABELS = np.array([*range(21), 255])


def find_voc(data_dir: str | os.PathLike | None = None) -> Path:
    """Finds ``VOC2012``: ``data_dir``, else ``$SEGDEMO_VOC_DIR``, else the cache. A ``VOCdevkit`` folder or
    its parent is accepted too.

    Raises:
        FileNotFoundError: naming the folder and how to get the data.
    """
    if data_dir is not None:
        for candidate in (Path(data_dir), Path(data_dir) / "VOC2012", Path(data_dir) / "VOCdevkit" / "VOC2012"):
            if (candidate / "SegmentationClass").is_dir():
                data_dir = candidate
                break
    return find_root("PASCAL VOC 2012", data_dir, VOC_ENVIRONMENT_VARIABLE, "voc/VOCdevkit/VOC2012",
                     ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"), _HOW_TO_GET)


def read_voc_labels(path: Path) -> np.ndarray:
    """Reads one ``SegmentationClass`` PNG as class ids; returns uint8 (H, W), 255 kept as ignore.

    Raises:
        ValueError: a value other than 0..20 or 255 (naming the file and the value), or an RGB file.
    """
    labels = _images.read_indices(path)
    check_label_values(labels, _ALLOWED_LABELS, path, "VOC SegmentationClass holds 0..20 and 255 (border)")
    return labels


def load_voc(
    root: str | os.PathLike | None,
    split: str,
    size: Sequence[int] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Loads one split of VOC 2012 ``SegmentationClass``.

    Args:
        root: ``VOCdevkit/VOC2012`` (``None``: :func:`find_voc`).
        split: ``"train"`` (1464 images), ``"val"`` (1449) or ``"trainval"``.
        size: ``(height, width)``; needed in practice since the photos differ in size (the article used 64x64).
        cache_dir: cache root for resized arrays.

    Returns:
        images uint8 (N, H, W, 3); masks uint8 (N, H, W) with 0..20 and 255 ignored.

    Raises:
        FileNotFoundError: missing folder, listing or file. ValueError: unknown split, a bad label value, an
            unreadable image, or differing sizes without ``size`` (each naming the file).
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown VOC split {split!r}; choose one of {', '.join(SPLITS)}.")
    size = _images.validate_size(size)
    root = find_voc(root)
    listing = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    names = read_split_names(listing, "PASCAL VOC 2012", _HOW_TO_GET)
    pairs = [(root / "JPEGImages" / f"{name}.jpg", root / "SegmentationClass" / f"{name}.png") for name in names]
    return load_pairs("voc", split, pairs, read_voc_labels, size, cache_dir, [listing])


def download_voc(cache_dir: str | os.PathLike | None = None) -> Path:
    """Downloads the VOC 2012 trainval archive (2 GB, MD5-verified), extracts the segmentation part, returns it.

    Raises:
        DownloadError: offline or the host is unreachable. ValueError: the MD5 does not match.
    """
    from segdemo.data.download import cache_folder, download, extract_archive

    archive = download(URL, cache_folder("downloads", cache_dir) / URL.rsplit("/", 1)[1], md5=MD5,
                       manual_hint=_HOW_TO_GET)
    target = cache_folder("voc", cache_dir)
    wanted = ("VOCdevkit/VOC2012/JPEGImages/", "VOCdevkit/VOC2012/SegmentationClass/",
              "VOCdevkit/VOC2012/ImageSets/Segmentation/")
    extract_archive(archive, target, select=lambda name: name.startswith(wanted))
    return find_voc(target / "VOCdevkit" / "VOC2012")
