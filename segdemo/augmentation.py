"""Data augmentation of image and mask together, in numpy, shared by both frameworks' ``fit``.

Three transforms, each switched on by name (``fit(..., augment=("flip", "scale", "color"))``):

* ``"flip"``: a horizontal mirror of image and mask, with probability 1/2. Streets look the same mirrored.
* ``"scale"``: a random zoom by a factor in ``SCALE_RANGE`` around a random centre, sampled back to the same
  height and width: bilinear for the image, nearest for the mask. Zooming out leaves a border with no data;
  its image pixels are 0 and its labels ``ignore_index``, so no fake class is learned there.
* ``"color"``: brightness, contrast and saturation, each scaled by a factor in ``COLOR_RANGE``: the test
  drives of CamVid were filmed in other light than most training frames.

Everything random comes from the ``numpy.random.Generator`` passed in; ``fit`` seeds one per batch from
``(seed, epoch, step)``, so a resumed run sees the same augmented batches as an uninterrupted one.

The GPU engine (``segdemo.torch.on_device``) draws the same zoom, flip and brightness ranges on the device.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

AUGMENTATIONS = ("flip", "scale", "color")
"""Names of the transforms, in the order they are applied."""

SCALE_RANGE = (0.8, 1.5)
"""Zoom factors for ``"scale"``: below 1 zooms out (border ignored), above 1 zooms in (a crop)."""

COLOR_RANGE = (0.8, 1.2)
"""Factors for brightness, contrast and saturation in ``"color"``."""


def parse_augment(augment: str | Iterable[str] | None) -> tuple[str, ...]:
    """The transforms ``augment`` names, de-duplicated, in the canonical order of ``AUGMENTATIONS``.

    Args:
        augment: ``None``, ``"none"`` or ``""`` for no augmentation; a string of names joined by commas
            or ``+`` (``"flip,scale"``, ``"flip+scale"``), or a sequence of names.

    Returns:
        A tuple of names from ``AUGMENTATIONS`` (empty for none).

    Raises:
        ValueError: an unknown name, listing the valid ones.
    """
    if augment is None:
        return ()
    names = augment.replace("+", ",").split(",") if isinstance(augment, str) else list(augment)
    cleaned = {str(name).strip().lower() for name in names} - {"", "none"}
    unknown = sorted(cleaned - set(AUGMENTATIONS))
    if unknown:
        raise ValueError(
            f"Unknown augmentation {', '.join(map(repr, unknown))}; choose any of {', '.join(AUGMENTATIONS)} "
            "(comma-separated, e.g. 'flip,scale,color'), or 'none'."
        )
    return tuple(name for name in AUGMENTATIONS if name in cleaned)


def describe_augment(augment: Sequence[str]) -> str:
    """``"flip+scale"`` for the names, ``"none"`` for no augmentation (used in run names and tables)."""
    return "+".join(augment) if augment else "none"


def batch_rng(seed: int, epoch: int, step: int) -> np.random.Generator:
    """The generator of one training batch: a function of ``(seed, epoch, step)`` only."""
    return np.random.default_rng([int(seed), int(epoch), int(step), 0x5E9])


def _bilinear(image: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Samples float32 (H, W, C) ``image`` at float coordinates (rows (h,), columns (w,)) -> (h, w, C)."""
    height, width = image.shape[:2]
    rows = np.clip(rows, 0, height - 1)
    columns = np.clip(columns, 0, width - 1)
    top = np.floor(rows).astype(np.int64)
    left = np.floor(columns).astype(np.int64)
    bottom = np.minimum(top + 1, height - 1)
    right = np.minimum(left + 1, width - 1)
    down = (rows - top)[:, None, None]
    across = (columns - left)[None, :, None]
    upper = image[top][:, left] * (1 - across) + image[top][:, right] * across
    lower = image[bottom][:, left] * (1 - across) + image[bottom][:, right] * across
    return upper * (1 - down) + lower * down


def _zoom(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
          ignore_index: int) -> tuple[np.ndarray, np.ndarray]:
    """One random zoom of a float32 (H, W, 3) image and its uint8 (H, W) mask, same size out."""
    height, width = mask.shape
    scale = rng.uniform(*SCALE_RANGE)
    # The window of the source that fills the output: smaller than the image when zooming in.
    window_height, window_width = height / scale, width / scale
    top = rng.uniform(min(0.0, height - window_height), max(0.0, height - window_height))
    left = rng.uniform(min(0.0, width - window_width), max(0.0, width - window_width))
    # Pixel centres of the output, mapped into source coordinates.
    rows = top + (np.arange(height) + 0.5) / scale - 0.5
    columns = left + (np.arange(width) + 0.5) / scale - 0.5
    inside_rows = (rows >= -0.5) & (rows <= height - 0.5)
    inside_columns = (columns >= -0.5) & (columns <= width - 0.5)
    inside = inside_rows[:, None] & inside_columns[None, :]

    zoomed_image = _bilinear(image, rows, columns) * inside[..., None]
    nearest_rows = np.clip(np.floor(rows + 0.5).astype(np.int64), 0, height - 1)
    nearest_columns = np.clip(np.floor(columns + 0.5).astype(np.int64), 0, width - 1)
    zoomed_mask = mask[nearest_rows][:, nearest_columns].copy()
    zoomed_mask[~inside] = ignore_index
    return zoomed_image, zoomed_mask


def _jitter_colour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and saturation of a float32 (H, W, 3) image in [0, 255], in random order."""
    for transform in rng.permutation(3):
        factor = rng.uniform(*COLOR_RANGE)
        if transform == 0:  # brightness
            image = image * factor
        elif transform == 1:  # contrast: around the mean grey level
            grey = image.mean()
            image = (image - grey) * factor + grey
        else:  # saturation: around each pixel's grey value
            grey = image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
            image = (image - grey[..., None]) * factor + grey[..., None]
        image = np.clip(image, 0.0, 255.0)
    return image


def augment_batch(
    images: np.ndarray,
    masks: np.ndarray,
    augment: Sequence[str],
    rng: np.random.Generator,
    *,
    ignore_index: int = 255,
) -> tuple[np.ndarray, np.ndarray]:
    """Augments a batch of images and masks together; returns new arrays, the inputs are left alone.

    Args:
        images: uint8 (N, H, W, 3).
        masks: uint8 (N, H, W), class ids or ``ignore_index``.
        augment: names from ``AUGMENTATIONS`` (see :func:`parse_augment`); empty returns the inputs.
        rng: where every random choice comes from.
        ignore_index: label of the border that zooming out leaves.

    Returns:
        ``(images uint8 (N, H, W, 3), masks uint8 (N, H, W))``, the same shapes as given.

    Raises:
        ValueError: an unknown transform name, or images and masks that do not pair up.
    """
    augment = parse_augment(augment)
    if not augment:
        return images, masks
    if images.ndim != 4 or images.shape[-1] != 3 or masks.shape != images.shape[:3]:
        raise ValueError(
            f"augment_batch needs images (N, H, W, 3) and masks (N, H, W); got {images.shape} and {masks.shape}."
        )
    out_images = np.empty_like(images)
    out_masks = np.empty_like(masks)
    for index in range(len(images)):
        image = images[index].astype(np.float32)
        mask = masks[index]
        if "flip" in augment and rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        if "scale" in augment:
            image, mask = _zoom(image, mask, rng, ignore_index)
        if "color" in augment:
            image = _jitter_colour(image, rng)
        out_images[index] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        out_masks[index] = mask
    return out_images, out_masks
