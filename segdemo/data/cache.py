"""Where downloads and resized arrays live, and how resized arrays are cached.

Resizing a few hundred full-size images takes seconds; reading one ``.npz`` takes milliseconds. Loaders cache
resized arrays keyed by dataset, split, size and a fingerprint of the files they were read from (names, byte
sizes and modification times), so editing, adding or replacing a file produces a new key instead of stale data.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from segdemo.files import atomic_path

CACHE_ENVIRONMENT_VARIABLE = "SEGDEMO_CACHE_DIR"


def default_cache_dir() -> Path:
    """The folder for downloads and cached arrays: ``$SEGDEMO_CACHE_DIR``, else ``~/.cache/segdemo``.

    The folder is not created here; writers create it when they first need it.
    """
    configured = os.environ.get(CACHE_ENVIRONMENT_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "segdemo"


def fingerprint(paths: Iterable[Path]) -> str:
    """A short digest of file names, byte sizes and modification times (not contents: that is cheap).

    Args:
        paths: the files a cached array is derived from; order matters (it is the order of the rows).

    Returns:
        16 hexadecimal characters.
    """
    digest = hashlib.sha256()
    for path in paths:
        status = path.stat()
        digest.update(f"{path.name}\t{status.st_size}\t{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def cached_arrays(
    cache_dir: Path | None,
    key: str,
    build: Callable[[], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Returns ``(images, masks)`` from ``<cache_dir>/arrays/<key>.npz``, building and saving them if absent.

    The file is written to a temporary name and renamed, so an interrupted run never leaves a half-written
    cache; a cache that cannot be read is rebuilt; a cache folder that cannot be written is skipped.

    Args:
        cache_dir: the cache root (``None``: :func:`default_cache_dir`).
        key: a file-name-safe key that changes whenever the arrays would.
        build: computes ``(images uint8 (N, H, W, 3), masks uint8 (N, H, W))``.
    """
    folder = (cache_dir if cache_dir is not None else default_cache_dir()) / "arrays"
    path = folder / f"{key}.npz"
    if path.is_file():
        try:
            with np.load(path) as stored:
                return stored["images"], stored["masks"]
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            pass  # damaged cache: rebuild it below
    images, masks = build()
    try:
        # A file handle, not the name: np.savez would append ".npz" to the temporary name.
        with atomic_path(path) as temporary, open(temporary, "wb") as handle:
            np.savez(handle, images=images, masks=masks)
    except OSError:
        pass  # a read-only home or a full disk only costs speed, never correctness
    return images, masks
