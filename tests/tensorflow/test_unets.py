"""The U-Net in Keras: layout, full-resolution logits at any size, size checks, one tiny training epoch.

Parity with PyTorch (logits and parameter counts) is in tests/test_convert.py.
"""

import math

import keras
import numpy as np
import pytest

from segdemo.tensorflow import train, unet

NUM_CLASSES = 3


def test_levels_double_the_width_and_the_decoder_mirrors_them():
    model = unet(NUM_CLASSES, width=4)
    assert [model.get_layer(f"encoder_{level}_conv2_conv").filters for level in range(4)] == [4, 8, 16, 32]
    assert model.get_layer("bottleneck_conv2_conv").filters == 64
    assert [model.get_layer(f"decoder_{level}_upconv").filters for level in range(4)] == [32, 16, 8, 4]
    # The concatenated skip doubles the channels the first convolution of each decoder level sees.
    kernels = [model.get_layer(f"decoder_{level}_conv1_conv").kernel for level in range(4)]
    assert [kernel.shape[2] for kernel in kernels] == [64, 32, 16, 8]
    assert model.get_layer("classifier").filters == NUM_CLASSES
    assert model.output_stride == 16 and model.input_shape == (None, None, None, 3)


def test_convolutions_have_no_bias_and_batch_norms_use_pytorchs_epsilon():
    model = unet(NUM_CLASSES, width=4)
    convolutions = [layer for layer in model.layers if layer.name.endswith("_conv")]
    assert len(convolutions) == 2 * (4 + 1 + 4) and not any(layer.use_bias for layer in convolutions)
    batch_norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(batch_norms) == len(convolutions) and all(layer.epsilon == 1e-5 for layer in batch_norms)


@pytest.mark.parametrize(("height", "width"), [(16, 16), (17, 31), (35, 47), (64, 48)])
def test_logits_have_the_input_size(height, width):
    keras.utils.set_random_seed(0)
    model = unet(NUM_CLASSES, width=4)
    logits = model(np.random.default_rng(0).random((2, height, width, 3), dtype=np.float32), training=False)
    assert tuple(logits.shape) == (2, height, width, NUM_CLASSES) and logits.dtype == "float32"


def test_too_small_input_is_refused():
    with pytest.raises(ValueError, match=r"unet needs inputs of at least 16x16 pixels.*15x40"):
        unet(NUM_CLASSES, width=4)(np.zeros((1, 15, 40, 3), np.float32), training=False)


@pytest.mark.parametrize(("arguments", "match"), [({"width": 0}, "width"), ({"num_classes": 1}, "num_classes")])
def test_bad_arguments_are_refused(arguments, match):
    with pytest.raises(ValueError, match=match):
        unet(**{"num_classes": NUM_CLASSES, **arguments})


def test_classifier_starts_small():
    # UNET_INITIALISATION: classifier normal(0, 0.01), so the first loss is close to log(K).
    keras.utils.set_random_seed(0)
    kernel = unet(11, width=32).get_layer("classifier").kernel.numpy()
    assert 0.007 < kernel.std() < 0.013


def test_one_tiny_epoch_trains():
    keras.utils.set_random_seed(0)
    model = unet(NUM_CLASSES, width=4)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    masks = rng.integers(0, NUM_CLASSES, (2, 32, 32), dtype=np.uint8)
    before = model.get_layer("classifier").kernel.numpy().copy()
    history = train.fit(model, (images, masks), (images, masks), num_classes=NUM_CLASSES, epochs=1, batch_size=2,
                        progress=False)
    assert len(history["train_loss"]) == 1 and math.isfinite(history["train_loss"][0])
    assert 0 <= history["val_mean_iou"][0] <= 1
    assert not np.array_equal(before, model.get_layer("classifier").kernel.numpy())
