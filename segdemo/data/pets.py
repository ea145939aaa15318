"""Oxford-IIIT Pet trimaps: the data of the FCN article's VGG16 example.

Layout of a root folder (the two official archives extracted side by side)::

    images/<Breed>_<n>.jpg
    annotations/trimaps/<Breed>_<n>.png      # 1 = pet, 2 = background, 3 = border ("not sure")
    annotations/trainval.txt  annotations/test.txt   # "<name> <class id> <species> <breed id>" per line

On load the trimap values are remapped so that background is 0, as everywhere in this book:
on disk 2 (background) -> 0, 1 (pet) -> 1, 3 (border) -> 2. The border is a class of its own, as in the
article; pass ``np.where(masks == 2, 255, masks)`` to ignore it instead. Images differ in size: pass ``size``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segdemo.data import _images
from segdemo.data._loading import check_label_values, find_root, load_pairs, read_split_names

PETS_ENVIRONMENT_VARIABLE = "SEGDEMO_PETS_DIR"
SPLITS = ("trainval", "test")
CLASS_NAMES: tuple[str, ...] = ("background", "pet", "border")
COLOURS = np.array([(0, 0, 0), (230, 160, 40), (255, 255, 255)], dtype=np.uint8)
"""uint8 (3, 3): display colours for background, pet and border."""

# On-disk trimap value -> our label (index = value on disk; 0 is never used on disk).
_TRIMAP_TO_LABEL = np.array([255, 1, 0, 2], dtype=np.uint8)

RESOURCES = (
    ("https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz", "5c4f3ee8e5d25df40f4fd59a7f44e54c"),
    ("https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz", "95a8c909bbe2e81eed6a22bccdf3f68f"),
)
"""The official archives and their MD5 digests (the values torchvision's ``OxfordIIITPet`` checks)."""

_HOW_TO_GET = (
    "Get it with segdemo.data.download_pets() when online, or extract images.tar.gz and annotations.tar.gz from "
    f"https://www.robots.ox.ac.uk/~vgg/data/pets/ into one folder and set {PETS_ENVIRONMENT_VARIABLE} to it."
)


def find_pets(data_dir: str | os.PathLike | None = None) -> Path:
    """Finds the Pets root: ``data_dir``, else ``$SEGDEMO_PETS_DIR``, else ``<cache>/pets``.

    Raises:
        FileNotFoundError: naming the folder and how to get the data.
    """
    return find_root("Oxford-IIIT Pet", data_dir, PETS_ENVIRONMENT_VARIABLE, "pets",
                     ("images", "annotations/trimaps"), _HOW_TO_GET)


def read_trimap(path: Path) -> np.ndarray:
    """Reads one trimap; returns uint8 (H, W) with 0 background, 1 pet, 2 border.

    Raises:
        ValueError: a value other than 1, 2, 3 (naming the file and the value).
    """
    values = _images.read_indices(path)
    check_label_values(values, np.array([1, 2, 3]), path, "Pet trimaps hold 1 (pet), 2 (background), 3 (border)")
    return _TRIMAP_TO_LABEL[values]


def load_pets(
    root: str | os.PathLike | None,
    split: str,
    size: Sequence[int] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Loads one split of the Oxford-IIIT Pet trimaps.

    Args:
        root: the Pets folder (``None``: :func:`find_pets`).
        split: ``"trainval"`` (3680 images) or ``"test"`` (3669).
        size: ``(height, width)``; needed in practice, since the photos differ in size. Images are resized
            bilinear, trimaps nearest neighbour; resized arrays are cached under ``cache_dir``.
        cache_dir: cache root (``None``: ``$SEGDEMO_CACHE_DIR`` or ``~/.cache/segdemo``).

    Returns:
        images uint8 (N, H, W, 3); masks uint8 (N, H, W) with 0 background, 1 pet, 2 border.

    Raises:
        FileNotFoundError: missing folder, listing or file. ValueError: unknown split, a bad trimap value,
            an unreadable image, or differing sizes without ``size`` (each naming the file).
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown Oxford-IIIT Pet split {split!r}; choose one of {', '.join(SPLITS)}.")
    size = _images.validate_size(size)
    root = find_pets(root)
    listing = root / "annotations" / f"{split}.txt"
    names = read_split_names(listing, "Oxford-IIIT Pet", _HOW_TO_GET)
    pairs = [(root / "images" / f"{name}.jpg", root / "annotations" / "trimaps" / f"{name}.png") for name in names]
    return load_pairs("pets", split, pairs, read_trimap, size, cache_dir, [listing])


def download_pets(cache_dir: str | os.PathLike | None = None) -> Path:
    """Downloads both official archives (MD5-verified), extracts them into ``<cache>/pets`` and returns it.

    Raises:
        DownloadError: offline or the host is unreachable. ValueError: an archive's MD5 does not match.
    """
    from segdemo.data.download import cache_folder, download, extract_archive

    root = cache_folder("pets", cache_dir)
    downloads = cache_folder("downloads", cache_dir)
    for url, md5 in RESOURCES:
        archive = download(url, downloads / url.rsplit("/", 1)[1], md5=md5, manual_hint=_HOW_TO_GET)
        extract_archive(archive, root)
    return find_pets(root)
