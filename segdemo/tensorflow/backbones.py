"""Encoders with keras.applications' layer names: VGG16, VGG16-BN and ResNet50 as Keras 3 functional models.

Each encoder exists twice: a function that applies its layers to a tensor (``vgg16_stages``,
``resnet50_stages``, used inside the segmentation models) and a public builder returning a
``keras.Model`` (``vgg16``, ``vgg16_bn``, ``resnet50``). Layer names are keras.applications' (``block1_conv1``,
``conv4_block6_2_bn``...), so ``weights="imagenet"`` copies keras.applications' weights by name.

Encoder contract: ``encoder(images)`` returns the feature map after every stage. For a (1, 64, 64, 3) input::

    vgg16:     [(1, 32, 32, 64), (1, 16, 16, 128), (1, 8, 8, 256), (1, 4, 4, 512), (1, 2, 2, 512)]
    resnet50:  [(1, 32, 32, 64), (1, 16, 16, 256), (1, 8, 8, 512), (1, 4, 4, 1024), (1, 2, 2, 2048)]

The architectures are torchvision's, so weights port one to one from :mod:`segdemo.torch.backbones`
(:func:`segdemo.convert.torch_to_keras`): BatchNormalization uses ``epsilon=1e-5, momentum=0.9``;
ResNet50 convolutions have no bias and stride in the 3x3 convolution (ResNet "v1.5"), with explicit
symmetric zero padding like PyTorch.

Inputs are float32 (N, H, W, 3) images in [0, 1]. With ``weights=None`` the encoder normalises them like
torchvision (ImageNet mean and standard deviation, RGB), so ported PyTorch weights give the same logits.
With ``weights="imagenet"`` it normalises like keras.applications' ``caffe`` preprocessing (BGR, 0-255
minus the ImageNet mean), which those weights expect. Notes on the ImageNet weights:

* keras.applications has no VGG16-BN: ``vgg16_bn(weights="imagenet")`` loads VGG16's convolutions and
  leaves every BatchNormalization at its initial identity (gamma 1, beta 0, mean 0, variance 1).
* keras.applications' ResNet50 is ResNet v1 (stride in the first 1x1 convolution, convolutions with bias).
  Its kernels are copied into this v1.5 encoder and each bias is folded into the following
  BatchNormalization's moving mean; the stride sits elsewhere, so the features are close to but not those
  of keras.applications' model. For torchvision's exact ImageNet encoder, port the PyTorch model with
  :func:`segdemo.convert.torch_to_keras`.
* Offline the download fails: one line is printed and the model keeps its random initialisation.
"""

from __future__ import annotations

import sys
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..architecture import VGG16_WIDTH, vgg16_stages
from .pooling import MaxPoolingWithArgmax2D

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# keras.applications' "caffe" preprocessing: BGR channel means on a 0-255 scale.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

RESNET50_LAYERS: tuple[tuple[int, int, int], ...] = ((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2))

BATCH_NORM_ARGUMENTS = {"epsilon": 1e-5, "momentum": 0.9}  # PyTorch's defaults, so ports are exact


def batch_norm(name: str) -> keras.layers.BatchNormalization:
    """A BatchNormalization with PyTorch's epsilon and momentum."""
    return keras.layers.BatchNormalization(name=name, **BATCH_NORM_ARGUMENTS)


def check_weights_argument(weights: str | None) -> None:
    """Raise ValueError unless ``weights`` is ``None`` or ``"imagenet"``."""
    if weights not in (None, "imagenet"):
        raise ValueError(f"weights must be None or 'imagenet', got {weights!r}.")


