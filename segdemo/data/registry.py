"""One entry point for every dataset of the book: ``load_dataset(name, split, size=...)``.

Chapters call this with the profile's dataset name, so the same cell runs on synthetic shapes in the quick
profile and on CamVid in the standard and full ones.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from segdemo import validation
from segdemo.data import _images

DATASET_NAMES: tuple[str, ...] = ("synthetic", "synthetic_boundary", "camvid", "pets", "kitti_road", "voc")

SYNTHETIC_IMAGES: dict[str, int] = {"train": 200, "val": 50, "test": 50}
"""Images per split of the synthetic datasets when ``max_images`` is not given."""

_SYNTHETIC_SEED_OFFSETS = {"train": 0, "val": 1, "test": 2}

# The book's generic split names -> each dataset's own (Pets has only trainval/test; VOC and KITTI no test).
_SPLIT_NAMES: dict[str, dict[str, str]] = {
    "camvid": {"train": "train", "val": "val", "test": "test"},
    "pets": {"train": "trainval", "trainval": "trainval", "val": "test", "test": "test"},
    "kitti_road": {"train": "train", "val": "val", "trainval": "trainval"},
    "voc": {"train": "train", "val": "val", "trainval": "trainval"},
}


def _check_name(name: str) -> None:
    if name not in DATASET_NAMES:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}.")


DATASET_CITATIONS = {
    "camvid": "CamVid: Brostow, Fauqueur and Cipolla, Pattern Recognition Letters 30(2), 2009",
    "pets": "Oxford-IIIT Pet: Parkhi, Vedaldi, Zisserman and Jawahar, CVPR 2012",
    "kitti_road": "KITTI road: Fritsch, Kuehnl and Geiger, ITSC 2013",
    "voc": "PASCAL VOC: Everingham et al., IJCV 88(2), 2010",
}
"""How a figure's caption credits each real dataset (synthetic data needs none)."""


def dataset_classes(name: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Class names and display colours of a dataset.

    Returns:
        ``(class_names, colours)``: K names in label order and colours uint8 (K, 3).

    Raises:
        ValueError: unknown dataset name.
    """
    _check_name(name)
    if name == "synthetic":
        from segdemo.data.synthetic import CLASS_NAMES, COLOURS
    elif name == "synthetic_boundary":
        from segdemo.data.synthetic import BOUNDARY_CLASS_NAMES as CLASS_NAMES
        from segdemo.data.synthetic import BOUNDARY_COLOURS as COLOURS
    elif name == "camvid":
        from segdemo.data.camvid import CLASS_NAMES, COLOURS
    elif name == "pets":
        from segdemo.data.pets import CLASS_NAMES, COLOURS
    elif name == "kitti_road":
        from segdemo.data.kitti import CLASS_NAMES, COLOURS
    else:
        from segdemo.data.voc import CLASS_NAMES, COLOURS
    return CLASS_NAMES, COLOURS.copy()


def load_dataset(
    name: str,
    split: str,
    *,
    size: Sequence[int],
    max_images: int | None = None,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Loads ``split`` of dataset ``name`` at ``size``.

    Synthetic datasets are generated: ``train`` uses ``seed``, ``val`` ``seed + 1``, ``test`` ``seed + 2``, with
    ``max_images`` images (default :data:`SYNTHETIC_IMAGES`). Real datasets are read from ``data_dir`` (or their
    environment variable, or the cache) and cut to their first ``max_images`` examples in listing order.
    Split names: ``train``, ``val``, ``test``; Pets maps ``train`` to its ``trainval`` and ``val`` to its
    ``test`` (it has no separate validation split); KITTI road and VOC have no labelled test split.

    Args:
        name: one of :data:`DATASET_NAMES`.
        split: ``"train"``, ``"val"`` or ``"test"`` (or a dataset's own split name).
        size: ``(height, width)`` of the returned arrays.
        max_images: cap on the number of examples, or ``None``.
        data_dir: the dataset's root folder for real datasets; ignored for synthetic ones.
        seed: base seed of synthetic datasets; ignored for real ones.
        cache_dir: where resized arrays of real datasets are cached (``None``: ``$SEGDEMO_CACHE_DIR`` or
            ``~/.cache/segdemo``).

    Returns:
        images uint8 (N, H, W, 3); masks uint8 (N, H, W) (255 = ignore).

    Raises:
        ValueError: unknown name or split, a bad ``size``, ``max_images < 1``, a seed outside ``0..2**32 - 1``,
            or a split with no images. FileNotFoundError: real data not found.
    """
    _check_name(name)
    if max_images is not None:
        try:
            validation.check_integer(max_images, "max_images", minimum=1)
        except ValueError:
            raise ValueError(f"max_images must be a positive integer or None; got {max_images!r}.") from None
    validation.check_seed(seed)
    size = _images.validate_size(size)
    if size is None:
        raise ValueError("size must be (height, width), two positive integers; got None.")
    if name.startswith("synthetic"):
        if split not in _SYNTHETIC_SEED_OFFSETS:
            raise ValueError(f"Unknown split {split!r} for {name}; choose one of train, val, test.")
        from segdemo.data.synthetic import synthetic_shapes

        count = max_images if max_images is not None else SYNTHETIC_IMAGES[split]
        return synthetic_shapes(count, size=size, seed=seed + _SYNTHETIC_SEED_OFFSETS[split],
                                boundary=name == "synthetic_boundary")
    splits = _SPLIT_NAMES[name]
    if split not in splits:
        raise ValueError(f"Unknown split {split!r} for {name}; choose one of {', '.join(splits)}.")
    if name == "camvid":
        from segdemo.data.camvid import load_camvid as loader
    elif name == "pets":
        from segdemo.data.pets import load_pets as loader
    elif name == "kitti_road":
        from segdemo.data.kitti import load_kitti_road as loader
    else:
        from segdemo.data.voc import load_voc as loader
    images, masks = loader(data_dir, splits[split], size=size, cache_dir=cache_dir)
    if max_images is not None:
        images, masks = images[:max_images], masks[:max_images]
    return images, masks
