"""ResNet50-SegNet (seed 001) as a Keras functional model; mirrors ``segdemo.torch.resnet_segnet``.

ResNet50 (torchvision's architecture, keras.applications' layer names) up to encoder level
``encoder_level`` (3: ``conv4_block6_out``, 1/16, 1024 channels). Without indices, the article's decoder:
3x3 conv 512 + BN, then three times (nearest ``UpSampling2D(2)``, 3x3 conv + BN) with 256, 128, 64
channels (no ReLU, as in the article), a 3x3 ``classifier``, then (``full_resolution``) a bilinear
upsampling to the input size (the article stops at 1/2 for level 3). With ``indices=True`` the encoder's
stride-2 steps become stride-1 steps + index-recording 2x2 max-pools and the decoder unpools each in turn
(3x3 conv + BN to the pool's channels, then ``MaxUnpooling2D``). The images are zero-padded at the
bottom/right to a multiple of the output stride before normalisation and the logits cropped back.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ..architecture import RESNET_SEGNET_DECODER, check_resnet_segnet_options
from .backbones import (
    CheckInputSize,
    CropToReference,
    PadToMultiple,
    batch_norm,
    check_weights_argument,
    load_keras_applications_weights,
    normalisation_for,
    resnet50_stages,
)
from .pooling import MaxUnpooling2D
from .segnets import check_num_classes


@keras.saving.register_keras_serializable(package="segdemo")
class CropToStride(keras.layers.Layer):
    """Crop scores (N, h, w, K) at stride ``stride`` to (ceil(H / stride), ceil(W / stride)) of a reference
    (N, H, W, ...): the article's half-resolution output of an unpadded input."""

    def __init__(self, stride: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.stride = stride

    def call(self, inputs, reference):
        shape = tf.shape(reference)
        return inputs[:, : -(-shape[1] // self.stride), : -(-shape[2] // self.stride), :]

    def compute_output_shape(self, inputs_shape, reference_shape):
        return (inputs_shape[0], None, None, inputs_shape[3])

    def get_config(self) -> dict:
        return {**super().get_config(), "stride": self.stride}


@keras.saving.register_keras_serializable(package="segdemo")
class UpsampleBilinear(keras.layers.Layer):
    """Bilinear upsampling of (N, h, w, C) by an integer ``factor``, half-pixel centres (PyTorch's
    ``interpolate(..., mode="bilinear", align_corners=False)``).

    ``UpSampling2D(interpolation="bilinear")`` cannot be traced with an unknown height and width (Keras 3
    tests the symbolic size as a Python bool inside ``tf.function``), so the size is computed from
    ``tf.shape`` here.
    """

    def __init__(self, factor: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        shape = tf.shape(inputs)
        resized = tf.image.resize(inputs, [shape[1] * self.factor, shape[2] * self.factor], method="bilinear")
        return tf.cast(resized, inputs.dtype)

    def compute_output_shape(self, inputs_shape):
        height, width = (None if side is None else side * self.factor for side in inputs_shape[1:3])
        return (inputs_shape[0], height, width, inputs_shape[3])

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor}


def _conv_bn(x, filters: int, name: str):
    x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv")(x)
    return batch_norm(f"{name}_bn")(x)


def resnet50_segnet(
    num_classes: int,
    *,
    weights: str | None = None,
    encoder_level: int = 3,
    indices: bool = False,
    full_resolution: bool = True,
) -> keras.Model:
    """ResNet50-SegNet of the article (seed 001).

    Args:
        num_classes: number of classes K.
        weights: ``None`` or ``"imagenet"`` (keras.applications' ResNet50, see
            :mod:`segdemo.tensorflow.backbones` for how its v1 weights are mapped).
        encoder_level: where the decoder starts: 2, 3 (the article's, 1/16) or 4.
        indices: give the decoder pooling indices (stride-1 steps + index-recording pools in the encoder).
        full_resolution: logits at the input size (default); False keeps the article's output at
            1/``score_stride`` (1/2 for level 3).

    Returns:
        A ``keras.Model`` from float32 (N, H, W, 3) images in [0, 1] to logits (N, H, W, K), H, W >= the
        output stride; attributes ``output_stride`` (2 ** (encoder_level + 1)) and ``score_stride``.

    Raises:
        ValueError: for a level outside (2, 3, 4), or ``indices`` without ``full_resolution``.
    """
    check_num_classes(num_classes)
    check_weights_argument(weights)
    check_resnet_segnet_options(encoder_level, indices, full_resolution)
    output_stride = 2 ** (encoder_level + 1)
    images = keras.Input(shape=(None, None, 3), name="images")
    x = CheckInputSize(output_stride, "resnet50_segnet", name="check_input_size")(images)
    x = normalisation_for(weights)(PadToMultiple(output_stride, name="pad")(x))
    if indices:
        features, pools = resnet50_stages(x, stages=encoder_level, pool_indices=True)
        x = features[-1]
        for number, (pool_indices, before) in enumerate(reversed(pools), start=1):
            x = _conv_bn(x, before.shape[-1], f"decoder_conv{number}")
            x = MaxUnpooling2D(2, 2, name=f"decoder_unpool{number}")(x, pool_indices, before)
        scores = keras.layers.Conv2D(num_classes, 3, padding="same", name="classifier")(x)
        score_stride = 1
    else:
        x = resnet50_stages(x, stages=encoder_level)[-1]
        for number, filters in enumerate(RESNET_SEGNET_DECODER, start=1):
            if number > 1:
                x = keras.layers.UpSampling2D(2, name=f"decoder_upsample{number}")(x)
            x = _conv_bn(x, filters, f"decoder_conv{number}")
        scores = keras.layers.Conv2D(num_classes, 3, padding="same", name="classifier")(x)
        score_stride = output_stride // 8
        if full_resolution and score_stride > 1:
            scores = UpsampleBilinear(score_stride, name="upsample_logits")(scores)
    if full_resolution:
        logits = CropToReference(name="crop")(scores, images)
    else:
        logits = CropToStride(score_stride, name="crop")(scores, images)
    model = keras.Model(images, logits, name="resnet50_segnet")
    model.output_stride = output_stride
    model.score_stride = score_stride
    if weights == "imagenet":
        load_keras_applications_weights(model, "resnet50")
    return model
