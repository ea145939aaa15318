"""Every segmentation model of the book in PyTorch, and a registry to build them by name.

Builders are keyword-only after ``num_classes`` and mirror ``segdemo.tensorflow.models`` name for name.
Models take float32 (N, 3, H, W) images scaled to [0, 1] and return logits (N, K, H, W) at exactly the
input size (no softmax: the loss applies it); each carries ``output_stride``, the smallest input side.

Example:
    >>> model = build_model("segnet_small", 5, width=4).eval()
    >>> tuple(model(torch.rand(2, 3, 33, 47)).shape), model.output_stride
    ((2, 5, 33, 47), 16)
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

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

MODEL_BUILDERS: dict[str, Callable[..., nn.Module]] = {
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


def build_model(name: str, num_classes: int, **kwargs) -> nn.Module:
    """Build the model called ``name`` (a key of :data:`MODEL_BUILDERS`).

    Args:
        name: e.g. ``"segnet_small"``.
        num_classes: number of classes K.
        **kwargs: keyword arguments of that builder (``width``, ``weights``, ``dropout``, ``indices``...).

    Returns:
        The model (``nn.Module``).

    Raises:
        ValueError: for an unknown name (the message lists the valid ones).
    """
    if name not in MODEL_BUILDERS:
        raise ValueError(f"Unknown model {name!r}; choose one of {sorted(MODEL_BUILDERS)}.")
    return MODEL_BUILDERS[name](num_classes, **kwargs)
