"""U-Net {cite}`ronneberger2015unet` as a Keras functional model; mirrors ``segdemo.torch.unets``.

Four encoder levels of two 3x3 convolutions (``same`` padding, no bias) + BatchNormalization + ReLU with
``width`` times 1, 2, 4, 8 channels, each followed by a 2x2 max-pool; a bottleneck of two such convolutions
at ``16 * width``; four decoder levels, deepest first, each a 2x2 ``Conv2DTranspose`` (stride 2) halving
the channels, a concatenation with the encoder's map of that level (the skip, which the decoder reads whole,
where SegNet keeps only pooling indices) and two convolutions; a 1x1 ``classifier`` to the logits. See the
PyTorch module's docstring for the layout drawn level by level.

Every weighted layer is named after the PyTorch module path with dots replaced by underscores
(``decoder.0.conv1.bn`` -> ``decoder_0_conv1_bn``), so :func:`segdemo.convert.torch_to_keras` ports weights.
BatchNormalization uses PyTorch's epsilon 1e-5 and momentum (:func:`segdemo.tensorflow.backbones.batch_norm`).

The images are zero-padded at the bottom/right to a multiple of the output stride 16 and the logits cropped
back, so any input of at least 16x16 gives logits of exactly its size. Initialisation as in PyTorch:
:data:`segdemo.architecture.UNET_INITIALISATION`.
"""

from __future__ import annotations

import keras

from ..architecture import SCORE_INIT_STD, UNET_LEVELS, UNET_WIDTH, unet_channels
from .backbones import CheckInputSize, CropToReference, PadToMultiple, batch_norm
from .fcn import he_normal_fan_out
from .segnets import check_num_classes


def _convolution_block(x, filters: int, name: str):
    """3x3 conv (``same``, no bias: the batch norm adds one) -> BatchNormalization -> ReLU.

    Layers ``{name}_conv``, ``{name}_bn``, ``{name}_relu``, as PyTorch's ``{name}.conv`` ...
    """
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer=he_normal_fan_out(),
                            name=f"{name}_conv")(x)
    x = batch_norm(f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def double_convolution(x, filters: int, name: str):
    """One U-Net level: two :func:`_convolution_block` s named ``{name}_conv1`` and ``{name}_conv2``.

    Args:
        x: float32 (N, H, W, C).
        filters: channels of both convolutions.
        name: prefix of the layer names (the PyTorch module path, e.g. ``encoder_0``).

    Returns:
        float32 (N, H, W, filters).
    """
    x = _convolution_block(x, filters, f"{name}_conv1")
    return _convolution_block(x, filters, f"{name}_conv2")


def decoder_level(x, skip, filters: int, name: str):
    """2x2 up-convolution (stride 2) to ``filters``, concatenation with ``skip``, two convolution blocks.

    Args:
        x: float32 (N, h, w, 2 * filters), the coarser map.
        skip: float32 (N, 2h, 2w, filters), the encoder's map at this level.
        filters: channels of the skip, of the up-convolution and of both convolutions.
        name: prefix of the layer names (``decoder_0`` ...).

    Returns:
        float32 (N, 2h, 2w, filters).
    """
    # He-normal on fan_out: Keras and PyTorch both take fan_out = in_channels * 2 * 2 here.
    x = keras.layers.Conv2DTranspose(filters, 2, strides=2, kernel_initializer=he_normal_fan_out(),
                                     name=f"{name}_upconv")(x)
    # Skip first, as PyTorch's torch.cat([skip, upsampled]), so ported weights line up.
    x = keras.layers.Concatenate(axis=-1, name=f"{name}_concatenate")([skip, x])
    return double_convolution(x, filters, name)


def unet(num_classes: int, *, width: int = UNET_WIDTH) -> keras.Model:
    """U-Net {cite}`ronneberger2015unet`, small and with batch normalisation (see the module docstring).

    Args:
        num_classes: number of classes K.
        width: channels of the first level (the paper: 64); levels double it, up to ``16 * width`` in the
            bottleneck. At width 32 and 11 classes the model has 7,763,371 trainable parameters (as in
            PyTorch) and 5,888 non-trainable ones (the batch norms' moving statistics).

    Returns:
        A ``keras.Model`` from float32 (N, H, W, 3) images in [0, 1] to logits (N, H, W, K), H, W >= 16;
        ``output_stride`` is 16.

    Raises:
        ValueError: for ``num_classes`` below 2 or a ``width`` that is not a positive integer.

    Example:
        >>> model = unet(5, width=4)
        >>> tuple(model(np.zeros((1, 35, 47, 3), "float32")).shape), model.output_stride
        ((1, 35, 47, 5), 16)
    """
    check_num_classes(num_classes)
    channels = unet_channels(width)
    output_stride = 2**UNET_LEVELS
    images = keras.Input(shape=(None, None, 3), name="images")
    x = CheckInputSize(output_stride, "unet", name="check_input_size")(images)
    # Padded to a multiple of 16: every pool halves exactly and every up-convolution lands on its skip.
    x = PadToMultiple(output_stride, name="pad")(x)
    skips = []
    for level in range(UNET_LEVELS):
        x = double_convolution(x, channels[level], f"encoder_{level}")
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{level + 1}")(x)
    x = double_convolution(x, channels[-1], "bottleneck")
    for number, level in enumerate(reversed(range(UNET_LEVELS))):
        x = decoder_level(x, skips[level], channels[level], f"decoder_{number}")
    # Small scores at the start: the first loss is close to log(K) whatever the features.
    classifier_initializer = keras.initializers.RandomNormal(stddev=SCORE_INIT_STD)
    scores = keras.layers.Conv2D(num_classes, 1, kernel_initializer=classifier_initializer, name="classifier")(x)
    logits = CropToReference(name="crop")(scores, images)
    model = keras.Model(images, logits, name="unet")
    model.output_stride = output_stride
    return model
