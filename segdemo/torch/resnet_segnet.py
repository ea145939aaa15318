"""ResNet50-SegNet (seed 001) in PyTorch: a ResNet50 encoder up to 1/16 and a SegNet-style decoder.

As in the article (keras-segmentation's ``resnet50_segnet`` with ``encoder_level=3``) the decoder starts
from the output of ResNet50's fourth stage (torchvision ``layer3``, 1024 channels, 1/16 of the input) and
upsamples without pooling indices: 3x3 conv 512 + BN, then three times (nearest upsampling 2x, 3x3 conv +
BN) with 256, 128, 64 channels, no ReLU (as written there), and a 3x3 convolution to class scores. The
article stops at half the input resolution; here the scores are upsampled 2x bilinearly
(``align_corners=False``) so the logits have the full input size. The images are zero-padded (black) at
the bottom/right to a multiple of 16 before the encoder normalises them, and the logits are cropped back,
so any size >= 16 works.

Mirrors ``segdemo.tensorflow.resnet_segnet``.
"""

from __future__ import annotations

import torch
from torch import nn

from .backbones import ResNet50Encoder, check_input_size, pad_to_multiple, resnet50
from .segnets import check_num_classes, conv_block


class ResNet50SegNet(nn.Module):
    """ResNet50 encoder (``self.backbone``, torchvision names, 3 stages) + the article's decoder.

    Attributes:
        output_stride: 16.
    """

    output_stride = 16

    def __init__(self, num_classes: int, backbone: ResNet50Encoder) -> None:
        super().__init__()
        self.backbone = backbone
        decoder = nn.Sequential()
        in_channels = backbone.out_channels
        for number, channels in enumerate((512, 256, 128, 64), start=1):
            decoder.add_module(f"conv{number}", conv_block(in_channels, channels, 3, relu=False))
            in_channels = channels
        self.decoder = decoder
        self.classifier = nn.Conv2d(in_channels, num_classes, kernel_size=3, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Args:
            images: float32 (N, 3, H, W) in [0, 1], H and W >= 16.

        Returns:
            Logits float32 (N, num_classes, H, W).
        """
        check_input_size(images, self.output_stride, "resnet50_segnet")
        height, width = images.shape[-2:]
        features = self.backbone(pad_to_multiple(images, self.output_stride))[-1]
        x = features
        for number, block in enumerate(self.decoder):
            if number > 0:
                x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            x = block(x)
        scores = nn.functional.interpolate(
            self.classifier(x), scale_factor=2, mode="bilinear", align_corners=False
        )
        return scores[:, :, :height, :width]


def resnet50_segnet(num_classes: int, *, weights: str | None = None) -> ResNet50SegNet:
    """ResNet50-SegNet of the article (seed 001), with logits at the full input resolution.

    Args:
        num_classes: number of classes K.
        weights: ``None`` or ``"imagenet"`` (torchvision's ResNet50 weights for the encoder).

    Returns:
        A module mapping float32 (N, 3, H, W) images in [0, 1] to logits (N, K, H, W), H, W >= 16. The
        encoder normalises with ImageNet's mean and standard deviation.
    """
    check_num_classes(num_classes)
    return ResNet50SegNet(num_classes, resnet50(weights=weights, stages=3))
