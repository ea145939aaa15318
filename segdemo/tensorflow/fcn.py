"""FCN-32s, FCN-16s and FCN-8s {cite}`long2015fcn` on a VGG16 encoder, as Keras functional models.

Mirrors ``segdemo.torch.fcn`` (see its docstring): fc6 (7x7, 4096) and fc7 (1x1, 4096) as convolutions with
ReLU and dropout 0.5, ``score_fr``, zero-initialised skip scores ``score_pool4`` / ``score_pool3``, and
:class:`~segdemo.tensorflow.upsampling.BilinearUpsampling2D` layers ``upscore2``, ``upscore_pool4`` and the
frozen final ``upscore``. The normalised input is zero-padded at the bottom/right to a multiple of 32 and
the logits are cropped back, so any input of at least 32x32 gives logits of exactly its size. ``width``
narrows every layer as in PyTorch (ImageNet weights exist only at VGG16's 64). Initialisation as in PyTorch
(He-normal convolutions, ``score_fr`` normal(0, 0.01)): :data:`segdemo.architecture.FCN_INITIALISATION`.
"""

from __future__ import annotations

import keras
import numpy as np

from ..architecture import FCN_VARIANTS, SCORE_INIT_STD, VGG16_WIDTH, check_pretrained_width, fcn_channels
from .backbones import (
    CheckInputSize,
    CropToReference,
    PadToMultiple,
    check_weights_argument,
    copy_weights_by_name,
    fetch_keras_application,
    normalisation_for,
    vgg16_block,
)
from .segnets import check_num_classes
from .upsampling import BilinearUpsampling2D


def build_fcn(num_classes: int, variant: int, *, weights: str | None = None, width: int = VGG16_WIDTH) -> keras.Model:
    """FCN on VGG16; ``variant`` is the stride of the final upsampling (32, 16 or 8).

    Args:
        num_classes: number of classes K.
        variant: 32, 16 or 8.
        weights: ``None`` or ``"imagenet"`` (keras.applications' VGG16 with its top: the convolutions,
            and fc1/fc2 reshaped into fc6/fc7; width 64 only).
        width: channels of the first block (VGG16: 64); fc6/fc7 get ``64 * width``.

    Returns:
        A ``keras.Model`` from float32 (N, H, W, 3) images in [0, 1] to logits (N, H, W, K), H, W >= 32;
        ``output_stride`` is 32.
    """
    check_num_classes(num_classes)
    check_weights_argument(weights)
    if variant not in FCN_VARIANTS:
        raise ValueError(f"variant must be one of {FCN_VARIANTS}, got {variant!r}.")
    name = f"fcn{variant}s"
    check_pretrained_width(weights, width, name)
    fc_channels = fcn_channels(width)
    images = keras.Input(shape=(None, None, 3), name="images")
    x = CheckInputSize(32, name, name="check_input_size")(images)
    x = PadToMultiple(32, name="pad")(normalisation_for(weights)(x))
    pools = []
    for stage in range(1, 6):
        x = vgg16_block(x, stage, batch_norm_layers=False, width=width, kernel_initializer=he_normal_fan_out())
        x = keras.layers.MaxPooling2D(2, name=f"block{stage}_pool")(x)
        pools.append(x)
    x = keras.layers.Conv2D(fc_channels, 7, padding="same", activation="relu", kernel_initializer=he_normal_fan_out(),
                            name="fc6")(pools[4])
    x = keras.layers.Dropout(0.5, name="drop6")(x)
    x = keras.layers.Conv2D(fc_channels, 1, activation="relu", kernel_initializer=he_normal_fan_out(), name="fc7")(x)
    x = keras.layers.Dropout(0.5, name="drop7")(x)
    scores = keras.layers.Conv2D(num_classes, 1, kernel_initializer=keras.initializers.RandomNormal(stddev=SCORE_INIT_STD),
                                 name="score_fr")(x)
    if variant <= 16:
        skip = keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros", name="score_pool4")(pools[3])
        scores = keras.layers.Add(name="fuse_pool4")([BilinearUpsampling2D(num_classes, 2, name="upscore2")(scores), skip])
    if variant == 8:
        skip = keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros", name="score_pool3")(pools[2])
        upsampled = BilinearUpsampling2D(num_classes, 2, name="upscore_pool4")(scores)
        scores = keras.layers.Add(name="fuse_pool3")([upsampled, skip])
    # The paper fixes the final upsampling to bilinear interpolation.
    scores = BilinearUpsampling2D(num_classes, variant, trainable=False, name="upscore")(scores)
    logits = CropToReference(name="crop")(scores, images)
    model = keras.Model(images, logits, name=name)
    model.output_stride = 32
    if weights == "imagenet":
        load_fcn_imagenet_weights(model)
    return model


