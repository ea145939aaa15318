"""The SegNet articles' ``MaxPoolingWithArgmax2D`` / ``MaxUnpooling2D``, ported to Keras 3 with their bugs.

FOR COMPARISON ONLY: do not build models with these. The book's chapter on pooling indices, the unpooling
benchmark and the tests use them to show, side by side with :mod:`segdemo.tensorflow.pooling`, what goes
wrong and how much slower they are. The port changes only what Keras 3 / TensorFlow 2 require
(``tf.variable_scope`` and ``keras.backend`` helpers become plain ``tf`` calls; ``__init__`` takes the
usual keyword arguments); the arithmetic is the articles', line for line.

Known bugs, preserved on purpose:

1. **Float indices.** Pooling casts the int64 argmax to ``floatx()`` (float32). float32 has 24 significant
   bits, so every index above 2**24 = 16777216 that is not representable is rounded to a neighbour, and
   unpooling then puts the value at a neighbouring position (usually the next or previous channel).
2. **Odd sizes tilt.** Pooling uses ``padding="SAME"`` (ceil: 45 -> 23) and unpooling assumes the output is
   exactly twice the pooled size (46). Indices were computed for width 45 but decoded with width 46, so
   each row of the restored map is shifted one step further than the last: the image is sheared.
3. **Slow.** Unpooling builds a (N * h * w * C, 4) coordinate tensor and calls ``tf.scatter_nd``.
4. No ``get_config``: a model using them cannot be reloaded from a ``.keras`` file without extra code.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

__all__ = ["MaxPoolingWithArgmax2D", "MaxUnpooling2D"]


class MaxPoolingWithArgmax2D(keras.layers.Layer):
    """The articles' pooling: 2x2, stride 2, ``SAME`` padding, indices cast to float (bug 1, 2)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def call(self, inputs: tf.Tensor) -> list[tf.Tensor]:
        output, argmax = tf.nn.max_pool_with_argmax(inputs, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
        argmax = tf.cast(argmax, keras.config.floatx())
        return [output, argmax]

    def compute_output_shape(self, input_shape: tuple) -> list[tuple]:
        ratio = (1, 2, 2, 1)
        output_shape = [dim // ratio[idx] if dim is not None else None for idx, dim in enumerate(input_shape)]
        output_shape = tuple(output_shape)
        return [output_shape, output_shape]


class MaxUnpooling2D(keras.layers.Layer):
    """The articles' unpooling: called on ``[updates, mask]``, output twice the input (bug 2), scatter_nd."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def call(self, inputs: list[tf.Tensor], output_shape: Any = None) -> tf.Tensor:
        updates, mask = inputs[0], inputs[1]
        mask = tf.cast(mask, "int32")
        input_shape = tf.shape(updates, out_type="int32")
        # calculation new shape
        if output_shape is None:
            output_shape = (input_shape[0], input_shape[1] * 2, input_shape[2] * 2, input_shape[3])
        self.output_shape1 = output_shape
        # calculation indices for batch, height, width and feature maps
        one_like_mask = tf.ones_like(mask, dtype="int32")
        batch_shape = tf.concat([[input_shape[0]], [1], [1], [1]], axis=0)
        batch_range = tf.reshape(tf.range(output_shape[0], dtype="int32"), shape=batch_shape)
        b = one_like_mask * batch_range
        y = mask // (output_shape[2] * output_shape[3])
        x = (mask // output_shape[3]) % output_shape[2]
        feature_range = tf.range(output_shape[3], dtype="int32")
        f = one_like_mask * feature_range

        # transpose indices & reshape update values to one dimension
        updates_size = tf.size(updates)
        indices = tf.transpose(tf.reshape(tf.stack([b, y, x, f]), [4, updates_size]))
        values = tf.reshape(updates, [updates_size])
        ret = tf.scatter_nd(indices, values, output_shape)
        return ret

    def compute_output_shape(self, input_shape: list[tuple]) -> tuple:
        shape = input_shape[1]
        return (shape[0], shape[1] * 2 if shape[1] is not None else None,
                shape[2] * 2 if shape[2] is not None else None, shape[3])
