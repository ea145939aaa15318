"""Max-pooling index layouts of PyTorch and TensorFlow, and conversions between them (numpy only).

Both frameworks answer "where did this maximum come from?" with one integer per pooled value, but they
count differently:

* PyTorch (``F.max_pool2d(..., return_indices=True)``), NCHW: the index is the position inside its own
  (n, c) plane of the *pre-pool* map, ``h * W + w``. Batch and channel are implied by where the index sits.
* TensorFlow (``tf.nn.max_pool_with_argmax``), NHWC: the index flattens the whole pre-pool image,
  ``(y * W + x) * C + c``, and with ``include_batch_in_index=True`` also the batch,
  ``((b * H + y) * W + x) * C + c``.

So the same maximum has two different numbers. The functions below map one onto the other exactly, with
integer arithmetic only: indices are never floats (float32 has 24 significant bits, so integers above
2**24 = 16777216 round to a neighbour and point to the wrong pixel or channel).

The SegNet paper notes that only the position inside each 2x2 window needs to be stored, 2 bits per
window; :func:`pack_window_positions` computes that compact encoding and :func:`unpack_window_positions`
restores PyTorch indices from it.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "torch_to_tensorflow_indices",
    "tensorflow_to_torch_indices",
    "pack_window_positions",
    "unpack_window_positions",
]


def _as_integer_array(indices: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(indices)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"{name} must be integers, got dtype {array.dtype}: float32 cannot represent every index above "
            "2**24 = 16777216, so pass the int32/int64 tensor the pooling layer returned (no float cast)."
        )
    if array.ndim != 4:
        raise ValueError(f"{name} must have rank 4, got shape {array.shape}; pass a batch of pooled maps.")
    return array.astype(np.int64, copy=False)


def _check_size(height: int, width: int, pooled_height: int, pooled_width: int) -> None:
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be positive, got ({height}, {width}).")
    if pooled_height > height or pooled_width > width:
        raise ValueError(
            f"The pooled map ({pooled_height}, {pooled_width}) is larger than the pre-pool size "
            f"({height}, {width}); height and width must be the size *before* pooling."
        )


def torch_to_tensorflow_indices(
    indices: np.ndarray, height: int, width: int, *, include_batch: bool = False
) -> np.ndarray:
    """Converts PyTorch max-pool indices (NCHW, per plane) to TensorFlow's layout (NHWC, per image).

    Args:
        indices: int (N, C, h, w), PyTorch indices ``y * width + x`` into each pre-pool plane.
        height: pre-pool height H.
        width: pre-pool width W.
        include_batch: also count the batch, like ``include_batch_in_index=True``.

    Returns:
        int64 (N, h, w, C): ``(y * W + x) * C + c`` (plus ``b * H * W * C`` when ``include_batch``).

    Raises:
        ValueError: for float indices, a rank other than 4, or a size smaller than the pooled map.

    Example:
        >>> torch_indices = np.array([[[[5, 7], [13, 15]]]])  # (1, 1, 2, 2) from a 4x4 map
        >>> torch_to_tensorflow_indices(torch_indices, 4, 4)[..., 0].tolist()
        [[[5, 7], [13, 15]]]
    """
    array = _as_integer_array(indices, "indices")
    batch, channels, pooled_height, pooled_width = array.shape
    _check_size(height, width, pooled_height, pooled_width)
    channel_ids = np.arange(channels, dtype=np.int64)
    converted = np.transpose(array, (0, 2, 3, 1)) * channels + channel_ids  # broadcast over the last axis
    if include_batch:
        converted = converted + (np.arange(batch, dtype=np.int64) * height * width * channels)[:, None, None, None]
    return converted


def tensorflow_to_torch_indices(
    indices: np.ndarray, height: int, width: int, *, include_batch: bool = False
) -> np.ndarray:
    """Converts TensorFlow max-pool indices (NHWC, per image) to PyTorch's layout (NCHW, per plane).

    Args:
        indices: int (N, h, w, C), TensorFlow indices ``(y * W + x) * C + c`` (plus the batch offset
            ``b * H * W * C`` when ``include_batch``).
        height: pre-pool height H.
        width: pre-pool width W.
        include_batch: the indices were made with ``include_batch_in_index=True``.

    Returns:
        int64 (N, C, h, w): ``y * W + x`` into each pre-pool plane.

    Raises:
        ValueError: for float indices, a rank other than 4, a size smaller than the pooled map, or
            indices whose channel does not match their position (not TensorFlow indices of this shape).
    """
    array = _as_integer_array(indices, "indices")
    batch, pooled_height, pooled_width, channels = array.shape
    _check_size(height, width, pooled_height, pooled_width)
    if include_batch:
        array = array - (np.arange(batch, dtype=np.int64) * height * width * channels)[:, None, None, None]
    if array.size and (array.min() < 0 or array.max() >= height * width * channels):
        raise ValueError(
            f"indices range [{array.min()}, {array.max()}] does not fit a ({height}, {width}) map with "
            f"{channels} channels (include_batch={include_batch}); check the pre-pool size and include_batch."
        )
    if not np.array_equal(array % channels, np.broadcast_to(np.arange(channels), array.shape)):
        raise ValueError(
            "indices are not TensorFlow max-pool indices: index % channels must equal the channel it sits in. "
            "Were they made with include_batch_in_index, or are they PyTorch indices?"
        )
    return np.transpose(array // channels, (0, 3, 1, 2))


def pack_window_positions(indices: np.ndarray, width: int) -> np.ndarray:
    """Packs PyTorch 2x2/stride-2 max-pool indices into 2 bits per window, as the SegNet paper suggests.

    Each index ``y * W + x`` is reduced to its position in its own window, ``(y % 2) * 2 + x % 2`` in
    0..3, and four positions share one byte.

    Args:
        indices: int (N, C, h, w), PyTorch indices of a 2x2 pooling with stride 2.
        width: pre-pool width W.

    Returns:
        uint8 (ceil(N * C * h * w / 4),): the packed positions, first window in the lowest 2 bits.

    Raises:
        ValueError: for float indices, a rank other than 4, or an index outside its own window.
    """
    array = _as_integer_array(indices, "indices")
    pooled_height, pooled_width = array.shape[2:]
    rows, columns = array // width, array % width
    row_offset = rows - 2 * np.arange(pooled_height)[:, None]
    column_offset = columns - 2 * np.arange(pooled_width)[None, :]
    if not (np.isin(row_offset, (0, 1)).all() and np.isin(column_offset, (0, 1)).all()):
        raise ValueError(
            f"Some indices lie outside their 2x2 window for width {width}; pass indices of a 2x2, stride-2 "
            "pooling and the pre-pool width."
        )
    positions = (row_offset * 2 + column_offset).astype(np.uint8).ravel()
    positions = np.concatenate([positions, np.zeros(-positions.size % 4, dtype=np.uint8)])
    quads = positions.reshape(-1, 4)
    return (quads[:, 0] | quads[:, 1] << 2 | quads[:, 2] << 4 | quads[:, 3] << 6).astype(np.uint8)


def unpack_window_positions(packed: np.ndarray, pooled_shape: tuple[int, int, int, int], width: int) -> np.ndarray:
    """Restores PyTorch indices from :func:`pack_window_positions`.

    Args:
        packed: uint8 (ceil(N * C * h * w / 4),) packed window positions.
        pooled_shape: (N, C, h, w) of the pooled map.
        width: pre-pool width W.

    Returns:
        int64 (N, C, h, w): PyTorch indices ``y * W + x``.

    Raises:
        ValueError: when ``packed`` has the wrong dtype or length for ``pooled_shape``.
    """
    packed = np.asarray(packed)
    count = int(np.prod(pooled_shape))
    if packed.dtype != np.uint8 or packed.ndim != 1 or packed.size != -(-count // 4):
        raise ValueError(
            f"packed must be uint8 of shape ({-(-count // 4)},) for pooled shape {tuple(pooled_shape)}, "
            f"got {packed.dtype} {packed.shape}."
        )
    positions = np.stack([(packed >> shift) & 3 for shift in (0, 2, 4, 6)], axis=1).ravel()[:count]
    positions = positions.reshape(pooled_shape).astype(np.int64)
    pooled_height, pooled_width = pooled_shape[2:]
    rows = 2 * np.arange(pooled_height)[:, None] + positions // 2
    columns = 2 * np.arange(pooled_width)[None, :] + positions % 2
    return rows * width + columns