def he_normal_fan_out() -> keras.initializers.Initializer:
    """PyTorch's ``kaiming_normal_(mode="fan_out", nonlinearity="relu")``: normal, variance 2 / (k * k * filters).

    With :data:`segdemo.architecture.SCORE_INIT_STD` for ``score_fr`` this is
    :data:`segdemo.architecture.FCN_INITIALISATION`, the scheme the PyTorch FCNs use too.
    """
    return keras.initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="untruncated_normal")


def dense_to_conv_kernel(kernel: np.ndarray, in_channels: int, kernel_size: int) -> np.ndarray:
    """Reshape a Dense kernel on a flattened (k, k, C) NHWC map into a k x k Conv2D kernel.

    Args:
        kernel: float32 (k * k * C, out), as keras' ``Flatten`` + ``Dense`` store it.
        in_channels: C.
        kernel_size: k.

    Returns:
        float32 (k, k, C, out): the convolution gives the same numbers on a k x k map.

    Raises:
        ValueError: if the sizes do not match.
    """
    if kernel.ndim != 2 or kernel.shape[0] != in_channels * kernel_size**2:
        raise ValueError(
            f"kernel of shape {kernel.shape} does not flatten a ({kernel_size}, {kernel_size}, {in_channels}) "
            f"map; expected ({in_channels * kernel_size**2}, out)."
        )
    return kernel.reshape(kernel_size, kernel_size, in_channels, kernel.shape[1])


def load_fcn_imagenet_weights(model: keras.Model) -> bool:
    """Copy keras.applications' VGG16 (with top) into an FCN: convolutions by name, fc1/fc2 into fc6/fc7.

    Returns:
        True when loaded, False offline (after one printed line).
    """
    source = fetch_keras_application("vgg16", include_top=True)
    if source is None:
        return False
    copy_weights_by_name(source, model)
    fc1_kernel, fc1_bias = source.get_layer("fc1").get_weights()
    fc2_kernel, fc2_bias = source.get_layer("fc2").get_weights()
    model.get_layer("fc6").set_weights([dense_to_conv_kernel(fc1_kernel, 512, 7), fc1_bias])
    model.get_layer("fc7").set_weights([dense_to_conv_kernel(fc2_kernel, 4096, 1), fc2_bias])
    return True


def fcn32s(num_classes: int, *, weights: str | None = None, width: int = VGG16_WIDTH) -> keras.Model:
    """FCN-32s: class scores at 1/32 upsampled 32x in one step. Arguments as :func:`build_fcn`."""
    return build_fcn(num_classes, 32, weights=weights, width=width)


def fcn16s(num_classes: int, *, weights: str | None = None, width: int = VGG16_WIDTH) -> keras.Model:
    """FCN-16s: FCN-32s' scores upsampled 2x plus pool4's scores, upsampled 16x. Arguments as :func:`build_fcn`."""
    return build_fcn(num_classes, 16, weights=weights, width=width)


def fcn8s(num_classes: int, *, weights: str | None = None, width: int = VGG16_WIDTH) -> keras.Model:
    """FCN-8s: FCN-16s' fused scores upsampled 2x plus pool3's scores, upsampled 8x. Arguments as :func:`build_fcn`."""
    return build_fcn(num_classes, 8, weights=weights, width=width)
