"""The U-Net in PyTorch: layout, full-resolution logits at any size, size checks, one tiny training epoch.

Parity with Keras (logits and parameter counts) is in tests/test_convert.py.
"""

import math

import numpy as np
import pytest
import torch

from segdemo.architecture import unet_channels
from segdemo.torch import train, unet

NUM_CLASSES = 3


def test_levels_double_the_width_and_the_decoder_mirrors_them():
    model = unet(NUM_CLASSES, width=4)
    assert unet_channels(4) == (4, 8, 16, 32, 64)
    assert [level.conv2.conv.out_channels for level in model.encoder] == [4, 8, 16, 32]
    assert model.bottleneck.conv2.conv.out_channels == 64
    assert [level.upconv.out_channels for level in model.decoder] == [32, 16, 8, 4]
    # The concatenated skip doubles the channels the first convolution of each decoder level sees.
    assert [level.conv1.conv.in_channels for level in model.decoder] == [64, 32, 16, 8]
    assert model.classifier.out_channels == NUM_CLASSES
    assert train.output_stride(model) == 16


def test_convolutions_have_no_bias_before_their_batch_norm():
    model = unet(NUM_CLASSES, width=4)
    convolutions = [m for name, m in model.named_modules() if name.endswith(".conv")]
    assert len(convolutions) == 2 * (4 + 1 + 4) and all(conv.bias is None for conv in convolutions)


@pytest.mark.parametrize(("height", "width"), [(16, 16), (17, 31), (35, 47), (64, 48)])
def test_logits_have_the_input_size(height, width):
    torch.manual_seed(0)
    model = unet(NUM_CLASSES, width=4).eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 3, height, width))
    assert tuple(logits.shape) == (2, NUM_CLASSES, height, width) and logits.dtype == torch.float32


def test_too_small_input_is_refused():
    with pytest.raises(ValueError, match=r"unet needs inputs of at least 16x16 pixels.*15x40"):
        unet(NUM_CLASSES, width=4)(torch.rand(1, 3, 15, 40))


@pytest.mark.parametrize(("arguments", "match"), [({"width": 0}, "width"), ({"num_classes": 1}, "num_classes")])
def test_bad_arguments_are_refused(arguments, match):
    with pytest.raises(ValueError, match=match):
        unet(**{"num_classes": NUM_CLASSES, **arguments})


def test_classifier_starts_small():
    # UNET_INITIALISATION: classifier normal(0, 0.01), so the first loss is close to log(K).
    torch.manual_seed(0)
    weight = unet(11, width=32).classifier.weight.detach()
    assert 0.007 < float(weight.std()) < 0.013


def test_one_tiny_epoch_trains():
    torch.manual_seed(0)
    model = unet(NUM_CLASSES, width=4)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    masks = rng.integers(0, NUM_CLASSES, (2, 32, 32), dtype=np.uint8)
    before = model.classifier.weight.detach().clone()
    history = train.fit(model, (images, masks), (images, masks), num_classes=NUM_CLASSES, epochs=1, batch_size=2,
                        progress=False)
    assert len(history["train_loss"]) == 1 and math.isfinite(history["train_loss"][0])
    assert 0 <= history["val_mean_iou"][0] <= 1
    assert not torch.equal(before, model.classifier.weight.detach())
