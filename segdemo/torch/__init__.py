"""The PyTorch side of segdemo: NCHW float tensors, like torch.nn.

``segdemo.torch`` and ``segdemo.tensorflow`` expose the same names with the same arguments. Names are
loaded from their modules on first use, so importing this package is cheap and a chapter that uses one
framework never loads the other.
"""

from __future__ import annotations

from segdemo._exports import lazy_exports

# Public name -> module (relative to this package) that defines it.
_EXPORTS: dict[str, str] = {
    # Max pooling that remembers where each maximum came from, and the unpooling that uses it.
    "MaxPoolingWithArgmax2D": "pooling",
    "MaxUnpooling2D": "pooling",
    # FCN's upsampling: transposed convolution initialised to bilinear interpolation.
    "BilinearInitializer": "upsampling",
    "BilinearUpsampling2D": "upsampling",
    # Encoders with the parameter names of torchvision / keras.applications.
    "vgg16": "backbones",
    "vgg16_bn": "backbones",
    "resnet50": "backbones",
    # Segmentation models of the book.
    "encoder_decoder": "models",
    "segnet_small": "models",
    "segnet_basic": "models",
    "segnet": "models",
    "resnet50_segnet": "models",
    "fcn32s": "models",
    "fcn16s": "models",
    "fcn8s": "models",
    "unet": "models",
    "MODEL_BUILDERS": "models",
    "build_model": "models",
    # Training and evaluation.
    "fit": "train",
    "evaluate": "train",
    "predict": "train",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
