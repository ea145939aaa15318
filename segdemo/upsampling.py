"""Arithmetic of upsampling, framework-free: bilinear kernels, output sizes, padding conventions.

FCN upsamples class scores with transposed convolutions whose kernels start as bilinear interpolation
(:func:`bilinear_kernel`, the ``upsample_filt`` of the FCN code). PyTorch and TensorFlow describe the
padding of a transposed convolution differently: TensorFlow/Keras take ``padding="same"`` or ``"valid"``
and derive the output size; PyTorch takes integer ``padding`` (rows removed on *both* sides of the full
output) and ``output_padding`` (rows added at the bottom/right). :func:`torch_padding_for` maps one onto
the other and :func:`padding_table` lists the mapping for a grid of kernels and strides. The chapter
*Transposed convolution* runs every row in both frameworks.

Sizes below are along one spatial axis; both axes use the same arithmetic. Dilation is always 1.
"""

from __future__ import annotations

import dataclasses

import numpy as np

TF_PADDINGS = ("same", "valid")


def _check_positive_int(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _check_non_negative_int(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")


def _normalise_tf_padding(tf_padding: str) -> str:
    if not isinstance(tf_padding, str) or tf_padding.lower() not in TF_PADDINGS:
        raise ValueError(f"tf_padding must be 'same' or 'valid' (any case), got {tf_padding!r}.")
    return tf_padding.lower()


def bilinear_kernel_size(factor: int) -> int:
    """Kernel size FCN uses to upsample by ``factor``: ``2 * factor - factor % 2``.

    With this size ``kernel_size - factor`` is even, so the padding is symmetric and PyTorch and
    TensorFlow (``padding="same"``) crop the same rows: the two frameworks agree exactly and the output
    is exactly ``factor`` times the input.

    Args:
        factor: upsampling factor (the stride), a positive integer.

    Returns:
        The kernel size: 4 for factor 2, 5 for 3, 16 for 8, 64 for 32.

    Raises:
        ValueError: if ``factor`` is not a positive integer.
    """
    _check_positive_int(factor, "factor")
    return 2 * factor - factor % 2


def bilinear_kernel(kernel_size: int) -> np.ndarray:
    """The 2-D bilinear interpolation kernel of FCN (``upsample_filt`` in the FCN code).

    ``kernel[i, j] = (1 - |i - centre| / f) * (1 - |j - centre| / f)`` with ``f = (kernel_size + 1) // 2``
    and ``centre = f - 1`` (odd size) or ``f - 0.5`` (even size). A transposed convolution with this kernel
    and stride ``f`` interpolates bilinearly between input pixels.

    Args:
        kernel_size: side of the square kernel, a positive integer.

    Returns:
        float64 (kernel_size, kernel_size), e.g. for 4 the outer product of ``[0.25, 0.75, 0.75, 0.25]``.

    Raises:
        ValueError: if ``kernel_size`` is not a positive integer.
    """
    _check_positive_int(kernel_size, "kernel_size")
    factor = (kernel_size + 1) // 2
    centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    profile = 1.0 - np.abs(np.arange(kernel_size) - centre) / factor
    return np.outer(profile, profile)


def bilinear_filters(channels: int, kernel_size: int) -> np.ndarray:
    """Per-channel bilinear filters for a ``channels -> channels`` transposed convolution.

    Channel ``c`` of the input feeds only channel ``c`` of the output (FCN upsamples each class score
    map separately), so the filters are ``bilinear_kernel`` on the diagonal and zero elsewhere.

    Args:
        channels: input and output channels, a positive integer.
        kernel_size: side of the square kernel, a positive integer.

    Returns:
        float32 (channels, channels, kernel_size, kernel_size): PyTorch's ``ConvTranspose2d`` weight layout
        (in, out, kH, kW). For Keras' ``Conv2DTranspose`` kernel (kH, kW, out, in) use
        ``filters.transpose(2, 3, 1, 0)``.

    Raises:
        ValueError: if an argument is not a positive integer.
    """
    _check_positive_int(channels, "channels")
    kernel = bilinear_kernel(kernel_size).astype(np.float32)
    filters = np.zeros((channels, channels, kernel_size, kernel_size), dtype=np.float32)
    filters[np.arange(channels), np.arange(channels)] = kernel
    return filters


def conv_output_size(input_size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """Output size of a convolution: ``floor((input_size + 2 * padding - kernel_size) / stride) + 1``.

    Raises:
        ValueError: for non-integer or negative arguments, or a kernel larger than the padded input.
    """
    _check_positive_int(input_size, "input_size")
    _check_positive_int(kernel_size, "kernel_size")
    _check_positive_int(stride, "stride")
    _check_non_negative_int(padding, "padding")
    if input_size + 2 * padding < kernel_size:
        raise ValueError(
            f"kernel_size {kernel_size} is larger than the padded input {input_size} + 2 * {padding}; "
            "use a smaller kernel or more padding."
        )
    return (input_size + 2 * padding - kernel_size) // stride + 1


def conv_transpose_output_size(
    input_size: int, kernel_size: int, stride: int = 1, padding: int = 0, output_padding: int = 0
) -> int:
    """Output size of PyTorch's ``ConvTranspose2d``: ``(n - 1) * s - 2 * padding + k + output_padding``.

    ``(n - 1) * s + k`` is the *full* output (every input pixel scatters a whole kernel); ``padding``
    removes rows from both ends and ``output_padding`` adds rows at the end.

    Raises:
        ValueError: for non-integer or negative arguments, ``output_padding >= stride`` (PyTorch refuses
            it) or padding that removes the whole output.
    """
    _check_positive_int(input_size, "input_size")
    _check_positive_int(kernel_size, "kernel_size")
    _check_positive_int(stride, "stride")
    _check_non_negative_int(padding, "padding")
    _check_non_negative_int(output_padding, "output_padding")
    if output_padding >= stride:
        raise ValueError(f"output_padding {output_padding} must be smaller than stride {stride}.")
    size = (input_size - 1) * stride - 2 * padding + kernel_size + output_padding
    if size < 1:
        raise ValueError(
            f"padding {padding} removes the whole output of a transposed convolution with input {input_size}, "
            f"kernel {kernel_size}, stride {stride}; use less padding."
        )
    return size


def tf_conv_transpose_output_size(input_size: int, kernel_size: int, stride: int, tf_padding: str) -> int:
    """Output size of Keras' ``Conv2DTranspose`` / ``tf.nn.conv2d_transpose`` (no ``output_padding``).

    ``"same"``: ``n * s``, whatever the kernel. ``"valid"``: ``n * s + max(k - s, 0)``, the full output
    (padded with zeros at the end when the kernel is smaller than the stride).

    Raises:
        ValueError: for non-integer arguments or a padding other than ``"same"``/``"valid"``.
    """
    _check_positive_int(input_size, "input_size")
    _check_positive_int(kernel_size, "kernel_size")
    _check_positive_int(stride, "stride")
    if _normalise_tf_padding(tf_padding) == "same":
        return input_size * stride
    return input_size * stride + max(kernel_size - stride, 0)


@dataclasses.dataclass(frozen=True)
class TorchPadding:
    """PyTorch ``ConvTranspose2d`` arguments reproducing a TensorFlow padding, plus a crop if needed.

    Attributes:
        padding: ``ConvTranspose2d(padding=...)``: rows removed at both ends of the full output.
        output_padding: ``ConvTranspose2d(output_padding=...)``: rows added at the end.
        crop_end: rows to slice off the end afterwards (``y[..., :-1, :-1]``). Needed when
            ``kernel_size - stride`` is odd: TensorFlow then removes one row more at the end than at the
            start, which PyTorch's symmetric ``padding`` cannot express (``padding + 1`` with
            ``output_padding=1`` has the right size but is shifted by one pixel).
    """

    padding: int
    output_padding: int
    crop_end: int


def torch_padding_for(kernel_size: int, stride: int, tf_padding: str) -> TorchPadding:
    """Maps a TensorFlow transposed-convolution padding onto PyTorch's ``padding``/``output_padding``.

    A transposed convolution computes the full output of size ``(n - 1) * s + k`` and crops it.
    TensorFlow's ``"same"`` crops ``k - s`` rows, ``(k - s) // 2`` at the start and the rest at the end (the
    adjoint of a "same" convolution, which pads the same way); if ``k < s`` it appends ``s - k`` zero rows
    instead. ``"valid"`` crops nothing and appends ``s - k`` zero rows if ``k < s``.

    Args:
        kernel_size: kernel side ``k``.
        stride: stride ``s``.
        tf_padding: ``"same"`` or ``"valid"`` (any case).

    Returns:
        The :class:`TorchPadding` that gives the same output, value for value, for every input size.

    Raises:
        ValueError: for non-integer arguments or an unknown padding.
    """
    _check_positive_int(kernel_size, "kernel_size")
    _check_positive_int(stride, "stride")
    padding_mode = _normalise_tf_padding(tf_padding)
    if kernel_size < stride:
        # Both paddings give n * s: the full output followed by s - k rows no kernel reaches.
        return TorchPadding(padding=0, output_padding=stride - kernel_size, crop_end=0)
    if padding_mode == "valid":
        return TorchPadding(padding=0, output_padding=0, crop_end=0)
    excess = kernel_size - stride
    return TorchPadding(padding=excess // 2, output_padding=0, crop_end=excess % 2)


@dataclasses.dataclass(frozen=True)
class PaddingRow:
    """One row of :func:`padding_table`.

    Attributes:
        kernel_size: kernel side ``k``.
        stride: stride ``s``.
        tf_padding: ``"same"`` or ``"valid"``.
        output_size: TensorFlow's output size as a formula of the input size ``n`` (e.g. ``"2n+2"``).
        torch: the PyTorch arguments that reproduce it.
    """

    kernel_size: int
    stride: int
    tf_padding: str
    output_size: str
    torch: TorchPadding


def _size_formula(stride: int, extra: int) -> str:
    scaled = "n" if stride == 1 else f"{stride}n"
    return scaled if extra == 0 else f"{scaled}+{extra}"


def padding_table(
    kernel_sizes: tuple[int, ...] = (1, 2, 3, 4, 5, 16),
    strides: tuple[int, ...] = (1, 2, 8),
    tf_paddings: tuple[str, ...] = TF_PADDINGS,
) -> list[PaddingRow]:
    """The TensorFlow -> PyTorch padding mapping for every combination of the arguments.

    Returns:
        One :class:`PaddingRow` per (kernel size, stride, padding), in that nesting order.

    Raises:
        ValueError: for a non-integer size or stride or an unknown padding.
    """
    rows = []
    for kernel_size in kernel_sizes:
        for stride in strides:
            for tf_padding in tf_paddings:
                mode = _normalise_tf_padding(tf_padding)
                extra = max(kernel_size - stride, 0) if mode == "valid" else 0
                rows.append(
                    PaddingRow(
                        kernel_size=kernel_size,
                        stride=stride,
                        tf_padding=mode,
                        output_size=_size_formula(stride, extra),
                        torch=torch_padding_for(kernel_size, stride, mode),
                    )
                )
    return rows


def insert_zeros(array: np.ndarray, stride: int) -> np.ndarray:
    """Puts ``stride - 1`` zeros between neighbouring pixels along the last two axes.

    The first step of a transposed convolution read as a plain convolution: a 2x2 input with stride 2
    becomes 3x3, ``n`` becomes ``(n - 1) * stride + 1``.

    Args:
        array: (..., H, W) array of any dtype.
        stride: positive integer.

    Returns:
        (..., (H - 1) * stride + 1, (W - 1) * stride + 1) array of the same dtype.

    Raises:
        ValueError: if ``array`` has fewer than two axes or ``stride`` is not a positive integer.
    """
    _check_positive_int(stride, "stride")
    array = np.asarray(array)
    if array.ndim < 2:
        raise ValueError(f"array must have at least two axes (..., H, W), got shape {array.shape}.")
    height, width = array.shape[-2:]
    out = np.zeros((*array.shape[:-2], (height - 1) * stride + 1, (width - 1) * stride + 1), dtype=array.dtype)
    out[..., ::stride, ::stride] = array
    return out


def conv_transpose2d_reference(inputs: np.ndarray, kernel: np.ndarray, stride: int = 1) -> np.ndarray:
    """Full transposed convolution of one single-channel map, written as a scatter (a reference).

    Every input pixel adds ``input[i, j] * kernel`` into the output at ``(i * stride, j * stride)``; no
    cropping (PyTorch's ``padding=0``, TensorFlow's ``"valid"`` when ``k >= s``).

    Args:
        inputs: float (H, W).
        kernel: float (kH, kW), in the frameworks' orientation (not flipped).
        stride: positive integer.

    Returns:
        float64 ((H - 1) * stride + kH, (W - 1) * stride + kW).

    Raises:
        ValueError: if ``inputs`` or ``kernel`` is not 2-D, or ``stride`` is not a positive integer.
    """
    _check_positive_int(stride, "stride")
    inputs = np.asarray(inputs, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if inputs.ndim != 2 or kernel.ndim != 2:
        raise ValueError(f"inputs and kernel must be 2-D, got shapes {inputs.shape} and {kernel.shape}.")
    (height, width), (kernel_height, kernel_width) = inputs.shape, kernel.shape
    out = np.zeros(((height - 1) * stride + kernel_height, (width - 1) * stride + kernel_width))
    for i in range(height):
        for j in range(width):
            out[i * stride : i * stride + kernel_height, j * stride : j * stride + kernel_width] += inputs[i, j] * kernel
    return out
