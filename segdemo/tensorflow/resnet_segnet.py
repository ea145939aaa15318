"""ResNet50-SegNet (seed 001) as a Keras functional model; mirrors ``segdemo.torch.resnet_segnet``.

ResNet50 (torchvision's architecture, keras.applications' layer names) up to ``conv4_block6_out`` (1/16,
1024 channels); decoder: 3x3 conv 512 + BN, then three times (nearest ``UpSampling2D(2)``, 3x3 conv + BN)
with 256, 128, 64 channels (no ReLU, as in the article); a 3x3 ``classifier``; then a bilinear 2x
upsampling so the logits have the full input size (the article stops at half resolution). The images are
zero-padded at the bottom/right to a multiple of 16 before normalisation and the logits cropped back.
"""

from __future__ import annotations

import keras

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
from .segnets import check_num_classes


def resnet50_segnet(num_classes: int, *, weights: str | None = None) -> keras.Model:
    """ResNet50-SegNet of the article (seed 001), with logits at the full input resolution.

    Args:
        num_classes: number of classes K.
        weights: ``None`` or ``"imagenet"`` (keras.applications' ResNet50, see
            :mod:`segdemo.tensorflow.backbones` for how its v1 weights are mapped).

    Returns:
        A ``keras.Model`` from float32 (N, H, W, 3) images in [0, 1] to logits (N, H, W, K), H, W >= 16;
        ``output_stride`` is 16.
    """
    check_num_classes(num_classes)
    check_weights_argument(weights)
    images = keras.Input(shape=(None, None, 3), name="images")
    x = CheckInputSize(16, "resnet50_segnet", name="check_input_size")(images)
    x = normalisation_for(weights)(PadToMultiple(16, name="pad")(x))
    x = resnet50_stages(x, stages=3)[-1]
    for number, filters in enumerate((512, 256, 128, 64), start=1):
        if number > 1:
            x = keras.layers.UpSampling2D(2, name=f"decoder_upsample{number}")(x)
        x = keras.layers.Conv2D(filters, 3, padding="same", name=f"decoder_conv{number}_conv")(x)
        x = batch_norm(f"decoder_conv{number}_bn")(x)
    scores = keras.layers.Conv2D(num_classes, 3, padding="same", name="classifier")(x)
    scores = keras.layers.UpSampling2D(2, interpolation="bilinear", name="upsample_logits")(scores)
    logits = CropToReference(name="crop")(scores, images)
    model = keras.Model(images, logits, name="resnet50_segnet")
    model.output_stride = 16
    if weights == "imagenet":
        load_keras_applications_weights(model, "resnet50")
    return model
