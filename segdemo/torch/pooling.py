"""Max pooling that returns where each maximum came from, and the unpooling that puts values back there.

SegNet's decoder upsamples with the encoder's pooling indices: each pooled value returns to the exact
pixel it came from and the other positions of its window become zero. PyTorch has both operators
(``F.max_pool2d(..., return_indices=True)`` and ``F.max_unpool2d``); these modules give them the same
names and arguments as ``segdemo.tensorflow`` and check their input.

Index layout (NCHW): one int64 per pooled value, ``y * W + x`` inside its own (n, c) plane of the
pre-pool map (see :mod:`segdemo.indices` for TensorFlow's layout and the conversion).

Sizes: pooling floors like ``nn.MaxPool2d`` (a 45-wide map pools to 22 and the last column is dropped);
unpooling restores the pre-pool size you pass, so odd sizes come back exactly.

Ties: among equal maxima in a window the CPU kernel keeps the first in row-major order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MaxPoolingWithArgmax2D", "MaxUnpooling2D"]


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(item, int) and item >= 1 for item in pair):
        raise ValueError(f"{name} must be a positive int or a pair of positive ints, got {value!r}.")
    return pair  # type: ignore[return-value]


def pooled_size(size: int, pool_size: int, strides: int) -> int:
    """Pooled length of one axis with floor rounding (no padding): ``(size - pool_size) // strides + 1``."""
    return (size - pool_size) // strides + 1


class MaxPoolingWithArgmax2D(nn.Module):
    """Max pooling that also returns the position of every maximum.

    Args:
        pool_size: window (height, width) or one int for both.
        strides: step (height, width) or one int for both.

    Call:
        inputs: float (N, C, H, W).

    Returns:
        ``(pooled, indices)``: pooled float (N, C, h, w) with ``h = (H - pool) // stride + 1`` (floor, so
        45 -> 22 for 2x2/2), and indices int64 (N, C, h, w), ``y * W + x`` in each pre-pool plane.

    Example:
        >>> pooled, indices = MaxPoolingWithArgmax2D()(torch.rand(2, 8, 45, 60))
        >>> tuple(pooled.shape), indices.dtype
        ((2, 8, 22, 30), torch.int64)
    """

    def __init__(self, pool_size: int | Sequence[int] = 2, strides: int | Sequence[int] = 2) -> None:
        super().__init__()
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = _pair(strides, "strides")

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(inputs, torch.Tensor) or inputs.dim() != 4:
            shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
            raise ValueError(f"MaxPoolingWithArgmax2D expects a 4-D NCHW tensor, got {shape}.")
        if not inputs.is_floating_point():
            raise ValueError(f"MaxPoolingWithArgmax2D expects a float tensor, got {inputs.dtype}; convert first.")
        height, width = inputs.shape[-2:]
        if height < self.pool_size[0] or width < self.pool_size[1]:
            raise ValueError(
                f"Input size ({height}, {width}) is smaller than the pooling window {self.pool_size}."
            )
        return F.max_pool2d(inputs, self.pool_size, self.strides, return_indices=True)

    def extra_repr(self) -> str:
        return f"pool_size={self.pool_size}, strides={self.strides}"


class MaxUnpooling2D(nn.Module):
    """Puts each pooled value back where its maximum came from; every other position becomes zero.

    Args:
        pool_size: window used by the matching pooling.
        strides: step used by the matching pooling.

    Call:
        values: float (N, C, h, w), e.g. decoder features at the pooled size.
        indices: int (N, C, h, w) from :class:`MaxPoolingWithArgmax2D` (never a float cast of them).
        output_size: the pre-pool size: ``(H, W)``, or a tensor whose last two dimensions are (H, W)
            (e.g. the encoder feature map before pooling). ``None`` assumes the largest size that pools
            to (h, w), ``(h - 1) * stride + pool``, which is wrong for odd sizes.

    Returns:
        float (N, C, H, W). Gradients flow to ``values`` (gathered at the indices).

    Raises:
        ValueError: for wrong ranks, mismatched shapes, float indices, or a size that does not pool to
            (h, w).
    """

    def __init__(self, pool_size: int | Sequence[int] = 2, strides: int | Sequence[int] = 2) -> None:
        super().__init__()
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = _pair(strides, "strides")

    def _resolve_size(self, values: torch.Tensor, output_size: object) -> tuple[int, int]:
        pooled_height, pooled_width = values.shape[-2:]
        if output_size is None:
            return (
                (pooled_height - 1) * self.strides[0] + self.pool_size[0],
                (pooled_width - 1) * self.strides[1] + self.pool_size[1],
            )
        if isinstance(output_size, torch.Tensor):
            if output_size.dim() < 2:
                raise ValueError(
                    f"output_size tensor must have the pre-pool spatial shape in its last two dimensions, "
                    f"got shape {tuple(output_size.shape)}."
                )
            return int(output_size.shape[-2]), int(output_size.shape[-1])
        size = tuple(output_size)  # type: ignore[arg-type]
        if len(size) != 2 or not all(isinstance(item, int) for item in size):
            raise ValueError(f"output_size must be (height, width) ints or a tensor, got {output_size!r}.")
        return size  # type: ignore[return-value]

    def forward(
        self,
        values: torch.Tensor,
        indices: torch.Tensor,
        output_size: Sequence[int] | torch.Tensor | None = None,
    ) -> torch.Tensor:
        if values.dim() != 4 or indices.dim() != 4:
            raise ValueError(
                f"MaxUnpooling2D expects 4-D NCHW values and indices, got {tuple(values.shape)} and "
                f"{tuple(indices.shape)}."
            )
        if indices.is_floating_point() or indices.dtype == torch.bool or indices.is_complex():
            raise ValueError(
                f"indices must be integers, got {indices.dtype}: a float cast silently corrupts indices above "
                "2**24 = 16777216 (float32 rounds them to a neighbour). Pass the indices the pooling returned."
            )
        if values.shape != indices.shape:
            raise ValueError(
                f"values {tuple(values.shape)} and indices {tuple(indices.shape)} must have the same shape."
            )
        height, width = self._resolve_size(values, output_size)
        expected = (pooled_size(height, self.pool_size[0], self.strides[0]),
                    pooled_size(width, self.pool_size[1], self.strides[1]))
        if expected != tuple(values.shape[-2:]):
            raise ValueError(
                f"output_size ({height}, {width}) pools to {expected}, not to the values' "
                f"{tuple(values.shape[-2:])}; pass the size of the map before the matching pooling."
            )
        return F.max_unpool2d(values, indices.long(), self.pool_size, self.strides, output_size=(height, width))

    def extra_repr(self) -> str:
        return f"pool_size={self.pool_size}, strides={self.strides}"
