"""Every PyTorch segmentation model: logits at the input size (odd sizes too), size checks, registry."""

import pytest
import torch

from segdemo.torch import fcn, models

# Small widths where the builder has one; the VGG16/ResNet50 models keep their real widths.
SMALL_ARGUMENTS = {"encoder_decoder": {"width": 4}, "segnet_small": {"width": 4}, "unet": {"width": 4}}
NUM_CLASSES = 3


@pytest.fixture(scope="module")
def built():
    cache = {}

    def get(name):
        if name not in cache:
            torch.manual_seed(0)
            cache[name] = models.build_model(name, NUM_CLASSES, **SMALL_ARGUMENTS.get(name, {})).eval()
        return cache[name]

    yield get
    cache.clear()


@pytest.mark.parametrize("name", sorted(models.MODEL_BUILDERS))
def test_logits_have_the_input_size_for_odd_sizes(built, name):
    model = built(name)
    with torch.no_grad():
        logits = model(torch.rand(2, 3, 33, 47))
    assert tuple(logits.shape) == (2, NUM_CLASSES, 33, 47)
    assert logits.dtype == torch.float32


@pytest.mark.parametrize("name", sorted(models.MODEL_BUILDERS))
def test_input_smaller_than_the_output_stride_is_refused(built, name):
    model = built(name)
    too_small = model.output_stride - 1
    with pytest.raises(ValueError, match=rf"at least {model.output_stride}x{model.output_stride}.*{too_small}x"):
        model(torch.rand(1, 3, too_small, 40))


@pytest.mark.parametrize("name", sorted(models.MODEL_BUILDERS))
def test_nhwc_input_is_refused_with_a_hint(built, name):
    with pytest.raises(ValueError, match="NCHW"):
        built(name)(torch.rand(1, 40, 40, 3))


def test_output_strides():
    expected = {"encoder_decoder": 16, "segnet_small": 16, "segnet_basic": 16, "resnet50_segnet": 16,
                "segnet": 32, "fcn32s": 32, "fcn16s": 32, "fcn8s": 32, "unet": 16}
    assert set(expected) == set(models.MODEL_BUILDERS)
    for name in ("encoder_decoder", "segnet_small", "segnet_basic", "unet"):
        assert models.build_model(name, NUM_CLASSES).output_stride == expected[name]


def test_article_models_build_every_convolution():
    # Encoder blocks of 2, 2, 3, 3 and 3 convolutions, decoder blocks of 3, 3, 2, 2, and the classifier
    # (the article's loop dropped the first one: it built only 23 + 1).
    for name in ("encoder_decoder", "segnet_small"):
        convolutions = [m for m in models.build_model(name, NUM_CLASSES, width=4).modules()
                        if isinstance(m, torch.nn.Conv2d)]
        assert len(convolutions) == 13 + 10 + 1


def test_segnet_encoder_is_vgg16_bn_with_about_14_7_million_parameters(built):
    encoder = built("segnet").backbone
    channels = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    convolutions = sum(9 * i * o + o for i, o in zip([3] + channels[:-1], channels))
    assert sum(p.numel() for p in encoder.parameters()) == convolutions + 2 * sum(channels)
    assert round(convolutions / 1e6, 1) == 14.7  # the paper's "14.7M" encoder parameters


def test_segnet_small_uses_indices_and_encoder_decoder_does_not(built):
    assert built("segnet_small").use_indices and not built("encoder_decoder").use_indices


@pytest.mark.parametrize("name", ["fcn16s", "fcn8s"])
def test_fcn_skip_scores_start_at_zero(built, name):
    model = built(name)
    skips = [model.score_pool4] + ([model.score_pool3] if name == "fcn8s" else [])
    assert all(not layer.weight.any() and not layer.bias.any() for layer in skips)
    assert not model.upscore.weight.requires_grad  # the final upsampling stays bilinear


@pytest.mark.parametrize("name", ["fcn32s", "fcn16s", "fcn8s"])
def test_fcn_width_scales_every_layer(name):
    model = models.build_model(name, NUM_CLASSES, width=8)
    assert tuple(model.fc6.weight.shape) == (512, 64, 7, 7)  # fc: 64 * width; pool5: 8 * width
    assert tuple(model.fc7.weight.shape) == (512, 512, 1, 1)
    assert tuple(model.score_fr.weight.shape) == (NUM_CLASSES, 512, 1, 1)
    assert model.backbone.features[0].out_channels == 8
    if name != "fcn32s":
        assert model.score_pool4.in_channels == 64
    if name == "fcn8s":
        assert model.score_pool3.in_channels == 32
    with torch.no_grad():
        assert tuple(model.eval()(torch.rand(1, 3, 33, 47)).shape) == (1, NUM_CLASSES, 33, 47)


def test_fcn_imagenet_weights_need_vgg16_width():
    with pytest.raises(ValueError, match="exist only for width 64"):
        models.build_model("fcn8s", NUM_CLASSES, weights="imagenet", width=32)


def test_linear_to_conv_weight_is_equivalent():
    torch.manual_seed(0)
    linear = torch.nn.Linear(4 * 7 * 7, 5)
    feature_map = torch.rand(1, 4, 7, 7)
    conv = torch.nn.functional.conv2d(feature_map, fcn.linear_to_conv_weight(linear.weight, 4, 7), linear.bias)
    torch.testing.assert_close(conv.view(1, 5), linear(feature_map.flatten(1)))
    with pytest.raises(ValueError, match="expected"):
        fcn.linear_to_conv_weight(linear.weight, 3, 7)


def test_unknown_model_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="segnet_small"):
        models.build_model("segnett", NUM_CLASSES)


@pytest.mark.parametrize("bad", [1, 0, 2.5, True])
def test_bad_num_classes_is_refused(bad):
    with pytest.raises(ValueError, match="num_classes"):
        models.segnet_basic(bad)


def test_bad_width_is_refused():
    with pytest.raises(ValueError, match="width"):
        models.segnet_small(NUM_CLASSES, width=0)


def test_article_dropout_rates_are_the_defaults():
    # The article's choice: dropout 0.5 before SegNet's decoder, none in the encoder-decoder.
    assert models.encoder_decoder(NUM_CLASSES, width=4).dropout is None
    assert models.segnet_small(NUM_CLASSES, width=4).dropout.p == 0.5


def test_encoder_decoder_with_dropout_is_random_in_training_only():
    torch.manual_seed(0)
    model = models.build_model("encoder_decoder", NUM_CLASSES, width=4, dropout=0.5)
    assert isinstance(model.dropout, torch.nn.Dropout) and model.dropout.p == 0.5
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert not torch.equal(model.train()(images), model(images))
        torch.testing.assert_close(model.eval()(images), model(images), rtol=0, atol=0)
        # Without dropout the same model is deterministic in training mode too (batch statistics only).
        model.dropout = None
        torch.testing.assert_close(model.train()(images), model(images), rtol=0, atol=0)


def test_segnet_small_without_dropout_has_no_dropout_module():
    model = models.build_model("segnet_small", NUM_CLASSES, width=4, dropout=0)
    assert model.dropout is None
    assert not any(isinstance(module, torch.nn.Dropout) for module in model.modules())
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.train()(images), model(images), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["encoder_decoder", "segnet_small"])
@pytest.mark.parametrize("bad", [1, 1.0, -0.1, float("nan"), True, "0.5"])
def test_bad_dropout_is_refused_with_the_valid_range(name, bad):
    with pytest.raises(ValueError, match=rf"dropout must be a number in \[0, 1\).*got {bad!r}"):
        models.build_model(name, NUM_CLASSES, width=4, dropout=bad)