@keras.saving.register_keras_serializable(package="segdemo")
class Normalise(keras.layers.Layer):
    """Per-channel ``(x - mean) / std`` on NHWC images, optionally reversing RGB to BGR first.

    Args:
        mean: three floats (in the [0, 1] scale of the input).
        std: three floats.
        bgr: reverse the channel order before normalising (keras.applications' caffe weights).
    """

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD, bgr: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mean = tuple(float(value) for value in mean)
        self.std = tuple(float(value) for value in std)
        self.bgr = bool(bgr)

    def call(self, images):
        if self.bgr:
            images = images[..., ::-1]
        mean = tf.constant(self.mean, dtype=images.dtype)
        std = tf.constant(self.std, dtype=images.dtype)
        return (images - mean) / std

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mean": self.mean, "std": self.std, "bgr": self.bgr}


def normalisation_for(weights: str | None, name: str = "normalise") -> Normalise:
    """torchvision's normalisation for random/ported weights, caffe's for keras.applications' weights."""
    if weights == "imagenet":
        return Normalise(tuple(m / 255.0 for m in CAFFE_MEAN_BGR), (1 / 255.0,) * 3, bgr=True, name=name)
    return Normalise(name=name)


@keras.saving.register_keras_serializable(package="segdemo")
class CheckInputSize(keras.layers.Layer):
    """Identity that raises ValueError when the image side is below ``minimum`` (or the shape is not NHWC).

    Args:
        minimum: the smallest side the model supports (its output stride).
        model_name: named in the message.
    """

    def __init__(self, minimum: int, model_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum = int(minimum)
        self.model_name = model_name

    def _check(self, shape) -> None:
        if len(shape) != 4 or (shape[-1] is not None and shape[-1] != 3):
            raise ValueError(
                f"{self.model_name} expects float images (N, H, W, 3) (NHWC), got shape {tuple(shape)}."
            )
        height, width = shape[1], shape[2]
        if (height is not None and height < self.minimum) or (width is not None and width < self.minimum):
            raise ValueError(
                f"{self.model_name} needs inputs of at least {self.minimum}x{self.minimum} pixels (its output "
                f"stride), got {height}x{width}; resize or pad the images."
            )

    def call(self, images):
        self._check(tuple(images.shape))
        return images

    def compute_output_shape(self, input_shape):
        self._check(tuple(input_shape))
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "minimum": self.minimum, "model_name": self.model_name}


@keras.saving.register_keras_serializable(package="segdemo")
class PadToMultiple(keras.layers.Layer):
    """Zero-pad the bottom and right of (N, H, W, C) so that H and W are multiples of ``multiple``."""

    def __init__(self, multiple: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def call(self, inputs):
        shape = tf.shape(inputs)
        pad_height = -shape[1] % self.multiple
        pad_width = -shape[2] % self.multiple
        return tf.pad(inputs, [[0, 0], [0, pad_height], [0, pad_width], [0, 0]])

    def compute_output_shape(self, input_shape):
        def padded(size):
            return None if size is None else size + (-size % self.multiple)

        return (input_shape[0], padded(input_shape[1]), padded(input_shape[2]), input_shape[3])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="segdemo")
class CropToReference(keras.layers.Layer):
    """Crop (N, H', W', C) to the top-left (H, W) of a reference tensor (N, H, W, ...)."""

    def call(self, inputs, reference):
        shape = tf.shape(reference)
        return inputs[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, inputs_shape, reference_shape):
        return (inputs_shape[0], reference_shape[1], reference_shape[2], inputs_shape[3])


