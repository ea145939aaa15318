"""Datasets as numpy arrays: synthetic shapes, CamVid, Oxford-IIIT Pet, KITTI road and PASCAL VOC.

Everything here returns ``images`` uint8 (N, H, W, 3) and ``masks`` uint8 (N, H, W) holding class ids, with
:data:`IGNORE_INDEX` (255) for pixels that losses and metrics skip. No deep-learning framework is imported;
names load from their modules on first use, so ``import segdemo.data`` is instant.

Example:
    >>> from segdemo import data
    >>> images, masks = data.load_dataset("synthetic", "train", size=(64, 64), max_images=8)
    >>> images.shape, masks.shape
    ((8, 64, 64, 3), (8, 64, 64))
"""

from __future__ import annotations

from segdemo._exports import lazy_exports

IGNORE_INDEX = 255
"""Label value of pixels that losses and metrics skip."""

# The download function itself stays at segdemo.data.download.download: a package
# attribute named like its submodule would be replaced by the module on import.
# Public name -> module (relative to this package) that defines it.
_EXPORTS: dict[str, str] = {
    "synthetic_shapes": "synthetic",
    "load_camvid": "camvid",
    "find_camvid": "camvid",
    "verify_camvid": "camvid",
    "median_frequency_weights": "camvid",
    "download_camvid": "download",
    "extract_archive": "download",
    "DownloadError": "download",
    "load_pets": "pets",
    "find_pets": "pets",
    "download_pets": "pets",
    "load_kitti_road": "kitti",
    "find_kitti_road": "kitti",
    "download_kitti_road": "kitti",
    "load_voc": "voc",
    "find_voc": "voc",
    "download_voc": "voc",
    "load_dataset": "registry",
    "dataset_classes": "registry",
    "DATASET_NAMES": "registry",
    "DATASET_CITATIONS": "registry",
    "default_cache_dir": "cache",
}

__all__ = sorted([*_EXPORTS, "IGNORE_INDEX"])


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
