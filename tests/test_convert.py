"""Parity: every model of the book, ported PyTorch -> Keras, gives the same logits in inference."""

import keras
import numpy as np
import pytest
import torch

from segdemo.convert import torch_to_keras
from segdemo.tensorflow import models as keras_models
from segdemo.torch import models as torch_models

SMALL_ARGUMENTS = {"encoder_decoder": {"width": 4}, "segnet_small": {"width": 4}, "unet": {"width": 4}}
NUM_CLASSES = 3
TOLERANCE = 1e-4


def randomise(model: torch.nn.Module, images: torch.Tensor) -> None:
    """Non-trivial weights everywhere: He-initialised convolutions (so signals survive 13+ VGG layers and
    the zero-initialised FCN skips contribute), random batch-norm parameters and moving statistics (so
    their port is exercised), and a classifier rescaled so that the logits on ``images`` have unit
    standard deviation (the absolute tolerance then means the same for every model)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d) and not isinstance(module, torch.nn.ConvTranspose2d):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0, (2 / fan_in) ** 0.5, generator=generator)
                if module.bias is not None:
                    module.bias.uniform_(-0.1, 0.1, generator=generator)
            elif isinstance(module, torch.nn.ConvTranspose2d):
                module.weight.add_(torch.rand(module.weight.shape, generator=generator) * 0.1)
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.uniform_(-0.2, 0.2, generator=generator)
                module.running_mean.uniform_(-0.2, 0.2, generator=generator)
                module.running_var.uniform_(0.5, 1.5, generator=generator)
        if hasattr(model, "classifier"):
            model.eval()
            scale = float(model(images).std())
            model.classifier.weight /= scale
            model.classifier.bias /= scale


PARITY_CASES = [(name, SMALL_ARGUMENTS.get(name, {})) for name in sorted(torch_models.MODEL_BUILDERS)]
# The FCNs also at a small width (the committed CPU runs train them at width 32).
PARITY_CASES += [(name, {"width": 8}) for name in ("fcn32s", "fcn16s", "fcn8s")]
# Every option of ResNet50-SegNet (chapter 7): encoder levels, pooling indices, the article's half resolution.
PARITY_CASES += [
    ("resnet50_segnet", arguments)
    for arguments in (
        {"indices": True},
        {"full_resolution": False},
        {"encoder_level": 2},
        {"encoder_level": 4},
        {"encoder_level": 2, "indices": True},
        {"encoder_level": 4, "indices": True},
    )
]
# The article's two models at one dropout rate (chapter 5): dropout has no weights and is off in inference.
PARITY_CASES += [("encoder_decoder", {"width": 4, "dropout": 0.5}), ("segnet_small", {"width": 4, "dropout": 0.0})]
PARITY_IDS = [name + "".join(f"-{key}{value}" for key, value in arguments.items()) for name, arguments in PARITY_CASES]


@pytest.mark.parametrize(("name", "arguments"), PARITY_CASES, ids=PARITY_IDS)
def test_ported_keras_model_gives_the_same_logits(name, arguments):
    torch.manual_seed(0)
    torch_model = torch_models.build_model(name, NUM_CLASSES, **arguments)
    images = np.random.default_rng(0).random((2, 35, 33, 3), dtype=np.float32)  # odd sizes on purpose
    randomise(torch_model, torch.from_numpy(images).permute(0, 3, 1, 2))
    torch_model.eval()
    keras.utils.set_random_seed(0)
    keras_model = keras_models.build_model(name, NUM_CLASSES, **arguments)
    ported = torch_to_keras(torch_model, keras_model)
    assert len(ported) == sum(1 for layer in keras_model.layers if layer.weights)

    with torch.no_grad():
        torch_logits = torch_model(torch.from_numpy(images).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    keras_logits = np.asarray(keras_model(images, training=False))
    height, width = (35, 33) if arguments.get("full_resolution", True) else (18, 17)
    assert keras_logits.shape == torch_logits.shape == (2, height, width, NUM_CLASSES)
    # The comparison means something only if the logits vary well above the tolerance.
    assert torch_logits.std() > 1000 * TOLERANCE
    assert np.abs(keras_logits - torch_logits).max() <= TOLERANCE


def test_ported_unet_gives_the_same_logits_at_another_odd_size():
    # 35x47 pads to 48x48 in both frameworks; width 8 so every decoder level sees distinct skip channels.
    torch.manual_seed(0)
    torch_model = torch_models.unet(NUM_CLASSES, width=8)
    images = np.random.default_rng(1).random((2, 35, 47, 3), dtype=np.float32)
    randomise(torch_model, torch.from_numpy(images).permute(0, 3, 1, 2))
    torch_model.eval()
    keras_model = keras_models.unet(NUM_CLASSES, width=8)
    torch_to_keras(torch_model, keras_model)
    with torch.no_grad():
        torch_logits = torch_model(torch.from_numpy(images).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    keras_logits = np.asarray(keras_model(images, training=False))
    assert keras_logits.shape == torch_logits.shape == (2, 35, 47, NUM_CLASSES)
    assert torch_logits.std() > 1000 * TOLERANCE
    assert np.abs(keras_logits - torch_logits).max() <= TOLERANCE


def unet_parameter_count(width: int, num_classes: int) -> tuple[int, int]:
    """(trainable, batch-norm moving statistics) of the U-Net, counted from its layout by hand."""
    channels = [width * 2**level for level in range(5)]
    trainable, batch_norm_channels = 0, 0
    for in_channels, out_channels in zip([3, *channels[:-1]], channels):  # encoder levels and bottleneck
        trainable += 9 * in_channels * out_channels + 9 * out_channels * out_channels  # two 3x3 convs, no bias
        batch_norm_channels += 2 * out_channels
    for in_channels, out_channels in zip(channels[:0:-1], channels[-2::-1]):  # decoder levels, deepest first
        trainable += 4 * in_channels * out_channels + out_channels  # 2x2 up-convolution with bias
        trainable += 9 * 2 * out_channels * out_channels + 9 * out_channels * out_channels  # after the concat
        batch_norm_channels += 2 * out_channels
    trainable += width * num_classes + num_classes  # 1x1 classifier
    return trainable + 2 * batch_norm_channels, 2 * batch_norm_channels


@pytest.mark.parametrize("width", [4, 8, 32])
def test_unet_parameter_counts_agree_and_follow_the_width(width):
    trainable, moving_statistics = unet_parameter_count(width, 11)
    torch_model = torch_models.unet(11, width=width)
    keras_model = keras_models.unet(11, width=width)
    assert sum(parameter.numel() for parameter in torch_model.parameters()) == trainable
    assert sum(int(np.prod(weight.shape)) for weight in keras_model.trainable_weights) == trainable
    assert keras_model.count_params() == trainable + moving_statistics
    if width == 32:
        assert trainable == 7_763_371  # the number the builders' docstrings state


def test_mismatching_widths_name_the_first_layer():
    with pytest.raises(ValueError, match="encoder_0_conv1_conv"):
        torch_to_keras(torch_models.segnet_small(NUM_CLASSES, width=4), keras_models.segnet_small(NUM_CLASSES, width=2))


def test_different_architectures_name_the_missing_layer():
    with pytest.raises(ValueError, match="input_norm"):
        torch_to_keras(torch_models.segnet_basic(NUM_CLASSES), keras_models.segnet_small(NUM_CLASSES, width=2))


def test_keras_layers_left_without_weights_are_reported():
    torch_model = torch.nn.Sequential()
    torch_model.add_module("classifier", torch.nn.Conv2d(3, 2, 1))
    images = keras.Input(shape=(None, None, 3))
    x = keras.layers.Conv2D(2, 1, name="classifier")(images)
    keras_model = keras.Model(images, keras.layers.Conv2D(2, 1, name="extra")(x))
    with pytest.raises(ValueError, match="extra"):
        torch_to_keras(torch_model, keras_model)


def test_batch_norm_epsilon_must_match():
    torch_model = torch.nn.Sequential()
    torch_model.add_module("bn", torch.nn.BatchNorm2d(3))
    images = keras.Input(shape=(None, None, 3))
    keras_model = keras.Model(images, keras.layers.BatchNormalization(name="bn")(images))  # Keras eps 1e-3
    with pytest.raises(ValueError, match="epsilon"):
        torch_to_keras(torch_model, keras_model)


def test_linear_layers_are_transposed():
    torch.manual_seed(0)
    torch_model = torch.nn.Sequential()
    torch_model.add_module("dense", torch.nn.Linear(4, 2))
    inputs = keras.Input(shape=(4,))
    keras_model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs))
    torch_to_keras(torch_model, keras_model)
    values = np.random.default_rng(0).random((3, 4), dtype=np.float32)
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(values)).numpy()
    np.testing.assert_allclose(np.asarray(keras_model(values)), expected, atol=1e-6)
