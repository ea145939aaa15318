"""Every segmentation model of the book in Keras, and a registry to build them by name.

Builders are keyword-only after ``num_classes`` and mirror ``segdemo.torch.models`` name for name.
Models take float32 (N, H, W, 3) images scaled to [0, 1] and return logits (N, H, W, K) at exactly the
input size (no softmax: the loss applies it); each carries ``output_stride``, the smallest input side.

Example:
    >>> model = build_model("segnet_small", 5, width=4)
    >>> tuple(model(np.zeros((2, 33, 47, 3), "float32")).shape), model.output_stride
    ((2, 33, 47, 5), 16)
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from .fcn import fcn8s, fcn16s, fcn32s
from .resnet_segnet import resnet50_segnet
from .segnets import encoder_decoder, segnet, segnet_basic, segnet_small
from .unets import unet

__all__ = [
    "MODEL_BUILDERS",
    "build_model",
    "encoder_decoder",
    "fcn8s",
    "fcn16s",
    "fcn32s",
    "resnet50_segnet",
    "segnet",
    "segnet_basic",
    "segnet_small",
    "unet",
]

MODEL_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "encoder_decoder": encoder_decoder,
    "segnet_small": segnet_small,
    "segnet_basic": segnet_basic,
    "segnet": segnet,
    "resnet50_segnet": resnet50_segnet,
    "fcn32s": fcn32s,
    "fcn16s": fcn16s,
    "fcn8s": fcn8s,
    "unet": unet,
}


def build_model(name: str, num_classes: int, **kwargs) -> keras.Model:
    """Build the model called ``name`` (a key of :data:`MODEL_BUILDERS`).

    Args:
        name: e.g. ``"segnet_small"``.
        num_classes: number of classes K.
        **kwargs: keyword arguments of that builder (``width``, ``weights``, ``dropout``, ``indices``...).

    Returns:
        The model (``keras.Model``).

    Raises:
        ValueError: for an unknown name (the message lists the valid ones).
    """
    if name not in MODEL_BUILDERS:
        raise ValueError(f"Unknown model {name!r}; choose one of {sorted(MODEL_BUILDERS)}.")
    return MODEL_BUILDERS[name](num_classes, **kwargs)
