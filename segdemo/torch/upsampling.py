"""FCN's learnable upsampling in PyTorch: transposed convolutions initialised to bilinear interpolation.

Mirrors ``segdemo.tensorflow.upsampling`` name for name. Tensors are NCHW.
"""

from __future__ import annotations

import torch
from torch import nn

from segdemo.upsampling import bilinear_filters, bilinear_kernel_size


class BilinearInitializer:
    """Fills a ``ConvTranspose2d`` weight so that the layer upsamples each channel bilinearly.

    The weight has PyTorch's layout (in, out, kH, kW) with ``in == out``: channel ``c`` feeds only
    channel ``c`` through :func:`segdemo.upsampling.bilinear_kernel`, other pairs get zeros. This is the
    initialisation of FCN's upsampling layers {cite}`long2015fcn`.

    Example:
        >>> layer = nn.ConvTranspose2d(3, 3, kernel_size=4, stride=2, padding=1, bias=False)
        >>> _ = BilinearInitializer()(layer.weight)
    """

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        """Fills ``weight`` in place (without recording gradients) and returns it.

        Args:
            weight: float (C, C, k, k) tensor, e.g. ``ConvTranspose2d.weight``.

        Returns:
            The same tensor, now bilinear filters.

        Raises:
            ValueError: if ``weight`` is not (C, C, k, k) with equal channels and a square kernel.
        """
        shape = tuple(weight.shape)
        if len(shape) != 4 or shape[0] != shape[1] or shape[2] != shape[3]:
            raise ValueError(
                f"BilinearInitializer needs a ConvTranspose2d weight (C, C, k, k) with as many input as output "
                f"channels and a square kernel, got shape {shape}."
            )
        filters = torch.from_numpy(bilinear_filters(shape[0], shape[2]))
        with torch.no_grad():
            weight.copy_(filters.to(dtype=weight.dtype, device=weight.device))
        return weight

    def __repr__(self) -> str:
        return "BilinearInitializer()"


class BilinearUpsampling2D(nn.ConvTranspose2d):
    """Upsamples (N, C, H, W) to exactly (N, C, factor * H, factor * W), starting as bilinear interpolation.

    A ``ConvTranspose2d(channels, channels, kernel_size=2 * factor - factor % 2, stride=factor,
    padding=(kernel_size - factor) // 2, bias=False)`` whose weight is filled by
    :class:`BilinearInitializer`. The weight keeps the standard layout (in, out, k, k) under the name
    ``weight`` (no bias), so it ports one to one to the Keras layer of the same name, whose kernel is
    ``weight.permute(2, 3, 1, 0)``; both frameworks give the same output.

    Edge behaviour: away from the border the output equals ``F.interpolate(x, scale_factor=factor,
    mode="bilinear", align_corners=False)`` exactly. In the outer ``factor // 2`` rows and columns the
    interpolation would reach outside the image: ``interpolate`` repeats the edge pixel, the transposed
    convolution sees zeros there, so its border values are smaller (for factor 2 on a constant image of
    ones: 0.75 along the edges and 0.5625 in the corners instead of 1).

    Args:
        channels: input and output channels (FCN: the number of classes).
        factor: integer upsampling factor (FCN: 2, 8, 16 or 32).
        trainable: whether the weight learns (FCN learns the 2x layers and freezes the final one).
    """

    def __init__(self, channels: int, factor: int, *, trainable: bool = True) -> None:
        for name, value in (("channels", channels), ("factor", factor)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"BilinearUpsampling2D: {name} must be a positive integer, got {value!r}.")
        kernel_size = bilinear_kernel_size(factor)
        super().__init__(
            channels,
            channels,
            kernel_size=kernel_size,
            stride=factor,
            padding=(kernel_size - factor) // 2,
            bias=False,
        )
        self.channels = channels
        self.factor = factor
        BilinearInitializer()(self.weight)
        self.weight.requires_grad_(trainable)

    def forward(self, inputs: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        """Upsamples ``inputs``.

        Args:
            inputs: float32 (N, C, H, W) with C == ``channels``.
            output_size: unused; accepted for compatibility with ``nn.ConvTranspose2d``.

        Returns:
            float32 (N, C, factor * H, factor * W).

        Raises:
            ValueError: if ``inputs`` is not 4-D with ``channels`` channels.
        """
        if inputs.ndim != 4 or inputs.shape[1] != self.channels:
            raise ValueError(
                f"BilinearUpsampling2D expects NCHW input with {self.channels} channels, got shape "
                f"{tuple(inputs.shape)}; PyTorch layers take (N, C, H, W)."
            )
        return super().forward(inputs)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, factor={self.factor}, trainable={self.weight.requires_grad}"
