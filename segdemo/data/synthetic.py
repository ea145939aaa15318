"""Synthetic scenes: a segmentation data set that needs no download and trains in seconds.

Each image has a textured background (class 0) and a few objects: discs, rectangles and triangles of
different sizes, and thin poles, a class of their own (like CamVid's poles, the class SegNet's boundary-keeping
decoder helps most). Objects' colours are drawn around a base colour per class with jitter, shading and pixel
noise, and the background texture shares their range, so a network must use shape as well as colour.
With ``boundary=True`` a band of a few pixels around every object becomes a ``border`` class, like the
"not sure" zone of the Oxford-IIIT Pet trimaps used in the FCN article.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CLASS_NAMES: tuple[str, ...] = ("background", "disc", "rectangle", "triangle", "pole")
"""Classes of :func:`synthetic_shapes` with ``boundary=False``, in label order."""

BOUNDARY_CLASS_NAMES: tuple[str, ...] = (*CLASS_NAMES, "border")
"""Classes with ``boundary=True``: the same, plus ``border`` (label 5)."""

COLOURS = np.array(
    [(40, 40, 40), (230, 60, 50), (60, 110, 230), (240, 200, 40), (240, 240, 240)],
    dtype=np.uint8,
)
"""uint8 (5, 3): display colour of each class (for plotting masks; images use jittered colours)."""

BOUNDARY_COLOURS = np.concatenate([COLOURS, np.array([(150, 90, 200)], dtype=np.uint8)])
"""uint8 (6, 3): :data:`COLOURS` plus the border class."""

# Base RGB colour of each object class in the images, and how far each object's colour may stray from it.
_OBJECT_BASE_COLOURS = np.array([(200, 70, 60), (70, 110, 200), (200, 180, 60), (215, 215, 215)], np.float64)
_COLOUR_JITTER = 45.0
_PIXEL_NOISE = 10.0
_MINIMUM_SIZE = 16


def _check_arguments(num_images: int, size: Sequence[int], seed: int) -> tuple[int, int]:
    if isinstance(num_images, bool) or not isinstance(num_images, (int, np.integer)) or num_images < 1:
        raise ValueError(f"num_images must be a positive integer; got {num_images!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}.")
    try:
        height, width = (int(value) for value in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (height, width); got {size!r}.") from None
    if height < _MINIMUM_SIZE or width < _MINIMUM_SIZE:
        raise ValueError(
            f"size must be at least {_MINIMUM_SIZE}x{_MINIMUM_SIZE} so objects fit; got {height}x{width}."
        )
    return height, width


def _background(rng: np.random.Generator, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """float64 (H, W, 3): a dull base colour with a gradient and two wavy textures."""
    height, width = rows.shape
    base = rng.uniform(60, 150, size=3)
    gradient = rng.uniform(-30, 30, size=3)
    direction = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(direction) * rows / height + np.sin(direction) * columns / width)[..., None]
    image = base + gradient * ramp
    for _ in range(2):
        frequency = rng.uniform(0.15, 0.6)
        angle = rng.uniform(0, np.pi)
        wave = np.sin(frequency * (np.cos(angle) * rows + np.sin(angle) * columns) + rng.uniform(0, 2 * np.pi))
        image = image + rng.uniform(5, 20) * wave[..., None]
    return image


def _shape_footprint(
    kind: int, rng: np.random.Generator, rows: np.ndarray, columns: np.ndarray, scale: float
) -> np.ndarray:
    """bool (H, W): where one object of class ``kind`` (1 disc, 2 rectangle, 3 triangle, 4 pole) lies."""
    height, width = rows.shape
    centre_row, centre_column = rng.uniform(0.1, 0.9) * height, rng.uniform(0.1, 0.9) * width
    if kind == 1:
        radius = rng.uniform(4, 11) * scale
        return (rows - centre_row) ** 2 + (columns - centre_column) ** 2 <= radius**2
    if kind == 2:
        half_height, half_width = rng.uniform(3, 11, size=2) * scale
        angle = rng.uniform(-0.6, 0.6)
        along = np.cos(angle) * (columns - centre_column) + np.sin(angle) * (rows - centre_row)
        across = -np.sin(angle) * (columns - centre_column) + np.cos(angle) * (rows - centre_row)
        return (np.abs(along) <= half_width) & (np.abs(across) <= half_height)
    if kind == 3:
        radius = rng.uniform(6, 14) * scale
        angles = rng.uniform(0, 2 * np.pi) + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3])
        vertex_rows = centre_row + radius * np.sin(angles)
        vertex_columns = centre_column + radius * np.cos(angles)
        inside = np.ones(rows.shape, dtype=bool)
        # Counter-clockwise vertices: a point is inside when it is left of all three edges.
        for start in range(3):
            end = (start + 1) % 3
            cross = (vertex_columns[end] - vertex_columns[start]) * (rows - vertex_rows[start]) - (
                vertex_rows[end] - vertex_rows[start]
            ) * (columns - vertex_columns[start])
            inside &= cross >= 0
        return inside
    # A pole: a near-vertical segment one to two pixels wide (scaled), most of the image tall.
    length = rng.uniform(0.4, 0.8) * height
    half_width = rng.uniform(0.5, 1.0) * max(1.0, scale)
    tilt = rng.uniform(-0.25, 0.25)
    top_row = rng.uniform(0, height - length)
    offset_rows = rows - top_row
    axis_columns = centre_column + tilt * offset_rows
    return (offset_rows >= 0) & (offset_rows <= length) & (np.abs(columns - axis_columns) <= half_width)


def _dilate(footprint: np.ndarray, radius: int) -> np.ndarray:
    """bool (H, W): ``footprint`` grown by ``radius`` pixels (a square structuring element)."""
    grown = footprint.copy()
    for _ in range(radius):
        step = grown.copy()
        step[1:, :] |= grown[:-1, :]
        step[:-1, :] |= grown[1:, :]
        step[:, 1:] |= grown[:, :-1]
        step[:, :-1] |= grown[:, 1:]
        grown = step
    return grown


def _scene(
    rng: np.random.Generator, rows: np.ndarray, columns: np.ndarray, boundary: bool
) -> tuple[np.ndarray, np.ndarray]:
    height, width = rows.shape
    scale = min(height, width) / 64
    image = _background(rng, rows, columns)
    mask = np.zeros((height, width), dtype=np.uint8)
    footprints = []
    # Two to six objects; every object class appears with fair probability, poles are rarer but thin.
    kinds = rng.choice([1, 2, 3, 4], size=int(rng.integers(2, 7)), p=[0.28, 0.28, 0.28, 0.16])
    for kind in kinds:
        footprint = _shape_footprint(int(kind), rng, rows, columns, scale)
        if not footprint.any():
            continue
        colour = np.clip(_OBJECT_BASE_COLOURS[kind - 1] + rng.uniform(-_COLOUR_JITTER, _COLOUR_JITTER, 3), 0, 255)
        # Shading: a linear ramp across the object, brighter on one side, like light from one direction.
        angle = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(angle) * (rows - rows[footprint].mean()) + np.sin(angle) * (columns - columns[footprint].mean())
        shading = 1.0 + 0.25 * ramp / max(1.0, np.abs(ramp[footprint]).max())
        image[footprint] = colour * shading[footprint][:, None]
        mask[footprint] = kind  # later objects occlude earlier ones
        footprints.append(footprint)
    if boundary:
        border_width = max(1, round(2 * scale))
        border_class = len(CLASS_NAMES)
        for footprint in footprints:
            # The band outside each object; it is drawn over background only, so objects stay whole.
            band = _dilate(footprint, border_width) & ~footprint & (mask == 0)
            mask[band] = border_class
    image += rng.normal(0.0, _PIXEL_NOISE, size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), mask


def synthetic_shapes(
    num_images: int,
    size: Sequence[int] = (64, 64),
    seed: int = 0,
    boundary: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Generates deterministic scenes of shapes on textured backgrounds.

    Image ``i`` depends only on ``seed`` and ``i``, so the first ``k`` images of a call with ``num_images > k``
    equal those of a call with ``num_images = k``.

    Args:
        num_images: N >= 1.
        size: ``(height, width)``, each at least 16; object sizes scale with ``min(height, width) / 64``.
        seed: non-negative integer; the same seed gives identical arrays on every platform.
        boundary: add the ``border`` class (label 5) around every object (see :data:`BOUNDARY_CLASS_NAMES`).

    Returns:
        ``(images, masks)``: images uint8 (N, H, W, 3); masks uint8 (N, H, W) with labels indexing
        :data:`CLASS_NAMES` (or :data:`BOUNDARY_CLASS_NAMES` with ``boundary=True``).

    Raises:
        ValueError: for ``num_images < 1``, a side below 16 or a negative seed.

    Example:
        >>> images, masks = synthetic_shapes(4, size=(32, 48), seed=1)
        >>> images.shape, images.dtype, masks.shape, int(masks.max()) <= 4
        ((4, 32, 48, 3), dtype('uint8'), (4, 32, 48), True)
    """
    height, width = _check_arguments(num_images, size, seed)
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float64)
    images = np.empty((num_images, height, width, 3), dtype=np.uint8)
    masks = np.empty((num_images, height, width), dtype=np.uint8)
    for index, child in enumerate(np.random.SeedSequence(int(seed)).spawn(num_images)):
        images[index], masks[index] = _scene(np.random.default_rng(child), rows, columns, bool(boundary))
    return images, masks
