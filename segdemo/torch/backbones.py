"""Encoders with torchvision's parameter names: VGG16, VGG16-BN and ResNet50 in plain PyTorch.

torchvision cannot always be imported (its CPU and CUDA builds must match torch), so the book defines the
three encoders itself with *exactly* torchvision's parameter names. ``weights="imagenet"`` then loads
torchvision's published weight files with ``torch.hub.load_state_dict_from_url``; without a network the
loader prints one line and the encoder keeps its random initialisation.

Encoder contract: ``encoder(images)`` returns the feature map after every stage, from 1/2 to 1/32 of the
input. For a (1, 3, 64, 64) input::

    vgg16:     [(1, 64, 32, 32), (1, 128, 16, 16), (1, 256, 8, 8), (1, 512, 4, 4), (1, 512, 2, 2)]
    resnet50:  [(1, 64, 32, 32), (1, 256, 16, 16), (1, 512, 8, 8), (1, 1024, 4, 4), (1, 2048, 2, 2)]

Inputs are float32 (N, 3, H, W) images scaled to [0, 1]; the encoder normalises them itself with
ImageNet's mean and standard deviation (what torchvision's weights expect).

Every module also carries ``keras_layer_names``: its sub-module paths mapped to the names of the matching
layers in :mod:`segdemo.tensorflow.backbones` (keras.applications' names), which
:func:`segdemo.convert.torch_to_keras` uses to copy weights.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import torch
from torch import nn

from ..architecture import VGG16_WIDTH, check_width, vgg16_stages
from .pooling import MaxPoolingWithArgmax2D

# A recorded max-pool: its indices (N, C, h, w) and the (H, W) of the map before it.
Pool = tuple[torch.Tensor, tuple[int, int]]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's published ImageNet weights (IMAGENET1K_V1 for every model).
WEIGHT_URLS: dict[str, str] = {
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg16_bn": "https://download.pytorch.org/models/vgg16_bn-6c64b313.pth",
    "resnet50": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
}


def load_torchvision_weights(name: str) -> dict[str, torch.Tensor] | None:
    """Download (or read from the torch hub cache) torchvision's ImageNet weights for ``name``.

    Args:
        name: ``"vgg16"``, ``"vgg16_bn"`` or ``"resnet50"``.

    Returns:
        The state dict, or ``None`` when the file cannot be fetched (offline): one line on stderr says
        what failed and that the model starts from random initialisation.

    Raises:
        ValueError: if ``name`` is not one of the three.
    """
    if name not in WEIGHT_URLS:
        raise ValueError(f"No torchvision weights for {name!r}; choose one of {sorted(WEIGHT_URLS)}.")
    url = WEIGHT_URLS[name]
    try:
        return torch.hub.load_state_dict_from_url(url, progress=False, map_location="cpu")
    except (OSError, RuntimeError) as error:  # URLError is an OSError; a truncated file a RuntimeError
        print(
            f"segdemo: could not fetch {name} ImageNet weights from {url} ({type(error).__name__}: {error}); "
            f"the model starts from random initialisation. To use them, download that file into "
            f"{torch.hub.get_dir()}/checkpoints/ on a machine with internet access.",
            file=sys.stderr,
        )
        return None


def check_weights_argument(weights: str | None) -> None:
    """Raise ValueError unless ``weights`` is ``None`` or ``"imagenet"``."""
    if weights not in (None, "imagenet"):
        raise ValueError(f"weights must be None or 'imagenet', got {weights!r}.")


class Normalise(nn.Module):
    """Subtract a per-channel mean and divide by a per-channel standard deviation (no parameters).

    Args:
        mean: three floats, one per channel.
        std: three floats, one per channel.
    """

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__()
        # Plain tensors, not buffers: they are constants, not state to save or port.
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean.to(images.device)) / self.std.to(images.device)


class VGG16Encoder(nn.Module):
    """VGG16's 13 convolutions (optionally with batch normalisation) in torchvision's ``features`` layout.

    Args:
        batch_norm: ``True`` for VGG16-BN (conv, BN, ReLU), ``False`` for VGG16 (conv, ReLU).
        width: channels of the first block; VGG16's 64 by default. Each stage scales with it
            (64, 128, 256, 512, 512 become ``width`` times 1, 2, 4, 8, 8): a narrower VGG16 for CPUs,
            which has no pretrained weights.

    Attributes:
        features: ``nn.Sequential`` numbered exactly like torchvision's ``vgg16().features`` /
            ``vgg16_bn().features``, max-pools included.
        output_stride: 32.
    """

    output_stride = 32

    def __init__(self, *, batch_norm: bool = False, width: int = VGG16_WIDTH) -> None:
        super().__init__()
        check_width(width)
        self.batch_norm = batch_norm
        self.width = width
        self.normalise = Normalise()
        layers: list[nn.Module] = []
        self.keras_layer_names: dict[str, str] = {}
        self._stage_slices: list[tuple[int, int]] = []
        in_channels = 3
        for stage, channels in enumerate(vgg16_stages(width), start=1):
            start = len(layers)
            for number, out_channels in enumerate(channels, start=1):
                self.keras_layer_names[f"features.{len(layers)}"] = f"block{stage}_conv{number}"
                layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
                if batch_norm:
                    self.keras_layer_names[f"features.{len(layers)}"] = f"block{stage}_bn{number}"
                    layers.append(nn.BatchNorm2d(out_channels))
                layers.append(nn.ReLU(inplace=True))
                in_channels = out_channels
            self._stage_slices.append((start, len(layers)))
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.features = nn.Sequential(*layers)

    def stage_blocks(self) -> list[nn.Sequential]:
        """The five convolution blocks, each without its max-pool (SegNet pools them with indices).

        Returns:
            Five ``nn.Sequential`` views sharing this encoder's modules.
        """
        return [self.features[start:end] for start, end in self._stage_slices]

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Args:
            images: float32 (N, 3, H, W) in [0, 1], H and W >= 32.

        Returns:
            Five float32 maps after pool1..pool5: (N, 64, H/2, W/2) ... (N, 512, H/32, W/32) (floor;
            channels scale with ``width``).
        """
        outputs = []
        x = self.normalise(images)
        for block in self.stage_blocks():
            x = nn.functional.max_pool2d(block(x), kernel_size=2, stride=2)
            outputs.append(x)
        return outputs

    def load_torchvision_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load the ``features.*`` entries of a torchvision VGG16(-BN) state dict (strict on them).

        Args:
            state_dict: a torchvision ``vgg16`` / ``vgg16_bn`` state dict (``classifier.*`` is ignored).
        """
        features = {key: value for key, value in state_dict.items() if key.startswith("features.")}
        self.load_state_dict(features, strict=True)


def vgg16(*, weights: str | None = None) -> VGG16Encoder:
    """VGG16's convolutional encoder {cite}`simonyan2015vgg` with torchvision's parameter names.

    Args:
        weights: ``None`` (random) or ``"imagenet"`` (torchvision's ``vgg16-397923af.pth``).

    Returns:
        A :class:`VGG16Encoder` with 14,714,688 parameters.
    """
    check_weights_argument(weights)
    encoder = VGG16Encoder(batch_norm=False)
    if weights == "imagenet":
        state_dict = load_torchvision_weights("vgg16")
        if state_dict is not None:
            encoder.load_torchvision_state_dict(state_dict)
    return encoder


def vgg16_bn(*, weights: str | None = None) -> VGG16Encoder:
    """VGG16-BN's convolutional encoder (SegNet's encoder) with torchvision's parameter names.

    Args:
        weights: ``None`` (random) or ``"imagenet"`` (torchvision's ``vgg16_bn-6c64b313.pth``).

    Returns:
        A :class:`VGG16Encoder` with batch normalisation: 14,723,136 trainable parameters.
    """
    check_weights_argument(weights)
    encoder = VGG16Encoder(batch_norm=True)
    if weights == "imagenet":
        state_dict = load_torchvision_weights("vgg16_bn")
        if state_dict is not None:
            encoder.load_torchvision_state_dict(state_dict)
    return encoder


class Bottleneck(nn.Module):
    """torchvision's ResNet bottleneck (v1.5: the stride sits on the 3x3 convolution).

    Args:
        in_channels: input channels.
        width: channels of the 1x1 and 3x3 convolutions (the output has 4x as many).
        stride: 1, or 2 to halve the size.
        pool_indices: with ``stride`` 2, run the 3x3 convolution at stride 1 and halve with a 2x2 max-pool
            that records its indices (same parameters, 4x the 3x3 convolution's cost).
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1, *, pool_indices: bool = False) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.pool = MaxPoolingWithArgmax2D(2, 2) if pool_indices and stride == 2 else None
        conv2_stride = 1 if self.pool is not None else stride
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=conv2_stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_indices(x)[0]

    def forward_with_indices(self, x: torch.Tensor) -> tuple[torch.Tensor, Pool | None]:
        """The block's output and, when it pools, its indices and pre-pool size (else None)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv2(self.relu(self.bn1(self.conv1(x))))
        pool = None
        if self.pool is not None:
            size = (int(out.shape[-2]), int(out.shape[-1]))
            out, indices = self.pool(out)
            pool = (indices, size)
        out = self.relu(self.bn2(out))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity), pool


# (blocks, bottleneck width, stride of the first block) of ResNet50's layer1..layer4.
RESNET50_LAYERS: tuple[tuple[int, int, int], ...] = ((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2))


class ResNet50Encoder(nn.Module):
    """ResNet50 without its classifier, with torchvision's parameter names (``conv1``, ``layer3.5.bn2``...).

    Args:
        stages: how many of ``layer1..layer4`` to build (4: all, output stride 32; 3: up to ``layer3``,
            output stride 16, what ResNet50-SegNet uses).
        pool_indices: replace every stride-2 step by its stride-1 version followed by a 2x2 max-pool that
            records indices (``forward_with_indices``): conv1 at stride 1 then a pool; the 3x3/2 max-pool
            at stride 1 then a pool; the strided 3x3 convolution of each stage's first block at stride 1
            then a pool. The parameters keep their names and shapes, so torchvision's weights still load.
            Inputs must then have sides that are multiples of ``output_stride``.

    Attributes:
        output_stride: 2 ** (stages + 1).
    """

    def __init__(self, *, stages: int = 4, pool_indices: bool = False) -> None:
        super().__init__()
        if stages not in (1, 2, 3, 4):
            raise ValueError(f"stages must be 1, 2, 3 or 4, got {stages!r}.")
        self.stages = stages
        self.output_stride = 2 ** (stages + 1)
        self.normalise = Normalise()
        stride = 1 if pool_indices else 2
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=stride, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=stride, padding=1)
        self.pool = MaxPoolingWithArgmax2D(2, 2) if pool_indices else None
        self.keras_layer_names = {"conv1": "conv1_conv", "bn1": "conv1_bn"}
        in_channels = 64
        for index, (blocks, width, stride) in enumerate(RESNET50_LAYERS[:stages], start=1):
            layer = []
            for block in range(blocks):
                layer.append(
                    Bottleneck(in_channels, width, stride if block == 0 else 1, pool_indices=pool_indices)
                )
                in_channels = width * Bottleneck.expansion
                prefix, keras_prefix = f"layer{index}.{block}", f"conv{index + 1}_block{block + 1}"
                for number in (1, 2, 3):
                    self.keras_layer_names[f"{prefix}.conv{number}"] = f"{keras_prefix}_{number}_conv"
                    self.keras_layer_names[f"{prefix}.bn{number}"] = f"{keras_prefix}_{number}_bn"
                self.keras_layer_names[f"{prefix}.downsample.0"] = f"{keras_prefix}_0_conv"
                self.keras_layer_names[f"{prefix}.downsample.1"] = f"{keras_prefix}_0_bn"
            setattr(self, f"layer{index}", nn.Sequential(*layer))
        self.out_channels = in_channels

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Args:
            images: float32 (N, 3, H, W) in [0, 1].

        Returns:
            ``stages + 1`` float32 maps: after conv1 (N, 64, H/2, W/2), then after layer1..layer<stages>
            (N, 256, H/4, W/4) ... (sizes rounded up, like torchvision).
        """
        return self.forward_with_indices(images)[0]

    def forward_with_indices(self, images: torch.Tensor) -> tuple[list[torch.Tensor], list[Pool]]:
        """Like ``forward``, plus the pools' (indices, pre-pool size), from 1/2 down (empty unless
        ``pool_indices``)."""
        pools: list[Pool] = []

        def halve(x: torch.Tensor) -> torch.Tensor:
            if self.pool is None:
                return x
            size = (int(x.shape[-2]), int(x.shape[-1]))
            x, indices = self.pool(x)
            pools.append((indices, size))
            return x

        # With pool_indices the stride-1 conv1 is pooled before its batch norm (like the blocks' 3x3),
        # where values are continuous and the maximum of a window has no ties.
        x = self.relu(self.bn1(halve(self.conv1(self.normalise(images)))))
        outputs = [x]
        x = halve(self.maxpool(x))
        for index in range(1, self.stages + 1):
            for block in getattr(self, f"layer{index}"):
                x, pool = block.forward_with_indices(x)
                if pool is not None:
                    pools.append(pool)
            outputs.append(x)
        return outputs, pools

    def load_torchvision_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load a torchvision ``resnet50`` state dict, strict on the layers this encoder has.

        Args:
            state_dict: torchvision's ``resnet50`` state dict (``fc.*`` and unbuilt layers are ignored).
        """
        own = set(self.state_dict())
        self.load_state_dict({key: value for key, value in state_dict.items() if key in own}, strict=True)


def resnet50(*, weights: str | None = None, stages: int = 4, pool_indices: bool = False) -> ResNet50Encoder:
    """ResNet50's encoder {cite}`he2016resnet` with torchvision's parameter names.

    Args:
        weights: ``None`` (random) or ``"imagenet"`` (torchvision's ``resnet50-0676ba61.pth``).
        stages: how many residual stages to build (see :class:`ResNet50Encoder`).
        pool_indices: stride-1 steps followed by index-recording max-pools (see :class:`ResNet50Encoder`).

    Returns:
        A :class:`ResNet50Encoder`; with 4 stages it has 23,508,032 parameters (torchvision's
        resnet50 without ``fc``).
    """
    check_weights_argument(weights)
    encoder = ResNet50Encoder(stages=stages, pool_indices=pool_indices)
    if weights == "imagenet":
        state_dict = load_torchvision_weights("resnet50")
        if state_dict is not None:
            encoder.load_torchvision_state_dict(state_dict)
    return encoder


# Input handling shared by the segmentation models.


def check_input_size(images: torch.Tensor, minimum: int, model_name: str) -> None:
    """Raise ValueError unless ``images`` is (N, 3, H, W) with H and W at least ``minimum``.

    Args:
        images: the model input, float32 (N, 3, H, W).
        minimum: the smallest side the model supports (its output stride).
        model_name: named in the message.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(
            f"{model_name} expects float images (N, 3, H, W) (NCHW), got shape {tuple(images.shape)}; "
            "permute NHWC arrays with .permute(0, 3, 1, 2)."
        )
    height, width = images.shape[-2:]
    if height < minimum or width < minimum:
        raise ValueError(
            f"{model_name} needs inputs of at least {minimum}x{minimum} pixels (its output stride), got "
            f"{height}x{width}; resize or pad the images."
        )


def pad_to_multiple(images: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the bottom and right of (N, C, H, W) so that H and W are multiples of ``multiple``."""
    height, width = images.shape[-2:]
    return nn.functional.pad(images, (0, -width % multiple, 0, -height % multiple))


def upsample_nearest_to(features: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Nearest-neighbour upsampling by 2 that lands exactly on ``size`` (odd sizes included).

    Output pixel (y, x) copies input pixel (min(y // 2, h - 1), min(x // 2, w - 1)): ``UpSampling2D(2)``
    followed by repeating the last row/column when the pre-pool size was odd.

    Args:
        features: float32 (N, C, h, w).
        size: the target (H, W), the size before the matching max-pool (H // 2 == h).

    Returns:
        float32 (N, C, H, W).
    """
    height, width = int(size[0]), int(size[1])
    device = features.device
    rows = torch.clamp(torch.arange(height, device=device) // 2, max=features.shape[-2] - 1)
    columns = torch.clamp(torch.arange(width, device=device) // 2, max=features.shape[-1] - 1)
    return features.index_select(2, rows).index_select(3, columns)
