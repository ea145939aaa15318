"""Encoders with keras.applications' names: parameter counts, shapes, offline and by-name weight loading."""

import keras
import numpy as np
import pytest

from segdemo.tensorflow import backbones
from segdemo.tensorflow.fcn import dense_to_conv_kernel

VGG16_CHANNELS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]


def trainable(model: keras.Model) -> int:
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def test_vgg16_has_torchvisions_parameter_count():
    inputs = [3] + VGG16_CHANNELS[:-1]
    arithmetic = sum(9 * c_in * c_out + c_out for c_in, c_out in zip(inputs, VGG16_CHANNELS))
    assert arithmetic == 14_714_688
    assert trainable(backbones.vgg16()) == arithmetic


def test_resnet50_has_torchvisions_parameter_count_without_fc():
    assert trainable(backbones.resnet50()) == 25_557_032 - (2048 * 1000 + 1000)


def test_vgg16_uses_keras_applications_layer_names():
    ours = {layer.name for layer in backbones.vgg16().layers if layer.weights}
    reference = {layer.name for layer in keras.applications.VGG16(include_top=False, weights=None).layers if layer.weights}
    assert ours == reference


def test_encoder_shapes_follow_the_contract():
    images = np.zeros((1, 64, 64, 3), "float32")
    assert [tuple(x.shape) for x in backbones.vgg16()(images)] == [
        (1, 32, 32, 64), (1, 16, 16, 128), (1, 8, 8, 256), (1, 4, 4, 512), (1, 2, 2, 512)]
    assert [tuple(x.shape) for x in backbones.resnet50()(images)] == [
        (1, 32, 32, 64), (1, 16, 16, 256), (1, 8, 8, 512), (1, 4, 4, 1024), (1, 2, 2, 2048)]


def test_offline_imagenet_weights_print_one_line_and_continue(monkeypatch, capsys):
    def offline(name, include_top):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- no network")

    monkeypatch.setattr(backbones, "_keras_application", offline)
    model = backbones.vgg16_bn(weights="imagenet")
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "random initialisation" in lines[0] and "Traceback" not in captured.err
    assert isinstance(model, keras.Model)


def _conv_bn_model(use_bias: bool) -> keras.Model:
    images = keras.Input(shape=(None, None, 2))
    x = keras.layers.Conv2D(3, 3, padding="same", use_bias=use_bias, name="conv1_conv")(images)
    x = backbones.batch_norm("conv1_bn")(x)
    return keras.Model(images, x)


def test_copying_folds_a_missing_bias_into_the_batch_norm():
    rng = np.random.default_rng(0)
    source, target = _conv_bn_model(True), _conv_bn_model(False)
    source.get_layer("conv1_conv").set_weights([rng.normal(size=(3, 3, 2, 3)), rng.normal(size=3)])
    source.get_layer("conv1_bn").set_weights(
        [rng.uniform(0.5, 2, 3), rng.normal(size=3), rng.normal(size=3), rng.uniform(0.5, 2, 3)])
    copied = backbones.copy_weights_by_name(source, target)
    assert set(copied) == {"conv1_conv", "conv1_bn"}
    images = rng.normal(size=(1, 5, 5, 2)).astype("float32")
    np.testing.assert_allclose(target(images, training=False), source(images, training=False), atol=1e-5)


def test_copying_rejects_mismatching_shapes():
    images = keras.Input(shape=(None, None, 2))
    other = keras.Model(images, keras.layers.Conv2D(4, 3, use_bias=False, name="conv1_conv")(images))
    with pytest.raises(ValueError, match="conv1_conv"):
        backbones.copy_weights_by_name(_conv_bn_model(False), other)


def test_dense_kernel_becomes_an_equivalent_convolution():
    rng = np.random.default_rng(0)
    feature_map = rng.normal(size=(1, 7, 7, 4)).astype("float32")
    kernel = rng.normal(size=(7 * 7 * 4, 5)).astype("float32")
    dense = feature_map.reshape(1, -1) @ kernel  # keras' Flatten of NHWC, then Dense
    conv = keras.ops.conv(feature_map, dense_to_conv_kernel(kernel, 4, 7), padding="valid")
    np.testing.assert_allclose(np.asarray(conv).reshape(1, 5), dense, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="expected"):
        dense_to_conv_kernel(kernel, 3, 7)


def test_unknown_weights_raise():
    with pytest.raises(ValueError, match="'imagenet'"):
        backbones.resnet50(weights="coco")


def test_upsample_nearest_to_odd_size_repeats_last_row():
    features = np.arange(4.0, dtype="float32").reshape(1, 2, 2, 1)
    upsampled = backbones.UpsampleNearestTo()(features, np.zeros((1, 5, 4, 1), "float32"))
    expected = [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3], [2, 2, 3, 3]]
    np.testing.assert_array_equal(np.asarray(upsampled)[0, :, :, 0], expected)
