"""Every Keras segmentation model: logits at the input size (odd sizes too), size checks, registry."""

import keras
import numpy as np
import pytest

from segdemo.tensorflow import models

SMALL_ARGUMENTS = {"encoder_decoder": {"width": 4}, "segnet_small": {"width": 4}, "unet": {"width": 4}}
NUM_CLASSES = 3


@pytest.fixture(scope="module")
def built():
    cache = {}

    def get(name):
        if name not in cache:
            keras.utils.set_random_seed(0)
            cache[name] = models.build_model(name, NUM_CLASSES, **SMALL_ARGUMENTS.get(name, {}))
        return cache[name]

    yield get
    cache.clear()


@pytest.mark.parametrize("name", sorted(models.MODEL_BUILDERS))
def test_logits_have_the_input_size_for_odd_sizes(built, name):
    model = built(name)
    logits = model(np.random.default_rng(0).random((2, 33, 47, 3), dtype=np.float32), training=False)
    assert tuple(logits.shape) == (2, 33, 47, NUM_CLASSES)
    assert model.input_shape == (None, None, None, 3)


@pytest.mark.parametrize("name", sorted(models.MODEL_BUILDERS))
def test_input_smaller_than_the_output_stride_is_refused(built, name):
    model = built(name)
    too_small = model.output_stride - 1
    with pytest.raises(ValueError, match=rf"at least {model.output_stride}x{model.output_stride}.*{too_small}x"):
        model(np.zeros((1, too_small, 40, 3), "float32"), training=False)


def test_nchw_input_is_refused_with_a_hint(built):
    with pytest.raises(ValueError, match=r"expected shape=\(None, None, None, 3\)"):
        built("segnet_basic")(np.zeros((1, 3, 40, 40), "float32"))


def test_article_models_build_every_convolution():
    for name in ("encoder_decoder", "segnet_small"):
        model = models.build_model(name, NUM_CLASSES, width=4)
        assert sum(isinstance(layer, keras.layers.Conv2D) for layer in model.layers) == 13 + 10 + 1


def test_segnet_small_unpools_with_indices_and_encoder_decoder_does_not(built):
    def layer_types(name):
        return {type(layer).__name__ for layer in built(name).layers}

    assert "MaxUnpooling2D" in layer_types("segnet_small")
    assert "MaxUnpooling2D" not in layer_types("encoder_decoder")


@pytest.mark.parametrize("name", ["fcn16s", "fcn8s"])
def test_fcn_skip_scores_start_at_zero(built, name):
    model = built(name)
    skips = ["score_pool4"] + (["score_pool3"] if name == "fcn8s" else [])
    assert all(not np.any(weight) for skip in skips for weight in model.get_layer(skip).get_weights())
    assert not model.get_layer("upscore").trainable


@pytest.mark.parametrize("name", ["fcn32s", "fcn16s", "fcn8s"])
def test_fcn_width_scales_every_layer(name):
    model = models.build_model(name, NUM_CLASSES, width=8)
    assert tuple(model.get_layer("fc6").kernel.shape) == (7, 7, 64, 512)  # fc: 64 * width; pool5: 8 * width
    assert tuple(model.get_layer("fc7").kernel.shape) == (1, 1, 512, 512)
    assert tuple(model.get_layer("score_fr").kernel.shape) == (1, 1, 512, NUM_CLASSES)
    assert model.get_layer("block1_conv1").filters == 8
    if name != "fcn32s":
        assert tuple(model.get_layer("score_pool4").kernel.shape) == (1, 1, 64, NUM_CLASSES)
    if name == "fcn8s":
        assert tuple(model.get_layer("score_pool3").kernel.shape) == (1, 1, 32, NUM_CLASSES)
    logits = model(np.zeros((1, 33, 47, 3), np.float32), training=False)
    assert tuple(logits.shape) == (1, 33, 47, NUM_CLASSES)


def test_fcn_imagenet_weights_need_vgg16_width():
    with pytest.raises(ValueError, match="exist only for width 64"):
        models.build_model("fcn8s", NUM_CLASSES, weights="imagenet", width=32)


def test_models_train_in_fit_with_unknown_sizes():
    model = models.segnet_small(NUM_CLASSES, width=2)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    images = np.random.default_rng(0).random((2, 17, 19, 3), dtype=np.float32)
    history = model.fit(images, np.zeros((2, 17, 19), "int32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_unknown_model_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="segnet_small"):
        models.build_model("segnett", NUM_CLASSES)


@pytest.mark.parametrize("bad", [1, 0, 2.5, True])
def test_bad_num_classes_is_refused(bad):
    with pytest.raises(ValueError, match="num_classes"):
        models.segnet_basic(bad)


def test_bad_width_is_refused():
    with pytest.raises(ValueError, match="width"):
        models.encoder_decoder(NUM_CLASSES, width=0)


def dropout_layers(model: keras.Model) -> list[keras.layers.Dropout]:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]


def test_article_dropout_rates_are_the_defaults():
    # The article's choice: dropout 0.5 before SegNet's decoder, none in the encoder-decoder.
    assert not dropout_layers(models.encoder_decoder(NUM_CLASSES, width=4))
    assert [layer.rate for layer in dropout_layers(models.segnet_small(NUM_CLASSES, width=4))] == [0.5]


def test_encoder_decoder_with_dropout_is_random_in_training_only():
    keras.utils.set_random_seed(0)
    model = models.build_model("encoder_decoder", NUM_CLASSES, width=4, dropout=0.5)
    assert model.get_layer("dropout").rate == 0.5
    images = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    assert not np.array_equal(np.asarray(model(images, training=True)), np.asarray(model(images, training=True)))
    np.testing.assert_array_equal(np.asarray(model(images, training=False)), np.asarray(model(images, training=False)))
    # Without dropout the same layers are deterministic in training mode too (batch statistics only).
    plain = models.build_model("encoder_decoder", NUM_CLASSES, width=4)
    np.testing.assert_array_equal(np.asarray(plain(images, training=True)), np.asarray(plain(images, training=True)))


def test_segnet_small_without_dropout_has_no_dropout_layer():
    model = models.build_model("segnet_small", NUM_CLASSES, width=4, dropout=0)
    assert not dropout_layers(model)
    images = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(model(images, training=True)), np.asarray(model(images, training=True)))


@pytest.mark.parametrize("name", ["encoder_decoder", "segnet_small"])
@pytest.mark.parametrize("bad", [1, 1.0, -0.1, float("nan"), True, "0.5"])
def test_bad_dropout_is_refused_with_the_valid_range(name, bad):
    with pytest.raises(ValueError, match=rf"dropout must be a number in \[0, 1\).*got {bad!r}"):
        models.build_model(name, NUM_CLASSES, width=4, dropout=bad)
