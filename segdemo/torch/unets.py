"""U-Net {cite}`ronneberger2015unet` in PyTorch, made small, with batch normalisation as is usual today.

Layout (``w`` = ``width``, channels from :func:`segdemo.architecture.unet_channels`; "block" is a 3x3
convolution, BatchNorm and ReLU)::

    encoder.0   2 blocks,  w   -> skip 0, then 2x2 max-pool
    encoder.1   2 blocks, 2w   -> skip 1, then 2x2 max-pool
    encoder.2   2 blocks, 4w   -> skip 2, then 2x2 max-pool
    encoder.3   2 blocks, 8w   -> skip 3, then 2x2 max-pool
    bottleneck  2 blocks, 16w                                  (1/16 of the padded input)
    decoder.0   2x2 up-convolution (stride 2) to 8w, concatenate skip 3 (8w + 8w), 2 blocks, 8w
    decoder.1   2x2 up-convolution to 4w, concatenate skip 2, 2 blocks, 4w
    decoder.2   2x2 up-convolution to 2w, concatenate skip 1, 2 blocks, 2w
    decoder.3   2x2 up-convolution to  w, concatenate skip 0, 2 blocks, w
    classifier  1x1 convolution to num_classes logits

The skips are what a U-Net keeps in memory between encoder and decoder: whole feature maps, where SegNet
keeps only its pooling indices. The 3x3 convolutions have ``same`` padding and no bias (the batch norm after
each one has its own), so unlike the paper's unpadded convolutions the skips need no cropping.

Sizes: the input is zero-padded at the bottom/right to a multiple of the output stride 16 (so every pool
halves exactly and every up-convolution lands on its skip's size) and the logits are cropped back: any input
of at least 16x16, odd sizes included, gives logits of exactly its size. For a (1, 3, 64, 64) input at
width 32 the skips are (1, 32, 64, 64), (1, 64, 32, 32), (1, 128, 16, 16), (1, 256, 8, 8) and the
bottleneck (1, 512, 4, 4).

Initialisation: :data:`segdemo.architecture.UNET_INITIALISATION`, the same in Keras.

Mirrors ``segdemo.tensorflow.unets``: module ``a.b.c`` here is Keras layer ``a_b_c``, so
:func:`segdemo.convert.torch_to_keras` ports every weight.
"""

from __future__ import annotations

import torch
from torch import nn

from ..architecture import SCORE_INIT_STD, UNET_LEVELS, UNET_WIDTH, unet_channels
from .backbones import check_input_size, pad_to_multiple
from .segnets import check_num_classes


def _convolution_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 conv (``same`` padding, no bias: the batch norm adds one) -> BatchNorm -> ReLU.

    Children are named ``conv``, ``bn``, ``relu`` as in :func:`segdemo.torch.segnets.conv_block`.
    """
    block = nn.Sequential()
    block.add_module("conv", nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False))
    block.add_module("bn", nn.BatchNorm2d(out_channels))
    block.add_module("relu", nn.ReLU(inplace=True))
    return block


def double_convolution(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two :func:`_convolution_block` s named ``conv1`` and ``conv2``: one U-Net level.

    Args:
        in_channels: channels of the input map.
        out_channels: channels of both convolutions.

    Returns:
        A module from float32 (N, in_channels, H, W) to (N, out_channels, H, W).
    """
    level = nn.Sequential()
    level.add_module("conv1", _convolution_block(in_channels, out_channels))
    level.add_module("conv2", _convolution_block(out_channels, out_channels))
    return level


