"""The loop every file-based loader shares: read pairs, check them, resize, stack, cache."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from segdemo.data import _images
from segdemo.data.cache import cached_arrays, fingerprint


def load_pairs(
    dataset: str,
    split: str,
    pairs: Sequence[tuple[Path, Path]],
    read_mask: Callable[[Path], np.ndarray],
    size: tuple[int, int] | None,
    cache_dir: str | os.PathLike | None = None,
    extra_files: Sequence[Path] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Reads ``(image, label)`` file pairs into stacked arrays, caching resized results.

    Args:
        dataset: short name for messages and cache keys (``"camvid"``).
        split: split name for the cache key.
        pairs: ``(image path, label path)`` per example.
        read_mask: reads one label file into uint8 (H, W) class ids (255 = ignore), raising ValueError.
        size: ``(height, width)`` or ``None`` (native size; not cached, the files are the cache).
        cache_dir: cache root (``None``: the default).
        extra_files: files that define the split (listings), part of the cache fingerprint.

    Returns:
        images uint8 (N, H, W, 3), masks uint8 (N, H, W).

    Raises:
        ValueError: the split lists no examples (naming the split and its listing files).
    """
    if not pairs:
        listed = ", ".join(str(path) for path in extra_files) or "its folder"
        raise ValueError(
            f"{dataset} split {split!r} has no images ({listed} lists none). Check the listing or the dataset "
            "folder, or choose another split."
        )

    def read_all() -> tuple[np.ndarray, np.ndarray]:
        images, masks = [], []
        for image_path, label_path in pairs:
            image = _images.read_rgb(image_path)
            mask = read_mask(label_path)
            _images.check_same_size(image, mask, image_path, label_path)
            images.append(_images.resize_image(image, size))
            masks.append(_images.resize_mask(mask, size))
        return _images.stack_pairs(images, masks, dataset=dataset, paths=[pair[0] for pair in pairs])

    if size is None:
        return read_all()
    stamp = fingerprint([*extra_files, *(path for pair in pairs for path in pair)])
    key = f"{dataset}-{split}-{size[0]}x{size[1]}-{stamp}"
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else None
    return cached_arrays(cache_root, key, read_all)


def find_root(
    dataset: str,
    data_dir: str | os.PathLike | None,
    environment_variable: str,
    cache_name: str,
    required: Sequence[str],
    how_to_get: str,
) -> Path:
    """Finds a dataset folder: ``data_dir``, else ``$<environment_variable>``, else ``<cache>/<cache_name>``.

    Args:
        dataset: display name for messages.
        required: paths relative to the root that must exist.
        how_to_get: a sentence on how to obtain the data, appended to errors.

    Raises:
        FileNotFoundError: the folder or a required path is missing (both named, with ``how_to_get``).
    """
    from segdemo.data.cache import default_cache_dir

    if data_dir is not None:
        root, origin = Path(data_dir).expanduser(), "the data_dir argument"
    elif os.environ.get(environment_variable):
        root, origin = Path(os.environ[environment_variable]).expanduser(), environment_variable
    else:
        root, origin = default_cache_dir() / cache_name, "the segdemo cache"
    if not root.is_dir():
        raise FileNotFoundError(f"{dataset} folder {root} (from {origin}) does not exist. {how_to_get}")
    for relative in required:
        if not (root / relative).exists():
            raise FileNotFoundError(
                f"{dataset} folder {root} (from {origin}) has no {relative}. {how_to_get}"
            )
    return root


def read_split_names(listing: Path, dataset: str, how_to_get: str) -> list[str]:
    """Reads the first field of every non-empty, non-comment line of a split listing."""
    if not listing.is_file():
        raise FileNotFoundError(f"{dataset} split listing {listing} does not exist. {how_to_get}")
    return [line.split()[0] for line in listing.read_text().splitlines() if line.strip() and not line.startswith("#")]


def check_label_values(labels: np.ndarray, allowed: np.ndarray, path: Path, description: str) -> None:
    """Raises ValueError naming ``path`` and the first value of ``labels`` not in ``allowed``."""
    present = np.flatnonzero(np.bincount(labels.ravel(), minlength=256))
    unexpected = np.setdiff1d(present, allowed)
    if unexpected.size:
        raise ValueError(
            f"Label file {path} holds value {int(unexpected[0])}; {description}. Check the annotation folder."
        )
