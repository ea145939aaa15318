"""ResNet50-SegNet (seed 001) in PyTorch: a ResNet50 encoder and a SegNet-style decoder.

As in the article (keras-segmentation's ``resnet50_segnet``) the decoder starts from encoder level
``encoder_level`` (3: the output of ResNet50's fourth stage, torchvision ``layer3``, 1024 channels, 1/16 of
the input). Without indices it upsamples as the article does: 3x3 conv 512 + BN, then three times (nearest
upsampling 2x, 3x3 conv + BN) with 256, 128, 64 channels, no ReLU (as written there), and a 3x3
convolution to class scores. The article stops there, at 1/2 of the input for level 3; with
``full_resolution`` (the default) the scores are upsampled bilinearly (``align_corners=False``) to the
input size.

With ``indices=True`` the encoder's stride-2 steps become stride-1 steps followed by 2x2 max-pools that
record their indices (see :class:`~segdemo.torch.backbones.ResNet50Encoder`), and the decoder undoes each
pool in turn with :class:`~segdemo.torch.pooling.MaxUnpooling2D`: before each unpooling a 3x3 conv + BN
brings the channels to those of the pool's indices (256, 128, 64, 64 for level 3), so the logits come out
at the full input size without interpolation.

The images are zero-padded (black) at the bottom/right to a multiple of the output stride before the
encoder normalises them, and the logits are cropped back, so any size >= the output stride works.

Mirrors ``segdemo.tensorflow.resnet_segnet``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..architecture import RESNET_SEGNET_DECODER, check_resnet_segnet_options
from .backbones import RESNET50_LAYERS, ResNet50Encoder, check_input_size, pad_to_multiple, resnet50
from .pooling import MaxUnpooling2D
from .segnets import check_num_classes, conv_block

class ResNet50SegNet(nn.Module):
    """ResNet50 encoder (``self.backbone``, torchvision names) + a SegNet-style decoder.

    Args:
        num_classes: number of classes K.
        backbone: a :class:`ResNet50Encoder` with ``encoder_level`` stages (``pool_indices`` matching
            ``indices``).
        indices: unpool with the encoder's pooling indices instead of nearest upsampling.
        full_resolution: upsample the article's half-resolution scores to the input size.

    Attributes:
        output_stride: the encoder's, 2 ** (encoder_level + 1); inputs are padded to a multiple of it.
        score_stride: the stride of the logits before any final interpolation (1 with indices).
    """

    def __init__(
        self, num_classes: int, backbone: ResNet50Encoder, *, indices: bool = False, full_resolution: bool = True
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.indices = indices
        self.full_resolution = full_resolution
        self.output_stride = backbone.output_stride
        if indices:
            # One conv + unpool per encoder pool, deepest first; each conv outputs its pool's channels.
            pool_channels = [64, 64] + [width for _, width, _ in RESNET50_LAYERS[1 : backbone.stages]]
            channels = list(reversed(pool_channels))
            self.unpool = MaxUnpooling2D(2, 2)
            self.score_stride = 1
        else:
            channels = list(RESNET_SEGNET_DECODER)
            self.score_stride = self.output_stride // 8
        decoder = nn.Sequential()
        in_channels = backbone.out_channels
        for number, out_channels in enumerate(channels, start=1):
            decoder.add_module(f"conv{number}", conv_block(in_channels, out_channels, 3, relu=False))
            in_channels = out_channels
        self.decoder = decoder
        self.classifier = nn.Conv2d(in_channels, num_classes, kernel_size=3, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Args:
            images: float32 (N, 3, H, W) in [0, 1], H and W >= ``output_stride``.

        Returns:
            Logits float32 (N, num_classes, H, W), or (N, num_classes, ceil(H / s), ceil(W / s)) with
            s = ``score_stride`` when ``full_resolution`` is False.
        """
        check_input_size(images, self.output_stride, "resnet50_segnet")
        height, width = images.shape[-2:]
        features, pools = self.backbone.forward_with_indices(pad_to_multiple(images, self.output_stride))
        x = features[-1]
        if self.indices:
            for block, (indices, size) in zip(self.decoder, reversed(pools), strict=True):
                x = self.unpool(block(x), indices, size)
            return self.classifier(x)[:, :, :height, :width]
        for number, block in enumerate(self.decoder):
            if number > 0:
                x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            x = block(x)
        scores = self.classifier(x)
        if not self.full_resolution:
            stride = self.score_stride
            return scores[:, :, : -(-height // stride), : -(-width // stride)]
        if self.score_stride > 1:
            scores = nn.functional.interpolate(
                scores, scale_factor=self.score_stride, mode="bilinear", align_corners=False
            )
        return scores[:, :, :height, :width]


def resnet50_segnet(
    num_classes: int,
    *,
    weights: str | None = None,
    encoder_level: int = 3,
    indices: bool = False,
    full_resolution: bool = True,
) -> ResNet50SegNet:
    """ResNet50-SegNet of the article (seed 001).

    Args:
        num_classes: number of classes K.
        weights: ``None`` or ``"imagenet"`` (torchvision's ResNet50 weights for the encoder; they load
            with ``indices`` too, since the parameters keep their shapes).
        encoder_level: where the decoder starts: 2, 3 (the article's, 1/16) or 4.
        indices: give the decoder pooling indices (stride-1 steps + index-recording pools in the encoder).
        full_resolution: logits at the input size (default); False keeps the article's output at
            1/``score_stride`` (1/2 for level 3).

    Returns:
        A module mapping float32 (N, 3, H, W) images in [0, 1] to logits (N, K, H, W). The encoder
        normalises with ImageNet's mean and standard deviation.

    Raises:
        ValueError: for a level outside (2, 3, 4), or ``indices`` without ``full_resolution``.
    """
    check_num_classes(num_classes)
    check_resnet_segnet_options(encoder_level, indices, full_resolution)
    backbone = resnet50(weights=weights, stages=encoder_level, pool_indices=indices)
    return ResNet50SegNet(num_classes, backbone, indices=indices, full_resolution=full_resolution)