@keras.saving.register_keras_serializable(package="segdemo")
class UpsampleNearestTo(keras.layers.Layer):
    """Nearest-neighbour 2x upsampling that lands exactly on a reference's (H, W), odd sizes included.

    Output pixel (y, x) copies input pixel (min(y // 2, h - 1), min(x // 2, w - 1)): ``UpSampling2D(2)``
    followed by repeating the last row/column when the pre-pool size was odd.

    Call:
        inputs: float32 (N, h, w, C).
        reference: a tensor (N, H, W, ...) with the target size (the map before the matching max-pool).
    """

    def call(self, inputs, reference):
        input_shape, target_shape = tf.shape(inputs), tf.shape(reference)
        rows = tf.minimum(tf.range(target_shape[1]) // 2, input_shape[1] - 1)
        columns = tf.minimum(tf.range(target_shape[2]) // 2, input_shape[2] - 1)
        return tf.gather(tf.gather(inputs, rows, axis=1), columns, axis=2)

    def compute_output_shape(self, inputs_shape, reference_shape):
        return (inputs_shape[0], reference_shape[1], reference_shape[2], inputs_shape[3])


def vgg16_block(
    x, stage: int, *, batch_norm_layers: bool, width: int = VGG16_WIDTH, kernel_initializer: Any = "glorot_uniform"
):
    """Apply VGG16(-BN)'s convolution block ``stage`` (1-5) to ``x``, without its max-pool.

    Layer names: ``block{stage}_conv{i}`` (keras.applications) and, with ``batch_norm_layers``,
    ``block{stage}_bn{i}``. The caller pools (plain max-pool, or with indices for SegNet). ``width``
    scales the channels (:func:`segdemo.architecture.vgg16_stages`; VGG16: 64); ``kernel_initializer``
    initialises the convolutions (Keras' default unless given).
    """
    for number, filters in enumerate(vgg16_stages(width)[stage - 1], start=1):
        x = keras.layers.Conv2D(filters, 3, padding="same", kernel_initializer=kernel_initializer,
                                name=f"block{stage}_conv{number}")(x)
        if batch_norm_layers:
            x = batch_norm(f"block{stage}_bn{number}")(x)
        x = keras.layers.ReLU(name=f"block{stage}_relu{number}")(x)
    return x


def _vgg_model(batch_norm_layers: bool, weights: str | None, name: str) -> keras.Model:
    images = keras.Input(shape=(None, None, 3), name="images")
    x = CheckInputSize(32, name, name="check_input_size")(images)
    x = normalisation_for(weights)(x)
    outputs = []
    for stage in range(1, 6):
        x = vgg16_block(x, stage, batch_norm_layers=batch_norm_layers)
        x = keras.layers.MaxPooling2D(2, name=f"block{stage}_pool")(x)
        outputs.append(x)
    model = keras.Model(images, outputs, name=name)
    model.output_stride = 32
    if weights == "imagenet":
        load_keras_applications_weights(model, "vgg16")
    return model


def vgg16(*, weights: str | None = None) -> keras.Model:
    """VGG16's convolutional encoder {cite}`simonyan2015vgg` with keras.applications' layer names.

    Args:
        weights: ``None`` (random) or ``"imagenet"`` (keras.applications' VGG16 weights).

    Returns:
        A ``keras.Model`` from float32 (N, H, W, 3) images in [0, 1] (H, W >= 32) to the five pooled
        maps; 14,714,688 parameters.
    """
    check_weights_argument(weights)
    return _vgg_model(False, weights, "vgg16")


def vgg16_bn(*, weights: str | None = None) -> keras.Model:
    """VGG16-BN's convolutional encoder (SegNet's), names ``block{b}_conv{i}`` / ``block{b}_bn{i}``.

    Args:
        weights: ``None`` or ``"imagenet"`` (VGG16's convolutions; BN at identity, see the module notes).

    Returns:
        A ``keras.Model`` like :func:`vgg16` with BatchNormalization after every convolution.
    """
    check_weights_argument(weights)
    return _vgg_model(True, weights, "vgg16_bn")


def _bottleneck(x, width: int, stride: int, prefix: str, downsample: bool, pools: list | None = None):
    """One bottleneck block; with ``pools`` (a list) a stride-2 block runs its 3x3 at stride 1 and halves
    with a 2x2 max-pool whose (indices, pre-pool map) it appends to ``pools``."""
    shortcut = x
    if downsample:
        shortcut = keras.layers.Conv2D(width * 4, 1, strides=stride, use_bias=False, name=f"{prefix}_0_conv")(x)
        shortcut = batch_norm(f"{prefix}_0_bn")(shortcut)
    x = keras.layers.Conv2D(width, 1, use_bias=False, name=f"{prefix}_1_conv")(x)
    x = keras.layers.ReLU(name=f"{prefix}_1_relu")(batch_norm(f"{prefix}_1_bn")(x))
    pooled = pools is not None and stride > 1
    conv_stride = 1 if pooled else stride
    if conv_stride > 1:
        # PyTorch pads 1 on every side; Keras "same" with stride 2 would pad only bottom/right.
        x = keras.layers.ZeroPadding2D(1, name=f"{prefix}_2_pad")(x)
    x = keras.layers.Conv2D(
        width, 3, strides=conv_stride, padding="valid" if conv_stride > 1 else "same", use_bias=False,
        name=f"{prefix}_2_conv",
    )(x)
    if pooled:
        x = _pool_with_indices(x, f"{prefix}_2_pool", pools)
    x = keras.layers.ReLU(name=f"{prefix}_2_relu")(batch_norm(f"{prefix}_2_bn")(x))
    x = keras.layers.Conv2D(width * 4, 1, use_bias=False, name=f"{prefix}_3_conv")(x)
    x = batch_norm(f"{prefix}_3_bn")(x)
    x = keras.layers.Add(name=f"{prefix}_add")([x, shortcut])
    return keras.layers.ReLU(name=f"{prefix}_out")(x)


def _pool_with_indices(x, name: str, pools: list):
    pooled, indices = MaxPoolingWithArgmax2D(2, 2, name=name)(x)
    pools.append((indices, x))
    return pooled


def resnet50_stages(x, *, stages: int = 4, pool_indices: bool = False):
    """Apply ResNet50 (torchvision's v1.5) to normalised ``x``: outputs after conv1 and each stage.

    Layer names are keras.applications' (``conv1_conv``, ``conv2_block1_0_conv``...). ``stages`` (1-4)
    is how many residual stages to build (3 stops at 1/16, as ResNet50-SegNet does).

    With ``pool_indices`` every stride-2 step runs at stride 1 and is followed by a 2x2 max-pool that records
    its indices (as ``segdemo.torch.backbones.ResNet50Encoder``), and the result is ``(outputs, pools)``:
    ``pools`` lists (indices, pre-pool map) from 1/2 down. The weights keep their names and shapes.
    """
    if stages not in (1, 2, 3, 4):
        raise ValueError(f"stages must be 1, 2, 3 or 4, got {stages!r}.")
    pools: list | None = [] if pool_indices else None
    stride = 1 if pool_indices else 2
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = keras.layers.Conv2D(64, 7, strides=stride, use_bias=False, name="conv1_conv")(x)
    if pools is not None:
        # Pooled before the batch norm, where values are continuous (no ties), as in PyTorch.
        x = _pool_with_indices(x, "conv1_pool", pools)
    x = keras.layers.ReLU(name="conv1_relu")(batch_norm("conv1_bn")(x))
    outputs = [x]
    # Zero padding equals PyTorch's -inf padding here: the inputs are ReLU outputs (>= 0).
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=stride, name="pool1_pool")(x)
    if pools is not None:
        x = _pool_with_indices(x, "pool1_indices", pools)
    in_channels = 64
    for index, (blocks, width, stride) in enumerate(RESNET50_LAYERS[:stages], start=2):
        for block in range(blocks):
            block_stride = stride if block == 0 else 1
            downsample = block == 0 and (block_stride != 1 or in_channels != width * 4)
            x = _bottleneck(x, width, block_stride, f"conv{index}_block{block + 1}", downsample, pools)
            in_channels = width * 4
        outputs.append(x)
    return (outputs, pools) if pool_indices else outputs


def resnet50(*, weights: str | None = None, stages: int = 4) -> keras.Model:
    """ResNet50's encoder {cite}`he2016resnet` (torchvision's architecture, keras.applications' names).

    Args:
        weights: ``None`` or ``"imagenet"`` (keras.applications' ResNet50 weights, see the module notes).
        stages: how many residual stages to build (4: output stride 32).

    Returns:
        A ``keras.Model`` from float32 (N, H, W, 3) images in [0, 1] to ``stages + 1`` feature maps;
        with 4 stages 23,508,032 parameters (as torchvision's resnet50 without ``fc``).
    """
    check_weights_argument(weights)
    images = keras.Input(shape=(None, None, 3), name="images")
    x = normalisation_for(weights)(images)
    model = keras.Model(images, resnet50_stages(x, stages=stages), name="resnet50")
    model.output_stride = 2 ** (stages + 1)
    if weights == "imagenet":
        load_keras_applications_weights(model, "resnet50")
    return model


# keras.applications builders, looked up lazily so that tests can replace them.
def _keras_application(name: str, include_top: bool) -> keras.Model:
    if name == "vgg16":
        return keras.applications.VGG16(include_top=include_top, weights="imagenet")
    return keras.applications.ResNet50(include_top=False, weights="imagenet")


def fetch_keras_application(name: str, *, include_top: bool = False) -> keras.Model | None:
    """keras.applications' ImageNet model ``name`` (``"vgg16"`` or ``"resnet50"``), or None offline.

    Offline keras raises a bare ``Exception("URL fetch failure ...")``: it is caught and one line says what
    failed and that the model keeps its random initialisation.
    """
    try:
        return _keras_application(name, include_top)
    except Exception as error:  # keras raises a bare Exception for a failed download
        print(
            f"segdemo: could not fetch keras.applications {name} ImageNet weights ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); the model starts from random initialisation. "
            "To use them, run keras.applications once on a machine with internet access and copy "
            "~/.keras/models/ here.",
            file=sys.stderr,
        )
        return None


def copy_weights_by_name(source: keras.Model, target: keras.Model) -> list[str]:
    """Copy every weighted layer of ``source`` into the layer of the same name in ``target``.

    A convolution bias that ``target`` lacks (keras.applications' ResNet50 has biases, torchvision's has
    none) is folded into the following BatchNormalization's moving mean (``conv4_block1_1_conv`` ->
    ``conv4_block1_1_bn``): ``BN(conv + b)`` equals ``BN'(conv)`` with ``mean' = mean - b``. Layers of
    ``target`` with no counterpart keep their values.

    Returns:
        The names of the layers copied.

    Raises:
        ValueError: if a shared layer's weight shapes differ, or a bias has no BatchNormalization to go to.
    """
    target_layers = {layer.name: layer for layer in target.layers}
    copied, biases = [], {}
    for layer in source.layers:
        if not layer.weights or layer.name not in target_layers:
            continue
        values, destination = layer.get_weights(), target_layers[layer.name]
        expected = [tuple(weight.shape) for weight in destination.weights]
        if isinstance(layer, keras.layers.Conv2D) and len(values) == 2 and len(expected) == 1:
            biases[layer.name.replace("_conv", "_bn")] = values.pop()
        if [tuple(np.shape(value)) for value in values] != expected:
            raise ValueError(
                f"Layer {layer.name!r}: source weights {[np.shape(value) for value in values]} do not match "
                f"the target's {expected}."
            )
        destination.set_weights(values)
        copied.append(layer.name)
    # After every BatchNormalization has been copied, fold the biases into their moving means.
    for bn_name, bias in biases.items():
        if bn_name not in target_layers:
            raise ValueError(f"No BatchNormalization {bn_name!r} in the target to fold a convolution bias into.")
        gamma, beta, mean, variance = target_layers[bn_name].get_weights()
        target_layers[bn_name].set_weights([gamma, beta, mean - bias, variance])
    return copied


def load_keras_applications_weights(model: keras.Model, name: str) -> bool:
    """Load keras.applications' ImageNet weights ``name`` into ``model`` by layer name.

    Args:
        model: a model containing the encoder's layers (e.g. a segmentation model).
        name: ``"vgg16"`` or ``"resnet50"``.

    Returns:
        True when weights were loaded, False offline (after one printed line).
    """
    source = fetch_keras_application(name)
    if source is None:
        return False
    copy_weights_by_name(source, model)
    return True
