"""FCN-32s, FCN-16s and FCN-8s {cite}`long2015fcn` on a VGG16 encoder, in PyTorch.

VGG16's classifier becomes convolutions (fc6: 7x7, 4096; fc7: 1x1, 4096; each ReLU + dropout 0.5), a 1x1
``score_fr`` gives class scores at 1/32, and bilinear-initialised transposed convolutions upsample them.
FCN-16s adds scores of pool4 (``score_pool4``), FCN-8s also of pool3 (``score_pool3``); both skip layers
start at zero as in the paper, so training starts from the coarser net's prediction.

Alignment: instead of the paper's 100-pixel input padding and crop offsets, the input is zero-padded at the
bottom/right to a multiple of 32 (after normalisation), so every skip aligns exactly, and the logits are
cropped back to the input size: any input of at least 32x32 gives logits of exactly its size.
fc6 uses 7x7 ``same`` padding on the pool5 map (a 1x1 pool5 map works: it sees zeros around it).

Initialisation (for training from scratch; ImageNet weights replace it): He-normal convolutions as in
torchvision's VGG, ``score_fr`` normal(0, 0.01), identical in distribution to the Keras FCNs.

``width`` narrows every layer for CPUs: the first block gets ``width`` channels instead of VGG16's 64 and
fc6/fc7 ``64 * width`` instead of 4096 (:mod:`segdemo.architecture`); ImageNet weights exist only at 64.

Mirrors ``segdemo.tensorflow.fcn``; the encoder uses torchvision's ``vgg16`` names, the rest the names
above (Keras layers of the same names).
"""

from __future__ import annotations

import torch
from torch import nn

from ..architecture import FCN_VARIANTS, SCORE_INIT_STD, VGG16_WIDTH, check_pretrained_width, fcn_channels
from .backbones import (
    VGG16Encoder,
    check_input_size,
    check_weights_argument,
    load_torchvision_weights,
    pad_to_multiple,
)
from .segnets import check_num_classes
from .upsampling import BilinearUpsampling2D


