"""Tests for segdemo.tensorflow.upsampling: the bilinear initialiser and BilinearUpsampling2D (NHWC)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from segdemo.tensorflow import BilinearInitializer, BilinearUpsampling2D
from segdemo.upsampling import bilinear_kernel


def test_initializer_returns_diagonal_bilinear_kernel_in_keras_layout():
    kernel = np.asarray(BilinearInitializer()((4, 4, 2, 2)))
    assert kernel.dtype == np.float32
    np.testing.assert_allclose(kernel[:, :, 0, 0], bilinear_kernel(4), rtol=1e-6)
    np.testing.assert_allclose(kernel[:, :, 1, 1], bilinear_kernel(4), rtol=1e-6)
    assert np.all(kernel[:, :, 0, 1] == 0) and np.all(kernel[:, :, 1, 0] == 0)


def test_initializer_is_serialisable():
    restored = keras.initializers.deserialize(keras.initializers.serialize(BilinearInitializer()))
    assert isinstance(restored, BilinearInitializer)
    np.testing.assert_array_equal(np.asarray(restored((3, 3, 1, 1))), np.asarray(BilinearInitializer()((3, 3, 1, 1))))


@pytest.mark.parametrize("shape", [(4, 4, 2, 3), (4, 3, 2, 2), (4, 4, 2)])
def test_initializer_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="BilinearInitializer needs"):
        BilinearInitializer()(shape)


@pytest.mark.parametrize("factor", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("size", [(1, 1), (5, 7), (6, 4)])
def test_output_is_exactly_factor_times_input(factor, size):
    outputs = BilinearUpsampling2D(2, factor)(np.zeros((1, *size, 2), np.float32))
    assert tuple(outputs.shape) == (1, factor * size[0], factor * size[1], 2)


def test_unknown_input_size_in_a_functional_model():
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, BilinearUpsampling2D(3, 8)(inputs))
    assert tuple(model(np.zeros((1, 3, 5, 3), np.float32)).shape) == (1, 24, 40, 3)


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
def test_interior_equals_resize_and_border_sees_zeros(factor):
    inputs = np.random.default_rng(0).random((2, 5, 6, 3)).astype(np.float32)
    upsampled = np.asarray(BilinearUpsampling2D(3, factor)(inputs))
    reference = tf.image.resize(inputs, (5 * factor, 6 * factor), method="bilinear").numpy()
    border = factor // 2
    interior = (slice(None), slice(border, -border or None), slice(border, -border or None))
    np.testing.assert_allclose(upsampled[interior], reference[interior], rtol=0, atol=1e-6)
    ones = np.asarray(BilinearUpsampling2D(1, factor)(np.ones((1, 4, 4, 1), np.float32)))[0, :, :, 0]
    assert np.all(ones[0] < 1) and np.all(ones[-1] < 1)
    np.testing.assert_allclose(ones[interior[1:]], 1.0, atol=1e-6)


def test_weights_layout_and_trainable_flag():
    layer = BilinearUpsampling2D(4, 2)
    layer.build((None, None, None, 4))
    assert [tuple(weight.shape) for weight in layer.weights] == [(4, 4, 4, 4)]
    assert len(layer.trainable_weights) == 1
    frozen = BilinearUpsampling2D(4, 2, trainable=False)
    frozen.build((None, None, None, 4))
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 1


# Keras 3.15 itself warns about numpy 2 `__array__` while writing weights; not ours to fix.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_model_with_layer_saves_and_loads(tmp_path):
    inputs = keras.Input((None, None, 2))
    model = keras.Model(inputs, BilinearUpsampling2D(2, 2, trainable=False, name="up")(inputs))
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    layer = restored.get_layer("up")
    assert isinstance(layer, BilinearUpsampling2D)
    assert (layer.channels, layer.factor, layer.trainable) == (2, 2, False)
    sample = np.random.default_rng(1).random((1, 3, 5, 2)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(restored(sample)), np.asarray(model(sample)))


@pytest.mark.parametrize("arguments", [(0, 2), (2, 0), (2, 1.5), (True, 2)])
def test_bad_arguments_raise(arguments):
    with pytest.raises(ValueError, match="must be a positive integer"):
        BilinearUpsampling2D(*arguments)


def test_wrong_input_layout_raises():
    with pytest.raises(ValueError, match=r"NHWC input with 3 channels, got shape \(1, 3, 8, 8\)"):
        BilinearUpsampling2D(3, 2)(np.zeros((1, 3, 8, 8), np.float32))
