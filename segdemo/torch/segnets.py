"""The encoder-decoders of the book in PyTorch: without indices, SegNet (small, Basic, VGG16-BN).

All four share one forward pass (:class:`PooledEncoderDecoder`): encoder blocks each followed by a 2x2
max-pool, decoder blocks each preceded by an upsampling back to the *exact* pre-pool size (so odd sizes
survive), then a classifier convolution that returns logits. With ``use_indices`` the upsampling is
SegNet's max-unpooling with the encoder's pooling indices; without, nearest-neighbour upsampling.

Mirrors ``segdemo.tensorflow.segnets`` name for name; :func:`segdemo.convert.torch_to_keras` ports weights
between them (layer ``a.b.c`` here is Keras layer ``a_b_c``, VGG16-BN layers use keras.applications names).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..architecture import VGG16_STAGES, article_dropout, check_width
from .backbones import VGG16Encoder, check_input_size, upsample_nearest_to, vgg16_bn
from .pooling import MaxPoolingWithArgmax2D, MaxUnpooling2D


def conv_block(in_channels: int, out_channels: int, kernel_size: int = 3, *, relu: bool = True) -> nn.Sequential:
    """Conv (``same`` padding) -> BatchNorm -> ReLU, children named ``conv``, ``bn``, ``relu``."""
    layers: dict[str, nn.Module] = {
        "conv": nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
        "bn": nn.BatchNorm2d(out_channels),
    }
    if relu:
        layers["relu"] = nn.ReLU(inplace=True)
    return _named(layers)


def _named(layers: dict[str, nn.Module]) -> nn.Sequential:
    sequential = nn.Sequential()
    for name, module in layers.items():
        sequential.add_module(name, module)
    return sequential


def stage(in_channels: int, channels: Sequence[int], kernel_size: int = 3, *, relu: bool = True) -> nn.Sequential:
    """Consecutive :func:`conv_block` s named ``conv1``, ``conv2``, ..."""
    blocks = {}
    for number, out_channels in enumerate(channels, start=1):
        blocks[f"conv{number}"] = conv_block(in_channels, out_channels, kernel_size, relu=relu)
        in_channels = out_channels
    return _named(blocks)


class PooledEncoderDecoder(nn.Module):
    """Encoder blocks + 2x2 max-pools, an optional bottleneck, decoder blocks + upsampling, classifier.

    Args:
        encoder: ``nn.ModuleList`` of blocks, each followed by a max-pool.
        decoder: ``nn.ModuleList`` of blocks, the first applied after undoing the *last* pool.
        classifier: module from decoder features to logits.
        use_indices: SegNet's max-unpooling with pooling indices (else nearest upsampling).
        bottleneck: block between the last pool and the first upsampling (the article's 5th block).
        dropout: rate of the dropout before the decoder (0 for none).
        input_norm: module applied to the images first (e.g. BatchNorm on the input).
        name: model name used in error messages.
    """

    def __init__(
        self,
        encoder: nn.ModuleList | None,
        decoder: nn.ModuleList,
        classifier: nn.Module,
        *,
        use_indices: bool,
        bottleneck: nn.Module | None = None,
        dropout: float = 0.0,
        input_norm: nn.Module | None = None,
        name: str = "model",
    ) -> None:
        super().__init__()
        if input_norm is not None:
            self.input_norm = input_norm
        if encoder is not None:
            self.encoder = encoder
        if bottleneck is not None:
            self.bottleneck = bottleneck
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.decoder = decoder
        self.classifier = classifier
        self.use_indices = use_indices
        self.pool = MaxPoolingWithArgmax2D(2, 2)
        self.unpool = MaxUnpooling2D(2, 2)
        self.name = name
        self.output_stride = 2 ** len(decoder)

    def encoder_blocks(self) -> Sequence[nn.Module]:
        return list(self.encoder)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return self.input_norm(images) if hasattr(self, "input_norm") else images

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Args:
            images: float32 (N, 3, H, W) in [0, 1], H and W >= ``output_stride``.

        Returns:
            Logits float32 (N, num_classes, H, W).
        """
        check_input_size(images, self.output_stride, self.name)
        x = self.normalise(images)
        sizes, indices = [], []
        for block in self.encoder_blocks():
            x = block(x)
            sizes.append(tuple(x.shape[-2:]))
            x, pool_indices = self.pool(x)
            indices.append(pool_indices)
        if hasattr(self, "bottleneck"):
            x = self.bottleneck(x)
        if self.dropout is not None:
            x = self.dropout(x)
        for block, size, pool_indices in zip(self.decoder, reversed(sizes), reversed(indices)):
            x = self.unpool(x, pool_indices, size) if self.use_indices else upsample_nearest_to(x, size)
            x = block(x)
        return self.classifier(x)


def _article_model(
    num_classes: int, width: int, use_indices: bool, name: str, dropout: float | None
) -> PooledEncoderDecoder:
    check_width(width)
    rate = article_dropout(name, dropout)
    w = width
    encoder_plan = [(w, w), (2 * w, 2 * w), (4 * w,) * 3, (8 * w,) * 3]
    encoder, in_channels = nn.ModuleList(), 3
    for channels in encoder_plan:
        encoder.append(stage(in_channels, channels))
        in_channels = channels[-1]
    bottleneck = stage(in_channels, (8 * w,) * 3)
    # The article's two decoders differ in their last two stages; both are kept as written.
    if use_indices:
        decoder_plan = [(4 * w,) * 3, (2 * w,) * 3, (w, w), (w, w)]
    else:
        decoder_plan = [(4 * w,) * 3, (2 * w,) * 3, (2 * w, 2 * w), (w, w)]
    decoder, in_channels = nn.ModuleList(), 8 * w
    for channels in decoder_plan:
        decoder.append(stage(in_channels, channels))
        in_channels = channels[-1]
    classifier = nn.Conv2d(in_channels, num_classes, kernel_size=3, padding=1)
    return PooledEncoderDecoder(
        encoder, decoder, classifier, use_indices=use_indices, bottleneck=bottleneck,
        dropout=rate, name=name,
    )


def check_num_classes(num_classes: int) -> None:
    """Raise ValueError unless ``num_classes`` is an integer >= 2."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}.")


def encoder_decoder(num_classes: int, *, width: int = 32, dropout: float | None = None) -> PooledEncoderDecoder:
    """The SegNet article's VGG16-shaped encoder-decoder *without* pooling indices (seed 000).

    Encoder: blocks of 2x w, 2x 2w, 3x 4w, 3x 8w 3x3 conv-BN-ReLU, each followed by a 2x2 max-pool, then
    3x 8w; decoder: nearest upsampling back to the exact pre-pool size, then 3x 4w, 3x 2w, 2x 2w, 2x w;
    a 3x3 convolution to logits. The article's loop ``x = Conv2D(...)(inputs)`` dropped the first conv of
    its first block; every conv is built here (24 convolutions + the classifier). Output stride 16.

    The article gives this model no dropout but its SegNet (:func:`segnet_small`) ``Dropout(0.5)`` before the
    decoder, so its comparison of the two changes the dropout along with the indices. ``dropout=0.5`` here (or
    ``dropout=0`` there) makes the two differ in the indices alone.

    Args:
        num_classes: number of classes K.
        width: channels of the first block (the article's ``ffc = 32``).
        dropout: rate of the dropout applied to the bottleneck's output, before the decoder (active in
            ``train()`` only), a number in [0, 1); 0 builds no dropout module. ``None``: the article's 0.

    Returns:
        A module mapping float32 (N, 3, H, W) images in [0, 1] to logits (N, K, H, W), H, W >= 16. Its
        ``dropout`` attribute is the ``nn.Dropout``, or ``None`` at rate 0.

    Raises:
        ValueError: a bad ``num_classes``, ``width`` or ``dropout`` (the message names the valid values).

    Example:
        >>> model = encoder_decoder(5, width=4, dropout=0.5).eval()
        >>> tuple(model(torch.rand(1, 3, 33, 47)).shape), model.dropout.p
        ((1, 5, 33, 47), 0.5)
    """
    check_num_classes(num_classes)
    return _article_model(num_classes, width, use_indices=False, name="encoder_decoder", dropout=dropout)


def segnet_small(num_classes: int, *, width: int = 32, dropout: float | None = None) -> PooledEncoderDecoder:
    """The SegNet article's model (seed 000): :func:`encoder_decoder` with pooling indices.

    Max-pools return their indices and the decoder max-unpools with them; by default dropout 0.5 before the decoder
    (inactive in ``eval()``). Decoder 3x 4w, 3x 2w, 2x w, 2x w as in the article. Output stride 16.

    The article's encoder-decoder has no dropout, so comparing the two as the article does changes the dropout
    along with the indices; ``dropout=0`` here (or ``dropout=0.5`` for :func:`encoder_decoder`) makes the two
    differ in the indices alone.

    Args:
        num_classes: number of classes K.
        width: channels of the first block (the article's ``ffc = 32``).
        dropout: rate of the dropout applied to the bottleneck's output, before the decoder (active in
            ``train()`` only), a number in [0, 1); 0 builds no dropout module. ``None``: the article's 0.5.

    Returns:
        A module mapping float32 (N, 3, H, W) images in [0, 1] to logits (N, K, H, W), H, W >= 16. Its
        ``dropout`` attribute is the ``nn.Dropout``, or ``None`` at rate 0.

    Raises:
        ValueError: a bad ``num_classes``, ``width`` or ``dropout`` (the message names the valid values).

    Example:
        >>> segnet_small(5, width=4).dropout.p, segnet_small(5, width=4, dropout=0).dropout
        (0.5, None)
    """
    check_num_classes(num_classes)
    return _article_model(num_classes, width, use_indices=True, name="segnet_small", dropout=dropout)


def segnet_basic(num_classes: int) -> PooledEncoderDecoder:
    """SegNet-Basic of the SegNet tutorial {cite}`badrinarayanan2017segnet`.

    Four encoder stages of 7x7 conv (64 channels), BN, ReLU and a max-pool with indices; four decoder
    stages of max-unpool and 7x7 conv (64) + BN *without* ReLU; a 1x1 classifier. The tutorial's Caffe
    model starts with local contrast normalisation; here a ``BatchNorm2d(3)`` on the input (``input_norm``)
    standardises each channel instead. Output stride 16.

    Args:
        num_classes: number of classes K.

    Returns:
        A module mapping float32 (N, 3, H, W) images in [0, 1] to logits (N, K, H, W), H, W >= 16.
    """
    check_num_classes(num_classes)
    encoder = nn.ModuleList([stage(3 if i == 0 else 64, (64,), 7) for i in range(4)])
    decoder = nn.ModuleList([stage(64, (64,), 7, relu=False) for _ in range(4)])
    classifier = nn.Conv2d(64, num_classes, kernel_size=1)
    return PooledEncoderDecoder(
        encoder, decoder, classifier, use_indices=True, input_norm=nn.BatchNorm2d(3), name="segnet_basic"
    )


class SegNet(PooledEncoderDecoder):
    """The paper's SegNet: a VGG16-BN encoder (``self.backbone``, torchvision names) and a mirrored decoder."""

    def __init__(self, backbone: VGG16Encoder, decoder: nn.ModuleList, classifier: nn.Module) -> None:
        super().__init__(None, decoder, classifier, use_indices=True, name="segnet")
        self.backbone = backbone

    def encoder_blocks(self) -> Sequence[nn.Module]:
        return self.backbone.stage_blocks()

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone.normalise(images)


def segnet(num_classes: int, *, weights: str | None = None) -> SegNet:
    """SegNet {cite}`badrinarayanan2017segnet`: VGG16-BN's 13 convolutions, pooling indices, mirrored decoder.

    Decoder stages (after each max-unpool, 3x3 conv-BN-ReLU): 512x3; 512, 512, 256; 256, 256, 128;
    128, 64; 64; then a 3x3 convolution to logits. Output stride 32. The encoder normalises its input
    with ImageNet's mean and standard deviation.

    Args:
        num_classes: number of classes K.
        weights: ``None`` or ``"imagenet"`` (torchvision's VGG16-BN weights for the encoder).

    Returns:
        A module mapping float32 (N, 3, H, W) images in [0, 1] to logits (N, K, H, W), H, W >= 32.
    """
    check_num_classes(num_classes)
    backbone = vgg16_bn(weights=weights)
    decoder_plan = [(512, 512, 512), (512, 512, 256), (256, 256, 128), (128, 64), (64,)]
    decoder, in_channels = nn.ModuleList(), VGG16_STAGES[-1][-1]
    for channels in decoder_plan:
        decoder.append(stage(in_channels, channels))
        in_channels = channels[-1]
    classifier = nn.Conv2d(in_channels, num_classes, kernel_size=3, padding=1)
    return SegNet(backbone, decoder, classifier)