class UNetDecoderLevel(nn.Module):
    """A 2x2 up-convolution (stride 2) halving the channels, concatenation with the skip, two conv blocks.

    Args:
        in_channels: channels of the coarser map, twice ``out_channels``.
        out_channels: channels of the skip, of the up-convolution and of both convolutions.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.upconv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.conv1 = _convolution_block(2 * out_channels, out_channels)
        self.conv2 = _convolution_block(out_channels, out_channels)

    def forward(self, features: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Args:
            features: float32 (N, in_channels, h, w), the coarser map.
            skip: float32 (N, out_channels, 2h, 2w), the encoder's map at this level.

        Returns:
            float32 (N, out_channels, 2h, 2w).
        """
        # Skip first, as Keras' Concatenate([skip, upsampled]) does, so ported weights line up.
        x = torch.cat([skip, self.upconv(features)], dim=1)
        return self.conv2(self.conv1(x))


class UNet(nn.Module):
    """U-Net with ``UNET_LEVELS`` (4) encoder levels, a bottleneck and 4 decoder levels (module docstring).

    Args:
        num_classes: number of classes K.
        width: channels of the first level; level k has ``width * 2**k``, the bottleneck ``16 * width``.

    Attributes:
        encoder: ``nn.ModuleList`` of 4 :func:`double_convolution` s, each followed by a 2x2 max-pool.
        bottleneck: :func:`double_convolution` at ``16 * width`` channels.
        decoder: ``nn.ModuleList`` of 4 :class:`UNetDecoderLevel` s, deepest first.
        classifier: 1x1 ``nn.Conv2d`` to K logits.
        output_stride: 16, the smallest input side; inputs are padded to a multiple of it.
    """

    output_stride = 2**UNET_LEVELS

    def __init__(self, num_classes: int, width: int = UNET_WIDTH) -> None:
        super().__init__()
        channels = unet_channels(width)
        self.width = width
        self.encoder = nn.ModuleList()
        in_channels = 3
        for level_channels in channels[:-1]:
            self.encoder.append(double_convolution(in_channels, level_channels))
            in_channels = level_channels
        self.bottleneck = double_convolution(in_channels, channels[-1])
        self.decoder = nn.ModuleList(
            UNetDecoderLevel(channels[level + 1], channels[level]) for level in reversed(range(UNET_LEVELS))
        )
        self.classifier = nn.Conv2d(channels[0], num_classes, kernel_size=1)
        self._initialise()

    def _initialise(self) -> None:
        """segdemo.architecture.UNET_INITIALISATION, the same in Keras (PyTorch's default differs from Keras')."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and module is not self.classifier:
                # For a transposed convolution both frameworks take fan_out = in_channels * 2 * 2.
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        # Small scores at the start: the first loss is close to log(K) whatever the features.
        nn.init.normal_(self.classifier.weight, std=SCORE_INIT_STD)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Args:
            images: float32 (N, 3, H, W) in [0, 1], H and W >= 16.

        Returns:
            Logits float32 (N, num_classes, H, W).
        """
        check_input_size(images, self.output_stride, "unet")
        height, width = images.shape[-2:]
        x = pad_to_multiple(images, self.output_stride)
        skips = []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
            x = nn.functional.max_pool2d(x, kernel_size=2, stride=2)
        x = self.bottleneck(x)
        for level, skip in zip(self.decoder, reversed(skips), strict=True):
            x = level(x, skip)
        return self.classifier(x)[:, :, :height, :width]


def unet(num_classes: int, *, width: int = UNET_WIDTH) -> UNet:
    """U-Net {cite}`ronneberger2015unet`, small and with batch normalisation (see the module docstring).

    Args:
        num_classes: number of classes K.
        width: channels of the first level (the paper: 64); levels double it, up to ``16 * width`` in the
            bottleneck. At width 32 and 11 classes the model has 7,763,371 parameters.

    Returns:
        A module mapping float32 (N, 3, H, W) images in [0, 1] to logits (N, K, H, W), H, W >= 16.

    Raises:
        ValueError: for ``num_classes`` below 2 or a ``width`` that is not a positive integer.

    Example:
        >>> model = unet(5, width=4).eval()
        >>> tuple(model(torch.rand(1, 3, 35, 47)).shape), model.output_stride
        ((1, 5, 35, 47), 16)
    """
    check_num_classes(num_classes)
    return UNet(num_classes, width)
