"""Max pooling that returns where each maximum came from, and the unpooling that puts values back there.

Keras 3 layers with the names the SegNet articles use, ``MaxPoolingWithArgmax2D`` and ``MaxUnpooling2D``,
rebuilt so that the articles' bugs cannot happen (see ``segdemo.tensorflow.article_layers`` for the
originals, kept for comparison):

* indices stay int64 end to end (the articles cast them to float, which corrupts indices above 2**24);
* pooling floors like PyTorch (``padding="VALID"``: 45 -> 22) and unpooling restores the exact pre-pool
  size you give it, so odd sizes come back untilted;
* batch size and spatial size may be unknown (``keras.Input(shape=(None, None, C))``), mixed precision
  works, and both layers serialise (``get_config``, ``.keras`` files).

Index layout (NHWC): one int64 per pooled value, ``(y * W + x) * C + c`` inside its own image of the
pre-pool map (``include_batch_in_index=False``); :mod:`segdemo.indices` converts to and from PyTorch's.

Speed: for non-overlapping windows (``pool_size == strides``, SegNet's 2x2/2) an index of pooled position
(i, j, c) can only be one of ``ph * pw`` positions of its own window, so unpooling is a dense computation:
compare each index with those few positions (a subtraction, no division) and write every output element
once. XLA compiles it into one fused pass (``jit_compile=True``), and the gradient reads each window the
same way. That pass also reports whether every index lay in its own window; when one does not (indices
that max pooling did not produce, still accepted, like PyTorch's ``max_unpool2d``), unpooling falls back to
``tf.raw_ops.MaxPoolGradWithArgmax`` (the kernel TensorFlow uses for the gradient of max pooling, exactly a
scatter of values to argmax positions) after a range check, with an XLA-compiled gather as its gradient.
The articles' ``tf.scatter_nd`` builds a (4, N*h*w*C) coordinate tensor instead; ``benchmarks/unpool.py``
measures both, and PyTorch, side by side. XLA compiles once per shape.

Ties: among equal maxima in a window the CPU kernel keeps the first in row-major order (like PyTorch's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

__all__ = ["MaxPoolingWithArgmax2D", "MaxUnpooling2D", "unpool"]


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(item, int) and item >= 1 for item in pair):
        raise ValueError(f"{name} must be a positive int or a pair of positive ints, got {value!r}.")
    return pair  # type: ignore[return-value]


def _pooled(size: int | None, pool_size: int, strides: int) -> int | None:
    return None if size is None else (size - pool_size) // strides + 1


def _check_rank_four(tensor: Any, name: str, layer: str) -> None:
    if len(tensor.shape) != 4:
        raise ValueError(f"{layer} expects a 4-D NHWC {name}, got shape {tuple(tensor.shape)}.")


def _check_integer_indices(indices: Any) -> None:
    dtype = tf.as_dtype(keras.backend.standardize_dtype(indices.dtype))
    if not dtype.is_integer:
        raise ValueError(
            f"indices must be integers, got {dtype.name}: a float cast silently corrupts indices above "
            "2**24 = 16777216 (float32 rounds them to a neighbour, so values land on the wrong pixel or "
            "channel). Pass the int64 indices MaxPoolingWithArgmax2D returned."
        )


def _gather_per_image_reference(upstream: tf.Tensor, indices: tf.Tensor) -> tf.Tensor:
    """``upstream[n].flat[indices[n, i, j, c]]`` for every pooled position: the gradient of :func:`unpool`.

    Args:
        upstream: float (N, H, W, C).
        indices: int64 (N, h, w, C), all in ``[0, H * W * C)``.

    Returns:
        float (N, h, w, C).
    """
    batch = tf.shape(upstream)[0]
    gathered = tf.gather(tf.reshape(upstream, [batch, -1]), tf.reshape(indices, [batch, -1]), batch_dims=1)
    return tf.reshape(gathered, tf.shape(indices))


# The same gather compiled by XLA (exactly equal: a gather copies values). reduce_retracing keeps one trace
# for all shapes (XLA still specialises per shape when it runs), so varying batch sizes do not retrace.
# XLA clamps out-of-range indices instead of failing: callers validate indices before the forward scatter.
_gather_per_image = tf.function(_gather_per_image_reference, jit_compile=True, reduce_retracing=True)


def _window_hits(indices: tf.Tensor, width: tf.Tensor, pool_size: tuple[int, int]) -> list[list[tf.Tensor]]:
    """``hits[dy][dx]``: bool (N, h, w, C), whether each index points at row ``dy``, column ``dx`` of its own window.

    For non-overlapping windows (stride = pool size) the window of pooled position (i, j, c) starts at index
    ``((i * ph) * W + j * pw) * C + c``; an index inside it differs from that by ``(dy * W + dx) * C``. No
    division is needed, only a subtraction and comparisons, which XLA fuses into one pass.
    """
    shape = tf.shape(indices, out_type=tf.int64)
    channels = shape[3]
    row_step = tf.cast(width, tf.int64) * channels
    top = tf.range(shape[1], dtype=tf.int64)[:, None, None] * (pool_size[0] * row_step)
    left = tf.range(shape[2], dtype=tf.int64)[None, :, None] * (pool_size[1] * channels)
    offsets = indices - (top + left + tf.range(channels, dtype=tf.int64)[None, None, :])
    return [[tf.equal(offsets, dy * row_step + dx * channels) for dx in range(pool_size[1])] for dy in range(pool_size[0])]


def _unpool_windows_reference(
    values: tf.Tensor, indices: tf.Tensor, width: tf.Tensor, pool_size: tuple[int, int]
) -> tuple[tf.Tensor, tf.Tensor]:
    """Unpooling for non-overlapping windows as one dense pass (no zero fill, no scatter).

    Args:
        values: float (N, h, w, C).
        indices: int64 (N, h, w, C).
        width: W, the pre-pool width the indices were computed for.
        pool_size: (ph, pw), equal to the strides.

    Returns:
        ``(outputs, in_windows)``: float (N, h * ph, w * pw, C) with each value at its index, and a bool
        scalar, True when every index lies in its own window (only then are the outputs the unpooling).
    """
    hits = _window_hits(indices, width, pool_size)
    zeros = tf.zeros_like(values)
    rows = [tf.stack([tf.where(hit, values, zeros) for hit in row], axis=3) for row in hits]  # (N, h, w, pw, C)
    shape = tf.shape(values)
    outputs = tf.reshape(tf.stack(rows, axis=2), [shape[0], shape[1] * pool_size[0], shape[2] * pool_size[1], shape[3]])
    in_windows = tf.reduce_all(tf.reduce_any(tf.stack([hit for row in hits for hit in row]), axis=0))
    return outputs, in_windows


def _gather_windows_reference(
    upstream: tf.Tensor, indices: tf.Tensor, width: tf.Tensor, pool_size: tuple[int, int]
) -> tf.Tensor:
    """The gradient of :func:`_unpool_windows_reference`: each index's upstream value, read from its window.

    Args:
        upstream: float (N, H, W, C), H >= h * ph and W >= w * pw.
        indices: int64 (N, h, w, C), every one inside its own window.

    Returns:
        float (N, h, w, C), equal to the gather :func:`_gather_per_image_reference`.
    """
    hits = _window_hits(indices, width, pool_size)
    shape = tf.shape(indices)
    cropped = upstream[:, : shape[1] * pool_size[0], : shape[2] * pool_size[1], :]
    windows = tf.reshape(cropped, [shape[0], shape[1], pool_size[0], shape[2], pool_size[1], shape[3]])
    gradient = tf.zeros(shape, upstream.dtype)
    for dy, row in enumerate(hits):
        for dx, hit in enumerate(row):
            gradient = tf.where(hit, windows[:, :, dy, :, dx, :], gradient)
    return gradient


# Compiled by XLA into fused loops. Shapes are dynamic arguments; `width` is a value, not a shape.
_unpool_windows = tf.function(_unpool_windows_reference, jit_compile=True, reduce_retracing=True)
_gather_windows = tf.function(_gather_windows_reference, jit_compile=True, reduce_retracing=True)

OUT_OF_RANGE_MESSAGE = (
    "MaxUnpooling2D: indices outside the output image; they must come from MaxPoolingWithArgmax2D "
    "(include_batch_in_index=False) applied to a map of size output_size."
)


def _check_in_image(indices: tf.Tensor, output_shape: tf.Tensor) -> tf.Tensor:
    """Refuses indices outside ``[0, H * W * C)``: TensorFlow's scatter kernel would abort the process.

    Returns:
        ``indices`` (in graph mode with the check as a dependency).

    Raises:
        ValueError: eagerly; inside ``tf.function`` an ``InvalidArgumentError`` with the same message.
    """
    limit = tf.cast(output_shape[1] * output_shape[2] * output_shape[3], tf.uint64)
    # As unsigned integers negative indices become huge, so a single max catches both ends.
    in_range = tf.reduce_max(tf.bitcast(indices, tf.uint64)) < limit
    if tf.executing_eagerly():
        if tf.size(indices) > 0 and not bool(in_range):
            raise ValueError(f"{OUT_OF_RANGE_MESSAGE} Got range [{int(tf.reduce_min(indices))}, "
                             f"{int(tf.reduce_max(indices))}], limit {int(limit)}.")
        return indices
    with tf.control_dependencies([tf.debugging.Assert(tf.logical_or(tf.size(indices) == 0, in_range), [OUT_OF_RANGE_MESSAGE])]):
        return tf.identity(indices)


def _scatter_anywhere(
    values: tf.Tensor, indices: tf.Tensor, output_shape: tf.Tensor, pool_size: tuple[int, int], strides: tuple[int, int]
) -> tf.Tensor:
    """Unpooling for any in-range indices with ``MaxPoolGradWithArgmax`` (a scatter-add into zeros)."""
    indices = _check_in_image(indices, output_shape)
    # MaxPoolGradWithArgmax zeroes its output and reads only the *shape* of `input`, then adds each value at
    # its argmax; an uninitialised tensor saves filling a full-size zero tensor that is never read
    # (tests/tensorflow/test_pooling.py checks that the kernel ignores the values of `input`).
    shape_only = tf.raw_ops.Empty(shape=tf.cast(output_shape, tf.int32), dtype=values.dtype, init=False)
    return tf.raw_ops.MaxPoolGradWithArgmax(
        input=shape_only, grad=values, argmax=indices, ksize=[1, *pool_size, 1], strides=[1, *strides, 1],
        padding="VALID", include_batch_in_index=False,
    )


def _pad_to(outputs: tf.Tensor, output_shape: tf.Tensor) -> tf.Tensor:
    """Zero rows/columns at the bottom/right up to (H, W): the pixels floor pooling never read."""
    extra_rows = tf.cast(output_shape[1], tf.int32) - tf.shape(outputs)[1]
    extra_columns = tf.cast(output_shape[2], tf.int32) - tf.shape(outputs)[2]
    return tf.cond(
        tf.logical_or(extra_rows > 0, extra_columns > 0),
        lambda: tf.pad(outputs, [[0, 0], [0, extra_rows], [0, extra_columns], [0, 0]]),
        lambda: outputs,
    )


def unpool(
    values: tf.Tensor,
    indices: tf.Tensor,
    output_shape: tf.Tensor | Sequence[int],
    pool_size: tuple[int, int] = (2, 2),
    strides: tuple[int, int] = (2, 2),
) -> tf.Tensor:
    """Scatters ``values`` to ``indices`` in a zero tensor of ``output_shape``.

    Like PyTorch's ``max_unpool2d``, any index inside the image is accepted. Two implementations give the
    identical tensor:

    * non-overlapping windows (``pool_size == strides``, SegNet's 2x2/2) whose indices all lie in their own
      window, which is what max pooling returns: one dense XLA pass that writes every output element once
      (:func:`_unpool_windows_reference`); its gradient reads each index's window the same way;
    * anything else: ``MaxPoolGradWithArgmax`` after a range check, with an XLA-compiled gather as gradient.

    Args:
        values: float (N, h, w, C).
        indices: int (N, h, w, C), ``(y * W + x) * C + c`` per image.
        output_shape: (N, H, W, C) ints or an int tensor; (H, W) must pool to (h, w).
        pool_size: pooling window (height, width).
        strides: pooling step (height, width).

    Returns:
        float (N, H, W, C); the gradient with respect to ``values`` is the upstream gradient at ``indices``.

    Raises:
        ValueError: for indices outside ``[0, H * W * C)`` (eagerly; inside ``tf.function`` an
            ``InvalidArgumentError`` with the same message).
    """
    pool_size, strides = tuple(pool_size), tuple(strides)
    indices = tf.cast(indices, tf.int64)
    output_shape = tf.cast(output_shape, tf.int64)
    windows = pool_size == strides

    @tf.custom_gradient
    def scatter(values: tf.Tensor) -> tuple[tf.Tensor, Any]:
        if windows:
            dense, in_windows = _unpool_windows(values, indices, output_shape[2], pool_size)
            outputs = tf.cond(
                in_windows,
                lambda: _pad_to(dense, output_shape),
                lambda: _scatter_anywhere(values, indices, output_shape, pool_size, strides),
            )
        else:
            outputs = _scatter_anywhere(values, indices, output_shape, pool_size, strides)

        def gather(upstream: tf.Tensor) -> tf.Tensor:
            return tf.reshape(_gather_per_image(upstream, indices), tf.shape(values))

        def gradient(upstream: tf.Tensor) -> tf.Tensor:
            if windows:
                return tf.cond(in_windows, lambda: _gather_windows(upstream, indices, output_shape[2], pool_size),
                               lambda: gather(upstream))
            return gather(upstream)

        return outputs, gradient

    return scatter(values)


@keras.saving.register_keras_serializable(package="segdemo")
class MaxPoolingWithArgmax2D(keras.layers.Layer):
    """Max pooling that also returns the position of every maximum.

    Args:
        pool_size: window (height, width) or one int for both.
        strides: step (height, width) or one int for both.
        **kwargs: standard Keras layer arguments (``name``, ``dtype``, ...).

    Call:
        inputs: float (N, H, W, C); N, H and W may be unknown.

    Returns:
        ``(pooled, indices)``: pooled (N, h, w, C) in the layer's compute dtype with
        ``h = (H - pool) // stride + 1`` (floor, so 45 -> 22 for 2x2/2), and indices int64 (N, h, w, C),
        ``(y * W + x) * C + c`` in each pre-pool image.

    Example:
        >>> pooled, indices = MaxPoolingWithArgmax2D()(tf.random.uniform((2, 45, 60, 8)))
        >>> tuple(pooled.shape), indices.dtype.name
        ((2, 22, 30, 8), 'int64')
    """

    def __init__(self, pool_size: int | Sequence[int] = 2, strides: int | Sequence[int] = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = _pair(strides, "strides")

    def call(self, inputs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        _check_rank_four(inputs, "input", "MaxPoolingWithArgmax2D")
        if not tf.as_dtype(inputs.dtype).is_floating:
            raise ValueError(f"MaxPoolingWithArgmax2D expects a float tensor, got {inputs.dtype}; cast first.")
        height, width = inputs.shape[1], inputs.shape[2]
        if (height is not None and height < self.pool_size[0]) or (width is not None and width < self.pool_size[1]):
            raise ValueError(f"Input size ({height}, {width}) is smaller than the pooling window {self.pool_size}.")
        pooled, indices = tf.nn.max_pool_with_argmax(
            inputs, ksize=self.pool_size, strides=self.strides, padding="VALID", include_batch_in_index=False
        )
        return pooled, indices

    def compute_output_spec(self, inputs: Any) -> tuple[keras.KerasTensor, keras.KerasTensor]:
        _check_rank_four(inputs, "input", "MaxPoolingWithArgmax2D")
        batch, height, width, channels = inputs.shape
        shape = (batch, _pooled(height, self.pool_size[0], self.strides[0]),
                 _pooled(width, self.pool_size[1], self.strides[1]), channels)
        return keras.KerasTensor(shape, dtype=self.compute_dtype), keras.KerasTensor(shape, dtype="int64")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides}


@keras.saving.register_keras_serializable(package="segdemo")
class MaxUnpooling2D(keras.layers.Layer):
    """Puts each pooled value back where its maximum came from; every other position becomes zero.

    Args:
        pool_size: window used by the matching pooling.
        strides: step used by the matching pooling.
        **kwargs: standard Keras layer arguments.

    Call:
        values: float (N, h, w, C), e.g. decoder features at the pooled size.
        indices: int (N, h, w, C) from :class:`MaxPoolingWithArgmax2D` (never a float cast of them).
        output_size: the pre-pool size: ``(H, W)`` ints, or a tensor with the pre-pool spatial shape
            (N, H, W, any), e.g. the encoder feature map before pooling; this is how a functional model
            with ``keras.Input(shape=(None, None, C))`` restores odd sizes. ``None`` assumes
            ``(h - 1) * stride + pool``, which is wrong for odd sizes.

    Returns:
        float (N, H, W, C). Gradients flow to ``values``.

    Raises:
        ValueError: for wrong ranks, mismatched shapes, float indices, indices outside the output (checked
            eagerly; inside ``tf.function`` an ``InvalidArgumentError`` with the same message), or a size
            that does not pool to (h, w).
    """

    def __init__(self, pool_size: int | Sequence[int] = 2, strides: int | Sequence[int] = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = _pair(strides, "strides")

    def __call__(self, values: Any, indices: Any, output_size: Any = None, **kwargs: Any) -> Any:
        # Keras accepts only tensors as positional arguments: a (height, width) tuple goes by keyword.
        if output_size is None or hasattr(output_size, "shape"):
            return super().__call__(values, indices, output_size, **kwargs)
        return super().__call__(values, indices, output_size=tuple(output_size), **kwargs)

    def _static_size(self, values: Any, output_size: Any) -> tuple[int | None, int | None]:
        """(H, W) as far as it is known before running, from the values and ``output_size``."""
        if output_size is None:
            return tuple(  # type: ignore[return-value]
                None if size is None else (size - 1) * stride + pool
                for size, stride, pool in zip(values.shape[1:3], self.strides, self.pool_size)
            )
        if hasattr(output_size, "shape") and len(output_size.shape) == 4:
            return output_size.shape[1], output_size.shape[2]
        size = tuple(output_size)
        if len(size) != 2 or not all(isinstance(item, int) for item in size):
            raise ValueError(
                f"output_size must be (height, width) ints or a 4-D tensor with the pre-pool spatial shape, "
                f"got {output_size!r}."
            )
        return size  # type: ignore[return-value]

    def _check_inputs(self, values: Any, indices: Any, output_size: Any) -> tuple[int | None, int | None]:
        _check_rank_four(values, "values", "MaxUnpooling2D")
        _check_rank_four(indices, "indices", "MaxUnpooling2D")
        _check_integer_indices(indices)
        if not tf.TensorShape(values.shape).is_compatible_with(tf.TensorShape(indices.shape)):
            raise ValueError(f"values {tuple(values.shape)} and indices {tuple(indices.shape)} must have the same shape.")
        height, width = self._static_size(values, output_size)
        for size, pooled, stride, pool in zip((height, width), values.shape[1:3], self.strides, self.pool_size):
            if size is not None and pooled is not None and _pooled(size, pool, stride) != pooled:
                raise ValueError(
                    f"output_size ({height}, {width}) pools to "
                    f"({_pooled(height, self.pool_size[0], self.strides[0])}, "
                    f"{_pooled(width, self.pool_size[1], self.strides[1])}), not to the values' "
                    f"{tuple(values.shape[1:3])}; pass the size of the map before the matching pooling."
                )
        return height, width

    def call(self, values: tf.Tensor, indices: tf.Tensor, output_size: Any = None) -> tf.Tensor:
        static_height, static_width = self._check_inputs(values, indices, output_size)
        dynamic = tf.shape(values)
        if output_size is None:
            height = (dynamic[1] - 1) * self.strides[0] + self.pool_size[0]
            width = (dynamic[2] - 1) * self.strides[1] + self.pool_size[1]
        elif hasattr(output_size, "shape") and len(output_size.shape) == 4:
            height, width = tf.shape(output_size)[1], tf.shape(output_size)[2]
        else:
            height, width = output_size
        output_shape = tf.stack([dynamic[0], height, width, dynamic[3]])
        outputs = unpool(values, indices, output_shape, self.pool_size, self.strides)
        return tf.ensure_shape(outputs, (values.shape[0], static_height, static_width, values.shape[3]))

    def compute_output_spec(self, values: Any, indices: Any, output_size: Any = None) -> keras.KerasTensor:
        height, width = self._check_inputs(values, indices, output_size)
        return keras.KerasTensor((values.shape[0], height, width, values.shape[3]), dtype=self.compute_dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides}
