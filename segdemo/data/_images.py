"""Reading and resizing image and label files with Pillow (numpy out, no framework).

Every loader in ``segdemo.data`` goes through these helpers, so errors name the file and the fix the same way
for every dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


def validate_size(size: Sequence[int] | None, *, argument: str = "size") -> tuple[int, int] | None:
    """Returns ``size`` as ``(height, width)`` ints, or ``None``.

    Raises:
        ValueError: when ``size`` is not two positive integers.
    """
    if size is None:
        return None
    try:
        height, width = (int(value) for value in size)
    except (TypeError, ValueError):
        raise ValueError(f"{argument} must be (height, width), two positive integers; got {size!r}.") from None
    if height < 1 or width < 1 or tuple(size) != (height, width):
        raise ValueError(f"{argument} must be (height, width), two positive integers; got {size!r}.")
    return height, width


def _open(path: Path) -> Image.Image:
    """Opens and fully decodes ``path``, turning Pillow's errors into one that names the file."""
    if not path.is_file():
        raise FileNotFoundError(f"Image file {path} does not exist; check the dataset folder is complete.")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(
            f"Cannot read image {path} ({error}); the file is corrupt or not an image: delete it and "
            "download the dataset again."
        ) from None
    return image


def read_rgb(path: Path) -> np.ndarray:
    """Reads a photo as RGB.

    Returns:
        uint8 (H, W, 3). Greyscale, palette, RGBA and CMYK files are converted to RGB.
    """
    image = _open(path)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def read_indices(path: Path) -> np.ndarray:
    """Reads a label file whose pixel values are class ids (mode ``L`` or a palette ``P`` image).

    Palette images are read as their indices, never through the palette (VOC's coloured PNGs hold class ids).

    Returns:
        uint8 (H, W) raw values as stored in the file.

    Raises:
        ValueError: for an RGB label file, which would hold colours rather than ids.
    """
    image = _open(path)
    if image.mode not in ("L", "P", "I", "I;16"):
        raise ValueError(
            f"Label file {path} has mode {image.mode!r}; expected a single-channel (L) or palette (P) PNG "
            "holding class ids. Check that the annotation folder, not a colourised copy, was given."
        )
    values = np.asarray(image)
    if values.dtype != np.uint8:
        if values.size and (values.min() < 0 or values.max() > 255):
            raise ValueError(f"Label file {path} holds value {int(values.max())}, which does not fit in uint8.")
        values = values.astype(np.uint8)
    return values


def read_rgb_labels(path: Path) -> np.ndarray:
    """Reads a label file that encodes classes as colours (KITTI road).

    Returns:
        uint8 (H, W, 3).
    """
    return read_rgb(path)


def resize_image(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resizes one uint8 (H, W, 3) image bilinearly to ``size = (height, width)``; ``None`` keeps it."""
    if size is None or image.shape[:2] == size:
        return image
    height, width = size
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))


def resize_mask(mask: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resizes one uint8 (H, W) mask by nearest neighbour (class ids must never be blended)."""
    if size is None or mask.shape[:2] == size:
        return mask
    height, width = size
    return np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.NEAREST))


def check_same_size(image: np.ndarray, mask: np.ndarray, image_path: Path, label_path: Path) -> None:
    """Raises ValueError naming both files when an image and its label differ in height or width."""
    if image.shape[:2] != mask.shape[:2]:
        raise ValueError(
            f"Image {image_path} is {image.shape[0]}x{image.shape[1]} but its label {label_path} is "
            f"{mask.shape[0]}x{mask.shape[1]}; the pair must have the same size (re-download the dataset)."
        )


def stack_pairs(
    images: list[np.ndarray], masks: list[np.ndarray], *, dataset: str, paths: Sequence[Path]
) -> tuple[np.ndarray, np.ndarray]:
    """Stacks per-file arrays into ``(images uint8 (N, H, W, 3), masks uint8 (N, H, W))``.

    Raises:
        ValueError: when there is nothing to stack, or sizes differ (so the arrays cannot be stacked), naming
            two files and the fix.
    """
    if not images:
        # An empty (0, 0, 0, 3) array would pass for data until something divides by its size.
        raise ValueError(f"{dataset}: no images to load; check the split listing and the dataset folder.")
    first = images[0].shape[:2]
    for image, path in zip(images, paths):
        if image.shape[:2] != first:
            raise ValueError(
                f"{dataset} images differ in size: {paths[0]} is {first[0]}x{first[1]} but {path} is "
                f"{image.shape[0]}x{image.shape[1]}; pass size=(height, width) to resize them all."
            )
    return np.stack(images), np.stack(masks)
