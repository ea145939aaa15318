"""What a decoder keeps from its encoder, in bytes: pooling indices, skip feature maps or skip scores.

An encoder-decoder runs its encoder first and its decoder afterwards, so whatever the decoder reads from the
encoder must stay in memory in between, for every image of the batch, even at inference. The book's models
keep three kinds of such tensors:

* ``"indices"``: SegNet's pooling indices (``segnet_small``, ``segnet_basic``, ``segnet``, and
  ``resnet50_segnet(indices=True)``). Both frameworks store one int64 per pooled value (8 bytes); the
  information is only which of the window's positions held the maximum, ``ceil(log2(4))`` = 2 bits for a
  2x2 window {cite}`badrinarayanan2017segnet`.
* ``"skip features"``: U-Net's encoder feature maps, float32, concatenated into the decoder
  {cite}`ronneberger2015unet`.
* ``"skip scores"``: FCN-16s/8s' class scores of pool4 and pool3, float32 with ``num_classes`` channels
  {cite}`long2015fcn` (a frugal implementation scores the pools as soon as they exist and keeps only these).

``encoder_decoder``, ``fcn32s`` and the default ``resnet50_segnet`` keep nothing but sizes (integers).

The accounting (:class:`SavedTensor`, :func:`index_bits`, :func:`feature_map_bytes`, :func:`index_bytes`,
:func:`summarise`) is plain Python. :func:`record_decoder_inputs` runs a PyTorch model once with forward hooks
and returns what it keeps; it imports torch only when called, so importing this module imports no framework.
On PyTorch's ``meta`` device it costs no arithmetic and no memory: only the shapes are propagated.

Example:
    >>> saved = SavedTensor("indices", "pool (1)", (1, 64, 180, 240), 8)
    >>> saved.stored_bytes, saved.needed_bytes
    (22118400, 691200.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

INT64_BYTES = 8
"""Bytes per index as PyTorch (``torch.int64``) and TensorFlow (``tf.int64``) store them."""

FLOAT32_BYTES = 4
"""Bytes per value of a float32 feature map or score map."""

KINDS = ("indices", "skip features", "skip scores")
"""The kinds of tensors a decoder of the book keeps from its encoder."""


def index_bits(pool_size: int | Sequence[int] = 2) -> int:
    """Bits that say which position of a pooling window held the maximum: ``ceil(log2(window size))``.

    Args:
        pool_size: the window, one int for a square window or (height, width).

    Returns:
        2 for a 2x2 window, 4 for 3x3 (9 positions), 0 for a 1x1 window.

    Raises:
        ValueError: for a window size that is not a positive integer.
    """
    if isinstance(pool_size, int):
        sizes: tuple = (pool_size, pool_size)
    elif isinstance(pool_size, (tuple, list)):
        sizes = tuple(pool_size)
    else:
        sizes = ()
    if len(sizes) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise ValueError(f"pool_size must be a positive int or (height, width) of positive ints, got {pool_size!r}.")
    return math.ceil(math.log2(sizes[0] * sizes[1]))


def feature_map_bytes(channels: int, height: int, width: int, bytes_per_element: int = FLOAT32_BYTES) -> int:
    """Bytes of one image's (channels, height, width) map: ``channels * height * width * bytes_per_element``.

    Example:
        >>> feature_map_bytes(64, 180, 240)  # a float32 map of 64 channels at 180x240
        11059200
    """
    _check_positive(channels=channels, height=height, width=width, bytes_per_element=bytes_per_element)
    return channels * height * width * bytes_per_element


def index_bytes(channels: int, pooled_height: int, pooled_width: int, bits: int | float) -> float:
    """Bytes of the pooling indices of one image: one index of ``bits`` bits per pooled value.

    Args:
        channels, pooled_height, pooled_width: the shape of the pooled map (one index per value).
        bits: bits per index: 64 as the frameworks store them, :func:`index_bits` as the information needs.

    Returns:
        ``channels * pooled_height * pooled_width * bits / 8`` (a float: 2-bit indices need not fill bytes).

    Example:
        >>> index_bytes(64, 90, 120, bits=2)  # the 2x2 pooling of a 64-channel 180x240 map
        172800.0
    """
    _check_positive(channels=channels, pooled_height=pooled_height, pooled_width=pooled_width)
    if not isinstance(bits, (int, float)) or isinstance(bits, bool) or not bits > 0:
        raise ValueError(f"bits must be a positive number, got {bits!r}.")
    return channels * pooled_height * pooled_width * bits / 8


@dataclass(frozen=True)
class SavedTensor:
    """One tensor the decoder keeps from the encoder.

    Attributes:
        kind: one of :data:`KINDS`.
        layer: where it was produced, e.g. ``"pool (1)"`` (the first call of ``pool``) or ``"encoder.0"``.
        shape: its shape, batch included, e.g. (1, 64, 180, 240) for NCHW.
        bytes_per_element: as the framework stores it: 8 for int64 indices, 4 for float32 maps.
        allocated_bytes: bytes of the storage the framework actually allocated for it, when it was measured
            on a real device; ``None`` on the ``meta`` device or when computed from shapes alone.
        pool_size: the pooling window of ``"indices"`` (for :func:`index_bits`).
    """

    kind: str
    layer: str
    shape: tuple[int, ...]
    bytes_per_element: int
    allocated_bytes: int | None = None
    pool_size: tuple[int, int] = (2, 2)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}.")
        if not all(isinstance(size, int) and size >= 0 for size in self.shape):
            raise ValueError(f"shape must hold non-negative ints, got {self.shape!r}.")
        _check_positive(bytes_per_element=self.bytes_per_element)

    @property
    def numel(self) -> int:
        """Number of elements (indices or values)."""
        return math.prod(self.shape)

    @property
    def stored_bytes(self) -> int:
        """Bytes as the framework stores it, computed from the shape: ``numel * bytes_per_element``."""
        return self.numel * self.bytes_per_element

    @property
    def needed_bytes(self) -> float:
        """Bytes the information needs: :func:`index_bits` per index for indices, the stored bytes otherwise."""
        if self.kind == "indices":
            return self.numel * index_bits(self.pool_size) / 8
        return float(self.stored_bytes)


def summarise(saved: Sequence[SavedTensor]) -> dict[str, Any]:
    """Totals of what a decoder keeps.

    Args:
        saved: the tensors, e.g. from :func:`record_decoder_inputs`.

    Returns:
        ``{"stored_bytes": int, "needed_bytes": float, "kinds": sorted kinds present, "count": int,
        "allocated_bytes": int or None}``; ``allocated_bytes`` is the measured total, ``None`` unless every
        tensor was measured. An empty ``saved`` (a decoder that keeps only sizes) gives zeros and no kinds.
    """
    allocated = [tensor.allocated_bytes for tensor in saved]
    return {
        "stored_bytes": sum(tensor.stored_bytes for tensor in saved),
        "needed_bytes": float(sum(tensor.needed_bytes for tensor in saved)),
        "kinds": sorted({tensor.kind for tensor in saved}),
        "count": len(saved),
        "allocated_bytes": sum(allocated) if saved and None not in allocated else (0 if not saved else None),
    }


def record_decoder_inputs(model: Any, images: Any) -> list[SavedTensor]:
    """Runs a ``segdemo.torch`` model once and returns what its decoder keeps from its encoder.

    Forward hooks catch the tensors as the encoder produces them: the index output of every
    ``MaxPoolingWithArgmax2D`` of a model that unpools with indices, the output of every U-Net encoder level,
    FCN's ``score_pool4`` and ``score_pool3``. Each is returned in the order produced, with its shape and, on a
    real device, the bytes of its storage (``untyped_storage().nbytes()``).

    Args:
        model: a model of ``segdemo.torch`` (``build_model(name, ...)``); it is run under ``torch.no_grad``
            in whatever mode it is in.
        images: float32 (N, 3, H, W) on the model's device; use ``device="meta"`` (model built under
            ``torch.device("meta")``) to get shapes without computing anything.

    Returns:
        The :class:`SavedTensor` s, in the order the encoder produced them; empty for a decoder that keeps only
        sizes (``encoder_decoder``, ``fcn32s``, ``resnet50_segnet`` without indices).

    Raises:
        ValueError: for a model that is not one of the book's (the message names its type).

    Example:
        >>> import torch, segdemo.torch
        >>> with torch.device("meta"):
        ...     model = segdemo.torch.segnet_basic(11).eval()
        >>> saved = record_decoder_inputs(model, torch.empty(1, 3, 360, 480, device="meta"))
        >>> [tensor.shape for tensor in saved][0], summarise(saved)["stored_bytes"]
        ((1, 64, 180, 240), 29368320)
    """
    import torch

    from segdemo.torch.fcn import FCN
    from segdemo.torch.pooling import MaxPoolingWithArgmax2D
    from segdemo.torch.resnet_segnet import ResNet50SegNet
    from segdemo.torch.segnets import PooledEncoderDecoder
    from segdemo.torch.unets import UNet

    saved: list[SavedTensor] = []

    def measured(tensor: torch.Tensor) -> int | None:
        return None if tensor.device.type == "meta" else int(tensor.untyped_storage().nbytes())

    def keep(kind: str, layer: str, tensor: torch.Tensor, pool_size: tuple[int, int] = (2, 2)) -> None:
        saved.append(SavedTensor(kind, layer, tuple(int(size) for size in tensor.shape), tensor.element_size(),
                                 measured(tensor), pool_size))

    targets: list[tuple[str, str, torch.nn.Module]] = []  # (kind, name, module)
    if isinstance(model, (PooledEncoderDecoder, ResNet50SegNet)):
        uses_indices = model.use_indices if isinstance(model, PooledEncoderDecoder) else model.indices
        if uses_indices:
            targets = [("indices", name, module) for name, module in model.named_modules()
                       if isinstance(module, MaxPoolingWithArgmax2D)]
    elif isinstance(model, UNet):
        targets = [("skip features", f"encoder.{number}", level) for number, level in enumerate(model.encoder)]
    elif isinstance(model, FCN):
        targets = [("skip scores", name, getattr(model, name)) for name in ("score_pool4", "score_pool3")
                   if hasattr(model, name)]
    else:
        raise ValueError(
            f"record_decoder_inputs knows the models of segdemo.torch, got a {type(model).__name__}; "
            "build one with segdemo.torch.build_model(name, num_classes)."
        )

    calls: dict[str, int] = {}

    def hook_for(kind: str, name: str):
        def hook(module: torch.nn.Module, inputs: tuple, output: Any) -> None:
            calls[name] = calls.get(name, 0) + 1
            # A pooling module used at several levels (SegNet's one ``pool``) is numbered by its call.
            layer = name if kind != "indices" else f"{name} ({calls[name]})"
            if kind == "indices":
                keep(kind, layer, output[1], tuple(module.pool_size))
            else:
                keep(kind, layer, output)
        return hook

    handles = [module.register_forward_hook(hook_for(kind, name)) for kind, name, module in targets]
    try:
        with torch.no_grad():
            model(images)
    finally:
        for handle in handles:
            handle.remove()
    return saved


def _check_positive(**values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
