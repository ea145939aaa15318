"""KITTI road: the data of the FCN-8s article (2 classes, road or not, at 160x576).

Layout of a root folder (``data_road/`` from the official ``data_road.zip``)::

    training/image_2/<cat>_<n>.png            # cat in um, umm, uu; about 375x1242
    training/gt_image_2/<cat>_road_<n>.png    # road ground truth as colours

Ground-truth colours follow the KITTI road devkit: magenta (255, 0, 255) is road (label 1), red (255, 0, 0) is
not road (label 0), black (0, 0, 0) is outside the evaluated area (255, ignored). Any other colour is an error.
Only ``training/`` has ground truth, so ``train`` and ``val`` are a deterministic split of it made here (every
fifth image, in sorted name order, is validation); this is not an official split.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segdemo.data import _images
from segdemo.data._loading import find_root, load_pairs

KITTI_ENVIRONMENT_VARIABLE = "SEGDEMO_KITTI_DIR"
SPLITS = ("train", "val", "trainval")
DEFAULT_SIZE = (160, 576)
"""The FCN-8s article's ``image_shape``: (height, width) = (160, 576)."""
CLASS_NAMES: tuple[str, ...] = ("not road", "road")
COLOURS = np.array([(255, 0, 0), (255, 0, 255)], dtype=np.uint8)
"""uint8 (2, 3): the ground truth's own colours (red: not road, magenta: road)."""

URL = "https://s3.eu-central-1.amazonaws.com/avg-kitti/data_road.zip"
"""The archive the Udacity project and the FCN-8s article use. KITTI publishes no checksum for it, so a
download is checked by its layout only (the folders and the image/ground-truth pairing)."""

_HOW_TO_GET = (
    "Get it with segdemo.data.download_kitti_road() when online, or download data_road.zip from "
    f"https://www.cvlibs.net/datasets/kitti/eval_road.php, unzip it and set {KITTI_ENVIRONMENT_VARIABLE} to the "
    "data_road folder."
)
_VALIDATION_EVERY = 5


def find_kitti_road(data_dir: str | os.PathLike | None = None) -> Path:
    """Finds the KITTI road root (``data_road``): ``data_dir``, else ``$SEGDEMO_KITTI_DIR``, else the cache.

    Raises:
        FileNotFoundError: naming the folder and how to get the data.
    """
    return find_root("KITTI road", data_dir, KITTI_ENVIRONMENT_VARIABLE, "kitti_road/data_road",
                     ("training/image_2", "training/gt_image_2"), _HOW_TO_GET)


def read_road_labels(path: Path) -> np.ndarray:
    """Reads one ground-truth PNG; returns uint8 (H, W): 1 road, 0 not road, 255 outside the evaluated area.

    Raises:
        ValueError: a colour other than magenta, red or black (naming the file and the colour).
    """
    colours = _images.read_rgb_labels(path)
    codes = (colours[..., 0].astype(np.int32) << 16) | (colours[..., 1].astype(np.int32) << 8) | colours[..., 2]
    labels = np.full(codes.shape, 255, dtype=np.uint8)
    labels[codes == 0xFF00FF] = 1
    labels[codes == 0xFF0000] = 0
    unexpected = (codes != 0xFF00FF) & (codes != 0xFF0000) & (codes != 0)
    if unexpected.any():
        row, column = np.argwhere(unexpected)[0]
        raise ValueError(
            f"Label file {path} has colour {tuple(int(v) for v in colours[row, column])} at row {row}, column "
            f"{column}; KITTI road ground truth uses only magenta (255, 0, 255), red (255, 0, 0) and black."
        )
    return labels


def load_kitti_road(
    root: str | os.PathLike | None,
    split: str,
    size: Sequence[int] | None = DEFAULT_SIZE,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Loads KITTI road images and road masks.

    Args:
        root: the ``data_road`` folder (``None``: :func:`find_kitti_road`).
        split: ``"train"``, ``"val"`` (every fifth training image) or ``"trainval"`` (all 289).
        size: ``(height, width)``, default the article's 160x576; ``None`` keeps the native size (which
            varies slightly between drives, so stacking may fail).
        cache_dir: cache root for resized arrays.

    Returns:
        images uint8 (N, H, W, 3); masks uint8 (N, H, W) with 0 not road, 1 road, 255 ignored.

    Raises:
        FileNotFoundError: missing folder or ground-truth file. ValueError: unknown split, a bad colour, an
            unreadable image, or a size mismatch (naming the files).
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown KITTI road split {split!r}; choose one of {', '.join(SPLITS)}.")
    size = _images.validate_size(size)
    root = find_kitti_road(root)
    images = sorted((root / "training" / "image_2").glob("*.png"))
    if not images:
        raise FileNotFoundError(f"KITTI road folder {root / 'training' / 'image_2'} holds no PNG images. {_HOW_TO_GET}")
    if split != "trainval":
        keep_validation = split == "val"
        images = [path for index, path in enumerate(images) if (index % _VALIDATION_EVERY == 4) == keep_validation]
    pairs = []
    for image_path in images:
        category, number = image_path.stem.split("_", 1)
        label_path = root / "training" / "gt_image_2" / f"{category}_road_{number}.png"
        if not label_path.is_file():
            raise FileNotFoundError(f"KITTI road image {image_path} has no ground truth {label_path}. {_HOW_TO_GET}")
        pairs.append((image_path, label_path))
    return load_pairs("kitti_road", split, pairs, read_road_labels, size, cache_dir)


def download_kitti_road(cache_dir: str | os.PathLike | None = None) -> Path:
    """Downloads ``data_road.zip`` (no published checksum: verified by layout), extracts it, returns the root.

    Raises:
        DownloadError: offline or the host is unreachable.
    """
    from segdemo.data.download import cache_folder, download, extract_archive

    archive = download(URL, cache_folder("downloads", cache_dir) / "data_road.zip", manual_hint=_HOW_TO_GET)
    target = cache_folder("kitti_road", cache_dir)
    extract_archive(archive, target, select=lambda name: name.startswith("data_road/training/"))
    return find_kitti_road(target / "data_road")