class FCN(nn.Module):
    """FCN on VGG16; ``variant`` is the stride of the final upsampling (32, 16 or 8).

    Attributes:
        backbone: :class:`~segdemo.torch.backbones.VGG16Encoder` (torchvision ``vgg16`` names).
        output_stride: 32 (the coarsest map, pool5).
    """

    output_stride = 32

    def __init__(self, num_classes: int, variant: int, backbone: VGG16Encoder) -> None:
        super().__init__()
        if variant not in FCN_VARIANTS:
            raise ValueError(f"variant must be one of {FCN_VARIANTS}, got {variant!r}.")
        self.variant = variant
        self.name = f"fcn{variant}s"
        self.backbone = backbone
        width = backbone.width
        pool5_channels, fc_channels = 8 * width, fcn_channels(width)
        self.fc6 = nn.Conv2d(pool5_channels, fc_channels, kernel_size=7, padding=3)
        self.fc7 = nn.Conv2d(fc_channels, fc_channels, kernel_size=1)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(0.5)
        self.score_fr = nn.Conv2d(fc_channels, num_classes, kernel_size=1)
        if variant <= 16:
            self.score_pool4 = _zero_conv(8 * width, num_classes)
            self.upscore2 = BilinearUpsampling2D(num_classes, 2)
        if variant == 8:
            self.score_pool3 = _zero_conv(4 * width, num_classes)
            self.upscore_pool4 = BilinearUpsampling2D(num_classes, 2)
        # The paper fixes the final upsampling to bilinear interpolation.
        self.upscore = BilinearUpsampling2D(num_classes, variant, trainable=False)
        self._initialise()

    def _initialise(self) -> None:
        """segdemo.architecture.FCN_INITIALISATION, the same in Keras: PyTorch's default would stall from scratch."""
        for convolution in [m for m in self.backbone.modules() if isinstance(m, nn.Conv2d)] + [self.fc6, self.fc7]:
            nn.init.kaiming_normal_(convolution.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(convolution.bias)
        nn.init.normal_(self.score_fr.weight, std=SCORE_INIT_STD)
        nn.init.zeros_(self.score_fr.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Args:
            images: float32 (N, 3, H, W) in [0, 1], H and W >= 32.

        Returns:
            Logits float32 (N, num_classes, H, W).
        """
        check_input_size(images, self.output_stride, self.name)
        height, width = images.shape[-2:]
        x = pad_to_multiple(self.backbone.normalise(images), self.output_stride)
        pools = []
        for block in self.backbone.stage_blocks():
            x = nn.functional.max_pool2d(block(x), kernel_size=2, stride=2)
            pools.append(x)
        x = self.dropout(self.relu(self.fc6(pools[4])))
        x = self.dropout(self.relu(self.fc7(x)))
        scores = self.score_fr(x)
        if self.variant <= 16:
            scores = self.upscore2(scores) + self.score_pool4(pools[3])
        if self.variant == 8:
            scores = self.upscore_pool4(scores) + self.score_pool3(pools[2])
        return self.upscore(scores)[:, :, :height, :width]

    def load_torchvision_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load torchvision's ``vgg16`` weights: ``features.*`` into the encoder, the first two classifier
        layers into fc6/fc7 reshaped into convolutions (FCN's "convolutionalisation")."""
        self.backbone.load_torchvision_state_dict(state_dict)
        with torch.no_grad():
            self.fc6.weight.copy_(linear_to_conv_weight(state_dict["classifier.0.weight"], 512, 7))
            self.fc6.bias.copy_(state_dict["classifier.0.bias"])
            self.fc7.weight.copy_(linear_to_conv_weight(state_dict["classifier.3.weight"], 4096, 1))
            self.fc7.bias.copy_(state_dict["classifier.3.bias"])


def linear_to_conv_weight(weight: torch.Tensor, in_channels: int, kernel_size: int) -> torch.Tensor:
    """Reshape a fully connected weight on a flattened (C, k, k) map into a k x k convolution weight.

    Args:
        weight: float32 (out, C * k * k), flattened channel-major like ``torch.flatten`` of NCHW.
        in_channels: C.
        kernel_size: k.

    Returns:
        float32 (out, C, k, k): the convolution gives the same numbers on a k x k map.

    Raises:
        ValueError: if the sizes do not match.
    """
    if weight.dim() != 2 or weight.shape[1] != in_channels * kernel_size**2:
        raise ValueError(
            f"weight of shape {tuple(weight.shape)} does not flatten a ({in_channels}, {kernel_size}, "
            f"{kernel_size}) map; expected (out, {in_channels * kernel_size**2})."
        )
    return weight.reshape(weight.shape[0], in_channels, kernel_size, kernel_size)


def _zero_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def _fcn(num_classes: int, variant: int, weights: str | None, width: int) -> FCN:
    check_num_classes(num_classes)
    check_weights_argument(weights)
    check_pretrained_width(weights, width, f"fcn{variant}s")
    model = FCN(num_classes, variant, VGG16Encoder(width=width))
    if weights == "imagenet":
        state_dict = load_torchvision_weights("vgg16")
        if state_dict is not None:
            model.load_torchvision_state_dict(state_dict)
    return model


def fcn32s(num_classes: int, *, weights: str | None = None, width: int = VGG16_WIDTH) -> FCN:
    """FCN-32s: class scores at 1/32 upsampled 32x in one step.

    Args:
        num_classes: number of classes K.
        weights: ``None`` or ``"imagenet"`` (torchvision's VGG16: encoder and fc6/fc7; width 64 only).
        width: channels of the first block (VGG16: 64); fc6/fc7 get ``64 * width``.

    Returns:
        A module mapping float32 (N, 3, H, W) images in [0, 1] to logits (N, K, H, W), H, W >= 32.
    """
    return _fcn(num_classes, 32, weights, width)


def fcn16s(num_classes: int, *, weights: str | None = None, width: int = VGG16_WIDTH) -> FCN:
    """FCN-16s: FCN-32s' scores upsampled 2x, plus pool4's scores, upsampled 16x. Arguments as :func:`fcn32s`."""
    return _fcn(num_classes, 16, weights, width)


def fcn8s(num_classes: int, *, weights: str | None = None, width: int = VGG16_WIDTH) -> FCN:
    """FCN-8s: FCN-16s' fused scores upsampled 2x, plus pool3's scores, upsampled 8x. Arguments as :func:`fcn32s`."""
    return _fcn(num_classes, 8, weights, width)
