"""Tests of segdemo.tensorflow's MaxPoolingWithArgmax2D and MaxUnpooling2D (NHWC), and of the articles'
layers kept for comparison (segdemo.tensorflow.article_layers): their bugs must stay reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras
from segdemo.tensorflow import MaxPoolingWithArgmax2D, MaxUnpooling2D
from segdemo.tensorflow import article_layers
from segdemo.tensorflow import pooling
from segdemo.tensorflow.pooling import unpool


def numpy_unpool(values: np.ndarray, indices: np.ndarray, height: int, width: int) -> np.ndarray:
    """Reference unpooling by definition: out[n].flat[indices[n, i, j, c]] = values[n, i, j, c]."""
    batch, _, _, channels = values.shape
    outputs = np.zeros((batch, height * width * channels), values.dtype)
    for n in range(batch):
        outputs[n, indices[n].ravel()] = values[n].ravel()
    return outputs.reshape(batch, height, width, channels)


def test_seed_toy_example():
    b = np.array([[1, 2, 1, 2], [3, 4, 3, 4], [1, 2, 1, 2], [3, 4, 3, 4]], np.float32).reshape(1, 4, 4, 1)
    pooled, indices = MaxPoolingWithArgmax2D()(b)
    assert pooled.numpy().ravel().tolist() == [4.0, 4.0, 4.0, 4.0]
    assert indices.numpy().ravel().tolist() == [5, 7, 13, 15]
    expected = np.zeros((4, 4), np.float32)
    expected[1::2, 1::2] = 4
    assert np.array_equal(MaxUnpooling2D()(pooled, indices, (4, 4)).numpy()[0, :, :, 0], expected)


@pytest.mark.parametrize("size", [(45, 45), (44, 45), (5, 7)])
def test_odd_sizes_floor_and_restore_exactly(size):
    features = np.random.default_rng(0).random((2, *size, 3), dtype=np.float32)
    pooled, indices = MaxPoolingWithArgmax2D()(features)
    assert tuple(pooled.shape) == (2, size[0] // 2, size[1] // 2, 3)
    expected = numpy_unpool(pooled.numpy(), indices.numpy(), *size)
    for output_size in (size, tf.constant(features)):
        assert np.array_equal(MaxUnpooling2D()(pooled, indices, output_size).numpy(), expected)


def test_ties_keep_the_first_maximum_in_row_major_order():
    features = np.array([[0, 1, 1, 0], [1, 1, 0, 1]], np.float32).reshape(1, 2, 4, 1)
    _, indices = MaxPoolingWithArgmax2D()(features)
    assert indices.numpy().ravel().tolist() == [1, 2]


def test_gradient_flows_to_the_values_at_the_indices():
    features = np.random.default_rng(1).random((2, 6, 5, 3), dtype=np.float32)
    pooled, indices = MaxPoolingWithArgmax2D()(features)
    upstream = np.random.default_rng(2).random((2, 6, 5, 3), dtype=np.float32)
    values = tf.Variable(pooled)
    with tf.GradientTape() as tape:
        outputs = MaxUnpooling2D()(values, indices, (6, 5))
    gradient = tape.gradient(outputs, values, output_gradients=tf.constant(upstream)).numpy()
    expected = np.take_along_axis(upstream.reshape(2, -1), indices.numpy().reshape(2, -1), axis=1)
    assert np.array_equal(gradient, expected.reshape(pooled.shape))


def reference_gradient(upstream: tf.Tensor, indices: tf.Tensor) -> np.ndarray:
    """The gradient of unpooling by definition: tf.gather of the upstream gradient, per image."""
    batch = upstream.shape[0]
    gathered = tf.gather(tf.reshape(upstream, [batch, -1]), tf.reshape(indices, [batch, -1]), batch_dims=1)
    return tf.reshape(gathered, indices.shape).numpy()


@pytest.mark.parametrize(
    ("shape", "window", "dtype"),
    [
        ((3, 9, 11, 5), (2, 2), "float32"),  # odd sizes: the last row and column are dropped by pooling
        ((2, 45, 44, 3), (2, 2), "float32"),
        ((1, 4, 4, 1), (2, 2), "float32"),
        ((2, 7, 10, 4), (2, 3), "float32"),  # non-square window
        ((2, 9, 9, 2), (3, 3), "float32"),
        ((4, 6, 8, 3), (2, 2), "float16"),
    ],
)
def test_xla_gather_backward_equals_tf_gather_exactly_eager_and_graph(shape, window, dtype):
    seed = sum(shape)
    features = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    pooled, indices = MaxPoolingWithArgmax2D(pool_size=window, strides=window, dtype=dtype)(tf.constant(features))
    upstream = tf.constant(np.random.default_rng(seed + 1).standard_normal(shape).astype(dtype))
    expected = reference_gradient(upstream, indices)
    layer = MaxUnpooling2D(pool_size=window, strides=window, dtype=dtype)

    def step(values):
        with tf.GradientTape() as tape:
            tape.watch(values)
            outputs = layer(values, indices, output_size=shape[1:3])
        return tape.gradient(outputs, values, output_gradients=upstream)

    for run in (step, tf.function(step)):
        gradient = run(pooled)
        assert gradient.dtype == dtype
        assert np.array_equal(gradient.numpy(), expected)


def test_backward_with_arbitrary_in_range_indices_equals_tf_gather():
    # unpool scatters anywhere in the image (not only inside the own window): the gradient must follow.
    generator = np.random.default_rng(11)
    values = tf.constant(generator.standard_normal((3, 4, 5, 2)).astype(np.float32))
    indices = tf.constant(generator.integers(0, 8 * 10 * 2, size=(3, 4, 5, 2)))
    upstream = tf.constant(generator.standard_normal((3, 8, 10, 2)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(values)
        outputs = unpool(values, indices, (3, 8, 10, 2))
    gradient = tape.gradient(outputs, values, output_gradients=upstream)
    assert np.array_equal(gradient.numpy(), reference_gradient(upstream, indices))


@pytest.mark.parametrize(
    ("shape", "window"),
    [((3, 9, 11, 5), (2, 2)), ((2, 8, 8, 1), (2, 2)), ((2, 7, 10, 4), (2, 3)), ((1, 9, 9, 2), (3, 3))],
)
def test_dense_window_pass_equals_the_scatter_kernel(shape, window):
    # The two implementations of unpool must give the identical tensor for indices that max pooling returns.
    features = tf.constant(np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32))
    pooled, indices = tf.nn.max_pool_with_argmax(features, window, window, "VALID", include_batch_in_index=False)
    dense, in_windows = pooling._unpool_windows(pooled, indices, shape[2], window)
    assert bool(in_windows)
    scattered = pooling._scatter_anywhere(pooled, indices, tf.constant(shape, tf.int64), window, window).numpy()
    padded = np.zeros(shape, np.float32)
    padded[:, : dense.shape[1], : dense.shape[2]] = dense.numpy()
    assert np.array_equal(padded, scattered)
    assert np.array_equal(scattered, numpy_unpool(pooled.numpy(), indices.numpy(), *shape[1:3]))
    upstream = tf.constant(np.random.default_rng(1).standard_normal(shape).astype(np.float32))
    gathered = pooling._gather_windows(upstream, indices, shape[2], window).numpy()
    assert np.array_equal(gathered, reference_gradient(upstream, indices))


def test_an_index_outside_its_own_window_falls_back_to_the_scatter():
    # In range but in the neighbouring window: the dense pass cannot place it, so unpool must notice and
    # scatter instead (PyTorch's max_unpool2d accepts any index inside the image, and so do we).
    features = np.random.default_rng(5).standard_normal((2, 6, 8, 3)).astype(np.float32)
    pooled, indices = MaxPoolingWithArgmax2D()(features)
    moved = indices.numpy().copy()
    moved[1, 0, 0, 2] = moved[1, 0, 1, 2] + 3  # one column right of the next window's argmax, other channel
    _, in_windows = pooling._unpool_windows(pooled, tf.constant(moved), 8, (2, 2))
    assert not bool(in_windows)
    upstream = tf.constant(np.random.default_rng(6).standard_normal(features.shape).astype(np.float32))
    for run in (lambda v: MaxUnpooling2D()(v, tf.constant(moved), (6, 8)),
                tf.function(lambda v: MaxUnpooling2D()(v, tf.constant(moved), (6, 8)))):
        with tf.GradientTape() as tape:
            tape.watch(pooled)
            outputs = run(pooled)
        gradient = tape.gradient(outputs, pooled, output_gradients=upstream)
        assert np.array_equal(outputs.numpy(), numpy_unpool(pooled.numpy(), moved, 6, 8))
        assert np.array_equal(gradient.numpy(), reference_gradient(upstream, tf.constant(moved)))


def test_functional_model_with_unknown_sizes_restores_odd_sizes_and_serialises(tmp_path):
    inputs = keras.Input(shape=(None, None, 3))
    pooled, indices = MaxPoolingWithArgmax2D(name="pool")(inputs)
    outputs = MaxUnpooling2D(name="unpool")(pooled, indices, inputs)
    model = keras.Model(inputs, outputs)
    assert tuple(model.output.shape) == (None, None, None, 3)
    assert model.get_layer("pool").output[1].dtype == "int64"
    features = np.random.default_rng(3).random((3, 9, 11, 3), dtype=np.float32)
    reference = model(features).numpy()
    assert reference.shape == features.shape
    model.save(tmp_path / "unpool.keras")
    restored = keras.models.load_model(tmp_path / "unpool.keras")
    assert np.array_equal(restored(features).numpy(), reference)
    assert np.array_equal(restored(features[:1]).numpy(), reference[:1])  # another batch size


def test_get_config_round_trip():
    layer = MaxUnpooling2D(pool_size=(2, 3), strides=(2, 3), name="u")
    clone = MaxUnpooling2D.from_config(layer.get_config())
    assert (clone.pool_size, clone.strides, clone.name) == ((2, 3), (2, 3), "u")


def test_non_square_window_matches_reference():
    features = np.random.default_rng(4).random((1, 7, 9, 2), dtype=np.float32)
    pooled, indices = MaxPoolingWithArgmax2D(pool_size=(2, 3), strides=(2, 3))(features)
    assert tuple(pooled.shape) == (1, 3, 3, 2)
    restored = MaxUnpooling2D(pool_size=(2, 3), strides=(2, 3))(pooled, indices, (7, 9))
    assert np.array_equal(restored.numpy(), numpy_unpool(pooled.numpy(), indices.numpy(), 7, 9))


def test_mixed_precision_keeps_float16_values_and_int64_indices():
    features = np.random.default_rng(5).random((2, 6, 6, 4), dtype=np.float32)
    policy = keras.mixed_precision.DTypePolicy("mixed_float16")
    pooled, indices = MaxPoolingWithArgmax2D(dtype=policy)(features)
    outputs = MaxUnpooling2D(dtype=policy)(pooled, indices, (6, 6))
    assert (pooled.dtype, indices.dtype, outputs.dtype) == (tf.float16, tf.int64, tf.float16)
    expected = numpy_unpool(features.astype(np.float16).reshape(2, 3, 2, 3, 2, 4).max(axis=(2, 4)), indices.numpy(), 6, 6)
    assert np.array_equal(outputs.numpy(), expected)


def test_inside_tf_function_with_unknown_shapes():
    layer_pool, layer_unpool = MaxPoolingWithArgmax2D(), MaxUnpooling2D()

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 2), tf.float32)])
    def round_trip(features):
        pooled, indices = layer_pool(features)
        return layer_unpool(pooled, indices, features)

    features = np.random.default_rng(6).random((2, 5, 7, 2), dtype=np.float32)
    pooled, indices = MaxPoolingWithArgmax2D()(features)
    assert np.array_equal(round_trip(features).numpy(), numpy_unpool(pooled.numpy(), indices.numpy(), 5, 7))


def test_int32_indices_are_accepted():
    pooled, indices = MaxPoolingWithArgmax2D()(np.random.default_rng(7).random((1, 4, 4, 2), dtype=np.float32))
    reference = MaxUnpooling2D()(pooled, indices, (4, 4))
    assert np.array_equal(MaxUnpooling2D()(pooled, tf.cast(indices, tf.int32), (4, 4)).numpy(), reference.numpy())


def test_float_indices_are_refused_with_the_reason():
    pooled, indices = MaxPoolingWithArgmax2D()(np.ones((1, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="indices must be integers.*2\\*\\*24"):
        MaxUnpooling2D()(pooled, tf.cast(indices, tf.float32), (4, 4))


@pytest.mark.parametrize("shape", [(4, 4), (1, 4, 4), (1, 1, 4, 4, 1)])
def test_pooling_refuses_wrong_rank(shape):
    with pytest.raises(ValueError, match="4-D NHWC"):
        MaxPoolingWithArgmax2D()(np.ones(shape, np.float32))


def test_pooling_refuses_integer_input():
    with pytest.raises(ValueError, match="float tensor.*int32"):
        MaxPoolingWithArgmax2D()(tf.ones((1, 4, 4, 1), tf.int32))


def test_pooling_refuses_input_smaller_than_the_window():
    with pytest.raises(ValueError, match="smaller than the pooling window"):
        MaxPoolingWithArgmax2D()(np.ones((1, 1, 4, 1), np.float32))


def test_unpooling_refuses_mismatched_shapes_and_ranks():
    pooled, indices = MaxPoolingWithArgmax2D()(np.ones((1, 4, 4, 2), np.float32))
    with pytest.raises(ValueError, match="same shape"):
        MaxUnpooling2D()(pooled, indices[..., :1], (4, 4))
    with pytest.raises(ValueError, match="4-D NHWC values"):
        MaxUnpooling2D()(pooled[0], indices, (4, 4))


def test_unpooling_refuses_a_size_that_does_not_pool_to_the_values():
    pooled, indices = MaxPoolingWithArgmax2D()(np.ones((1, 6, 6, 1), np.float32))
    with pytest.raises(ValueError, match=r"output_size \(9, 6\) pools to \(4, 3\)"):
        MaxUnpooling2D()(pooled, indices, (9, 6))


def test_unpooling_refuses_a_malformed_size():
    pooled, indices = MaxPoolingWithArgmax2D()(np.ones((1, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="output_size must be"):
        MaxUnpooling2D()(pooled, indices, (4, 4, 4))


def test_out_of_range_indices_are_refused_not_a_crash():
    # TensorFlow's kernel aborts the process on such indices: the layer must stop them first.
    pooled, indices = MaxPoolingWithArgmax2D()(np.ones((1, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="indices outside the output image"):
        MaxUnpooling2D()(pooled, indices + 100, (4, 4))
    with pytest.raises(ValueError, match="indices outside the output image"):
        MaxUnpooling2D()(pooled, indices - 100, (4, 4))
    graph = tf.function(lambda values, positions: MaxUnpooling2D()(values, positions, (4, 4)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="indices outside the output image"):
        graph(pooled, indices + 100)


# The articles' layers: the bugs the chapter shows must stay reproducible.


def test_article_float_cast_moves_a_value_above_2_to_the_24():
    height, width, channels = 520, 520, 64  # one image holds more than 2**24 values
    features = np.zeros((1, height, width, channels), np.float32)
    features[0, 519, 511, 63] = 1.0
    exact = ((519 * width) + 511) * channels + 63  # odd and above 2**24: not a float32
    rounded = int(np.float32(exact))
    assert exact > 2**24 and rounded != exact
    pooled, indices = MaxPoolingWithArgmax2D()(features)
    article_pooled, article_indices = article_layers.MaxPoolingWithArgmax2D()(features)
    assert int(indices[0, 259, 255, 63]) == exact
    assert int(article_indices[0, 259, 255, 63]) == rounded
    # The article decodes the pixel from the rounded index and the channel from the value's position.
    pixel = rounded // channels
    expected = [[0, pixel // width, pixel % width, 63]]
    assert np.argwhere(article_layers.MaxUnpooling2D()([article_pooled, article_indices]).numpy()).tolist() == expected
    assert np.argwhere(MaxUnpooling2D()(pooled, indices, (height, width)).numpy()).tolist() == [[0, 519, 511, 63]]


def test_article_unpooling_tilts_odd_widths():
    features = np.random.default_rng(8).random((1, 6, 45, 1), dtype=np.float32)
    pooled, indices = article_layers.MaxPoolingWithArgmax2D()(features)
    assert tuple(pooled.shape) == (1, 3, 23, 1)  # SAME padding: ceil
    restored = article_layers.MaxUnpooling2D()([pooled, indices]).numpy()
    assert restored.shape == (1, 6, 46, 1)
    # Decoding with width 46 an index made for width 45 shifts row y by y positions.
    flat = indices.numpy().astype(np.int64).ravel()
    rows, columns = divmod(flat, 46)
    expected = np.zeros((6, 46), np.float32)
    expected[rows, columns] = pooled.numpy().ravel()
    assert np.array_equal(restored[0, :, :, 0], expected)
    assert not np.array_equal(np.argwhere(restored[0, :, :45, 0]), np.argwhere(numpy_unpool(pooled.numpy(), flat.reshape(pooled.shape), 6, 45)[0, :, :, 0]))


def test_scatter_kernel_reads_only_the_shape_of_its_input() -> None:
    # unpool hands MaxPoolGradWithArgmax an uninitialised tensor as `input`; that is only correct if the
    # kernel ignores the values of `input` and zeroes its output itself, which this checks with ones.
    rng = np.random.default_rng(7)
    features = tf.constant(rng.normal(size=(2, 6, 8, 3)).astype(np.float32))
    pooled, indices = tf.nn.max_pool_with_argmax(features, 2, 2, "VALID")
    results = [
        tf.raw_ops.MaxPoolGradWithArgmax(
            input=fill(features.shape, features.dtype), grad=pooled, argmax=indices,
            ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID", include_batch_in_index=False,
        ).numpy()
        for fill in (tf.zeros, tf.ones)
    ]
    np.testing.assert_array_equal(results[0], results[1])
    assert np.count_nonzero(results[1]) == np.count_nonzero(pooled.numpy())
