"""Framework-free facts about the book's architectures, shared by ``segdemo.torch`` and ``segdemo.tensorflow``.

Both frameworks build their layers from these numbers, so the two can never disagree about a channel count.
"""

from __future__ import annotations

import numbers

# Output channels of VGG16's 13 convolutions, grouped by stage (one max-pool after each group).
VGG16_STAGES: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))

VGG16_WIDTH = 64
"""Channels of VGG16's first block: the width for which ImageNet weights exist."""

FCN_VARIANTS = (32, 16, 8)
"""Stride of an FCN's final upsampling: FCN-32s, FCN-16s, FCN-8s."""


SCORE_INIT_STD = 0.01
"""Standard deviation of the normal initialisation of an FCN's class scoring layer ``score_fr``."""

FCN_INITIALISATION = (
    "convolutions He-normal on fan_out (torchvision's VGG initialisation), biases zero; score_fr normal(0, 0.01); "
    "skip scores zero; upsampling bilinear"
)
"""How both frameworks initialise an FCN trained from scratch (the frameworks' defaults differ: PyTorch's
``Conv2d`` default is about a sixth of He's variance; with it a from-scratch FCN stalled in PyTorch)."""


def check_width(width: int) -> None:
    """Checks a model's ``width`` (channels of its first block).

    Raises:
        ValueError: unless ``width`` is a positive integer.
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}.")


ARTICLE_DROPOUT: dict[str, float] = {"encoder_decoder": 0.0, "segnet_small": 0.5}
"""Rate of the dropout before the decoder that the SegNet article (seed 000) gives each of its two models.

Its SegNet applies ``Dropout(0.5)`` to the bottleneck and its encoder-decoder applies none, so its "indices help"
comparison changes two things at once. The builders' ``dropout`` argument sets the rate of either model, so the
two can be compared at the same rate; ``None`` keeps the rate of this table."""


def check_dropout(dropout: float, name: str = "dropout") -> float:
    """Checks a dropout rate and returns it as a float.

    Args:
        dropout: the probability of zeroing an activation in training; 0 turns dropout off.
        name: how the error message calls the argument (``"--dropout"`` on the command line).

    Returns:
        ``float(dropout)``.

    Raises:
        ValueError: unless ``dropout`` is a number (not a bool) in [0, 1); the message names the value and
            the valid range.

    Example:
        >>> check_dropout(0.5), check_dropout(0)
        (0.5, 0.0)
    """
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
        raise ValueError(f"{name} must be a number in [0, 1) (0 turns dropout off), got {dropout!r}.")
    return float(dropout)


def article_dropout(model_name: str, dropout: float | None = None) -> float:
    """The dropout rate before the decoder of ``encoder_decoder`` or ``segnet_small``.

    Args:
        model_name: ``"encoder_decoder"`` or ``"segnet_small"`` (a key of :data:`ARTICLE_DROPOUT`).
        dropout: the rate asked for, checked by :func:`check_dropout`; ``None``: the article's rate.

    Returns:
        The rate as a float.

    Raises:
        ValueError: a bad ``dropout`` (see :func:`check_dropout`).

    Example:
        >>> article_dropout("segnet_small"), article_dropout("encoder_decoder"), article_dropout("segnet_small", 0)
        (0.5, 0.0, 0.0)
    """
    return ARTICLE_DROPOUT[model_name] if dropout is None else check_dropout(dropout)


def vgg16_stages(width: int = VGG16_WIDTH) -> tuple[tuple[int, ...], ...]:
    """VGG16's output channels per stage and convolution, scaled so the first block has ``width`` channels.

    Args:
        width: channels of the first block (VGG16: 64). Stages get ``width`` times 1, 2, 4, 8 and 8.

    Returns:
        Five tuples of channel counts, one per convolution.

    Example:
        >>> vgg16_stages(16)
        ((16, 16), (32, 32), (64, 64, 64), (128, 128, 128), (128, 128, 128))
    """
    check_width(width)
    return tuple(tuple(channels // VGG16_WIDTH * width for channels in stage) for stage in VGG16_STAGES)


def fcn_channels(width: int = VGG16_WIDTH) -> int:
    """Channels of an FCN's fc6 and fc7: VGG16's 4096 at width 64, scaled with ``width``.

    Example:
        >>> fcn_channels(64), fcn_channels(32)
        (4096, 2048)
    """
    check_width(width)
    return 4096 // VGG16_WIDTH * width


def check_pretrained_width(weights: str | None, width: int, model_name: str) -> None:
    """ImageNet weights exist only for VGG16's own width.

    Raises:
        ValueError: for ``weights="imagenet"`` with a width other than 64.
    """
    if weights is not None and width != VGG16_WIDTH:
        raise ValueError(
            f"{model_name}: weights={weights!r} exist only for width {VGG16_WIDTH} (VGG16), got width {width}; "
            "use weights=None for a narrower network."
        )


RESNET_SEGNET_LEVELS = (2, 3, 4)
"""Encoder levels ResNet50-SegNet's decoder can start from: ResNet50's layer2..layer4 (1/8, 1/16, 1/32)."""

RESNET_SEGNET_DECODER = (512, 256, 128, 64)
"""The article's ResNet50-SegNet decoder widths (the decoder without indices)."""


def check_resnet_segnet_options(encoder_level: int, indices: bool, full_resolution: bool) -> None:
    """Raise ValueError for options ``resnet50_segnet`` cannot take (both frameworks call this).

    Args:
        encoder_level: 2, 3 or 4.
        indices: whether the decoder unpools with the encoder's pooling indices.
        full_resolution: whether the logits have the input size.
    """
    if type(encoder_level) is not int or encoder_level not in RESNET_SEGNET_LEVELS:
        raise ValueError(
            f"encoder_level must be one of {RESNET_SEGNET_LEVELS} (ResNet50's layer2, layer3, layer4 at 1/8, "
            f"1/16, 1/32), got {encoder_level!r}. At level 1 (1/4) the article's three upsamplings would "
            "overshoot the input size."
        )
    if indices and not full_resolution:
        raise ValueError(
            "indices=True unpools every encoder pool, so the logits always have the input size; pass "
            "full_resolution=True (or indices=False for the article's half-resolution output)."
        )


UNET_LEVELS = 4
"""Encoder levels of the book's U-Net, each ending in a 2x2 max-pool: its output stride is 2 ** 4 = 16."""

UNET_WIDTH = 32
"""Channels of the U-Net's first level by default (the paper's 64 halved, for CPUs)."""

UNET_INITIALISATION = (
    "convolutions and up-convolutions He-normal on fan_out, biases zero; classifier normal(0, 0.01); "
    "batch norms at identity"
)
"""How both frameworks initialise the U-Net: as the FCNs (:data:`FCN_INITIALISATION`), since the frameworks'
defaults differ and a ported or retrained model should start from the same distribution in each."""


def unet_channels(width: int = UNET_WIDTH) -> tuple[int, ...]:
    """Channels of the U-Net's encoder levels and bottleneck: ``width`` doubled after every max-pool.

    The decoder mirrors the encoder: decoder level ``k`` (deepest first) works at ``unet_channels(width)[-2 - k]``.

    Args:
        width: channels of the first level (the paper: 64).

    Returns:
        ``UNET_LEVELS + 1`` channel counts: ``width * 2**k`` for k = 0..4, the last being the bottleneck's.

    Example:
        >>> unet_channels(32)
        (32, 64, 128, 256, 512)
    """
    check_width(width)
    return tuple(width * 2**level for level in range(UNET_LEVELS + 1))
