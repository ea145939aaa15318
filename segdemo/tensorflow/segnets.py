"""The encoder-decoders of the book in Keras: without indices, SegNet (small, Basic, VGG16-BN).

Mirrors ``segdemo.torch.segnets``: same architectures, and every weighted layer is named after the PyTorch
module path with dots replaced by underscores (``encoder.0.conv1.conv`` -> ``encoder_0_conv1_conv``;
VGG16-BN layers use keras.applications' names), so :func:`segdemo.convert.torch_to_keras` ports weights.
Models are functional ``keras.Model`` s on ``Input(shape=(None, None, 3))``: any size >= the output stride,
odd sizes included (unpooling and upsampling restore each pre-pool size exactly).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras

from ..architecture import article_dropout, check_width
from .backbones import (
    CheckInputSize,
    UpsampleNearestTo,
    batch_norm,
    check_weights_argument,
    load_keras_applications_weights,
    normalisation_for,
    vgg16_block,
)
from .pooling import MaxPoolingWithArgmax2D, MaxUnpooling2D


def check_num_classes(num_classes: int) -> None:
    """Raise ValueError unless ``num_classes`` is an integer >= 2."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}.")


def conv_block(x, filters: int, kernel_size: int, name: str, *, relu: bool = True):
    """Conv (``same``) -> BatchNormalization -> ReLU, layers ``{name}_conv``, ``{name}_bn``, ``{name}_relu``."""
    x = keras.layers.Conv2D(filters, kernel_size, padding="same", name=f"{name}_conv")(x)
    x = batch_norm(f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def stage(channels: Sequence[int], name: str, kernel_size: int = 3, *, relu: bool = True) -> Callable:
    """A function applying consecutive :func:`conv_block` s named ``{name}_conv1``, ``{name}_conv2``..."""

    def apply(x):
        for number, filters in enumerate(channels, start=1):
            x = conv_block(x, filters, kernel_size, f"{name}_conv{number}", relu=relu)
        return x

    return apply


def pooled_encoder_decoder(
    num_classes: int,
    encoder: Sequence[Callable],
    decoder: Sequence[Callable],
    *,
    classifier_kernel: int,
    use_indices: bool,
    bottleneck: Callable | None = None,
    dropout: float = 0.0,
    input_norm: Callable | None = None,
    name: str,
) -> keras.Model:
    """Encoder blocks + 2x2 max-pools, optional bottleneck and dropout, upsampling + decoder blocks, classifier.

    The Keras twin of ``segdemo.torch.segnets.PooledEncoderDecoder``.

    Args:
        num_classes: number of classes K.
        encoder: functions applying each encoder block (each is followed by a max-pool).
        decoder: functions applying each decoder block, the first after undoing the *last* pool.
        classifier_kernel: kernel size of the final convolution (``classifier``).
        use_indices: max-unpool with pooling indices (SegNet) instead of nearest upsampling.
        bottleneck: block between the last pool and the first upsampling.
        dropout: rate of the dropout before the decoder (0 for none).
        input_norm: function applied to the images first.
        name: the model's name, used in error messages.

    Returns:
        A ``keras.Model`` from float32 (N, H, W, 3) to logits (N, H, W, K), with ``output_stride``.
    """
    output_stride = 2 ** len(decoder)
    images = keras.Input(shape=(None, None, 3), name="images")
    x = CheckInputSize(output_stride, name, name="check_input_size")(images)
    if input_norm is not None:
        x = input_norm(x)
    skips = []
    for number, block in enumerate(encoder, start=1):
        x = block(x)
        before_pool = x
        if use_indices:
            x, indices = MaxPoolingWithArgmax2D(2, 2, name=f"pool{number}")(x)
        else:
            x, indices = keras.layers.MaxPooling2D(2, name=f"pool{number}")(x), None
        skips.append((before_pool, indices))
    if bottleneck is not None:
        x = bottleneck(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    for number, (block, (before_pool, indices)) in enumerate(zip(decoder, reversed(skips)), start=1):
        if use_indices:
            x = MaxUnpooling2D(2, 2, name=f"unpool{number}")(x, indices, before_pool)
        else:
            x = UpsampleNearestTo(name=f"upsample{number}")(x, before_pool)
        x = block(x)
    logits = keras.layers.Conv2D(num_classes, classifier_kernel, padding="same", name="classifier")(x)
    model = keras.Model(images, logits, name=name)
    model.output_stride = output_stride
    return model


def _article_model(num_classes: int, width: int, use_indices: bool, name: str, dropout: float | None) -> keras.Model:
    check_width(width)
    rate = article_dropout(name, dropout)
    w = width
    encoder_plan = [(w, w), (2 * w, 2 * w), (4 * w,) * 3, (8 * w,) * 3]
    if use_indices:
        decoder_plan = [(4 * w,) * 3, (2 * w,) * 3, (w, w), (w, w)]
    else:
        decoder_plan = [(4 * w,) * 3, (2 * w,) * 3, (2 * w, 2 * w), (w, w)]
    return pooled_encoder_decoder(
        num_classes,
        [stage(channels, f"encoder_{index}") for index, channels in enumerate(encoder_plan)],
        [stage(channels, f"decoder_{index}") for index, channels in enumerate(decoder_plan)],
        classifier_kernel=3,
        use_indices=use_indices,
        bottleneck=stage((8 * w,) * 3, "bottleneck"),
        dropout=rate,
        name=name,
    )


def encoder_decoder(num_classes: int, *, width: int = 32, dropout: float | None = None) -> keras.Model:
    """The SegNet article's VGG16-shaped encoder-decoder *without* pooling indices (seed 000).

    See ``segdemo.torch.segnets.encoder_decoder``: same layers (every conv built, the article's dropped
    first conv restored), nearest upsampling to the exact pre-pool size, logits, output stride 16.

    The article gives this model no dropout but its SegNet (:func:`segnet_small`) ``Dropout(0.5)`` before the
    decoder, so its comparison of the two changes the dropout along with the indices. ``dropout=0.5`` here (or
    ``dropout=0`` there) makes the two differ in the indices alone.

    Args:
        num_classes: number of classes K.
        width: channels of the first block (the article's ``ffc = 32``).
        dropout: rate of the ``Dropout`` layer (named ``dropout``) applied to the bottleneck's output, before the
            decoder (active with ``training=True`` only), a number in [0, 1); 0 builds no such layer.
            ``None``: the article's 0.

    Returns:
        A ``keras.Model`` from float32 (N, H, W, 3) images in [0, 1] to logits (N, H, W, K), H, W >= 16.

    Raises:
        ValueError: a bad ``num_classes``, ``width`` or ``dropout`` (the message names the valid values).

    Example:
        >>> model = encoder_decoder(5, width=4, dropout=0.5)
        >>> tuple(model(np.zeros((1, 33, 47, 3), "float32")).shape), model.get_layer("dropout").rate
        ((1, 33, 47, 5), 0.5)
    """
    check_num_classes(num_classes)
    return _article_model(num_classes, width, False, "encoder_decoder", dropout)


def segnet_small(num_classes: int, *, width: int = 32, dropout: float | None = None) -> keras.Model:
    """The SegNet article's model (seed 000): :func:`encoder_decoder` with pooling indices and (by default) dropout 0.5.

    The article's encoder-decoder has no dropout, so comparing the two as the article does changes the dropout
    along with the indices; ``dropout=0`` here (or ``dropout=0.5`` for :func:`encoder_decoder`) makes the two
    differ in the indices alone.

    Args:
        num_classes: number of classes K.
        width: channels of the first block (the article's ``ffc = 32``).
        dropout: rate of the ``Dropout`` layer (named ``dropout``) applied to the bottleneck's output, before the
            decoder (active with ``training=True`` only), a number in [0, 1); 0 builds no such layer.
            ``None``: the article's 0.5.

    Returns:
        A ``keras.Model`` from float32 (N, H, W, 3) images in [0, 1] to logits (N, H, W, K), H, W >= 16.

    Raises:
        ValueError: a bad ``num_classes``, ``width`` or ``dropout`` (the message names the valid values).
    """
    check_num_classes(num_classes)
    return _article_model(num_classes, width, True, "segnet_small", dropout)


def segnet_basic(num_classes: int) -> keras.Model:
    """SegNet-Basic of the SegNet tutorial {cite}`badrinarayanan2017segnet` (see the PyTorch docstring).

    Four stages of 7x7 conv 64 + BN + ReLU + max-pool with indices; four of max-unpool + 7x7 conv 64 + BN
    (no ReLU); a 1x1 classifier. A BatchNormalization on the input (``input_norm``) replaces the
    tutorial's local contrast normalisation. Output stride 16.

    Args:
        num_classes: number of classes K.

    Returns:
        A ``keras.Model`` from float32 (N, H, W, 3) images in [0, 1] to logits (N, H, W, K), H, W >= 16.
    """
    check_num_classes(num_classes)
    return pooled_encoder_decoder(
        num_classes,
        [stage((64,), f"encoder_{index}", 7) for index in range(4)],
        [stage((64,), f"decoder_{index}", 7, relu=False) for index in range(4)],
        classifier_kernel=1,
        use_indices=True,
        input_norm=batch_norm("input_norm"),
        name="segnet_basic",
    )


def segnet(num_classes: int, *, weights: str | None = None) -> keras.Model:
    """SegNet {cite}`badrinarayanan2017segnet`: VGG16-BN encoder, pooling indices, mirrored decoder.

    Decoder stages (after each max-unpool, 3x3 conv-BN-ReLU): 512x3; 512, 512, 256; 256, 256, 128;
    128, 64; 64; then a 3x3 convolution to logits. Output stride 32.

    Args:
        num_classes: number of classes K.
        weights: ``None`` or ``"imagenet"``: keras.applications has no VGG16-BN, so the encoder's
            convolutions get VGG16's ImageNet weights and its BatchNormalizations stay at identity; the
            input is then normalised the caffe way those weights expect. For torchvision's VGG16-BN
            weights, build the PyTorch model and port it with :func:`segdemo.convert.torch_to_keras`.

    Returns:
        A ``keras.Model`` from float32 (N, H, W, 3) images in [0, 1] to logits (N, H, W, K), H, W >= 32.
    """
    check_num_classes(num_classes)
    check_weights_argument(weights)
    decoder_plan = [(512, 512, 512), (512, 512, 256), (256, 256, 128), (128, 64), (64,)]

    def encoder_block(stage_number: int) -> Callable:
        return lambda x: vgg16_block(x, stage_number, batch_norm_layers=True)

    model = pooled_encoder_decoder(
        num_classes,
        [encoder_block(number) for number in range(1, 6)],
        [stage(channels, f"decoder_{index}") for index, channels in enumerate(decoder_plan)],
        classifier_kernel=3,
        use_indices=True,
        input_norm=normalisation_for(weights),
        name="segnet",
    )
    if weights == "imagenet":
        load_keras_applications_weights(model, "vgg16")
    return model
