"""FCN's learnable upsampling in Keras: transposed convolutions initialised to bilinear interpolation.

Mirrors ``segdemo.torch.upsampling`` name for name. Tensors are NHWC.
"""

from __future__ import annotations

from typing import Any

import keras

from segdemo.upsampling import bilinear_filters, bilinear_kernel_size


@keras.saving.register_keras_serializable(package="segdemo")
class BilinearInitializer(keras.initializers.Initializer):
    """Initialises a ``Conv2DTranspose`` kernel so that the layer upsamples each channel bilinearly.

    The kernel has Keras' layout (kH, kW, out, in) with ``in == out``: channel ``c`` feeds only channel
    ``c`` through :func:`segdemo.upsampling.bilinear_kernel`, other pairs get zeros. This is the
    initialisation of FCN's upsampling layers {cite}`long2015fcn`. Serialisable (no arguments).
    """

    def __call__(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        """Returns the bilinear kernel.

        Args:
            shape: (k, k, C, C).
            dtype: Keras dtype; ``None`` uses the float default.

        Returns:
            A (k, k, C, C) tensor.

        Raises:
            ValueError: if ``shape`` is not (k, k, C, C) with a square kernel and equal channels.
        """
        shape = tuple(int(size) for size in shape)
        if len(shape) != 4 or shape[0] != shape[1] or shape[2] != shape[3]:
            raise ValueError(
                f"BilinearInitializer needs a Conv2DTranspose kernel shape (k, k, C, C) with a square kernel and "
                f"as many input as output channels, got {shape}."
            )
        filters = bilinear_filters(shape[2], shape[0]).transpose(2, 3, 1, 0)
        return keras.ops.convert_to_tensor(filters, dtype=dtype or keras.config.floatx())

    def get_config(self) -> dict[str, Any]:
        return {}


@keras.saving.register_keras_serializable(package="segdemo")
class BilinearUpsampling2D(keras.layers.Conv2DTranspose):
    """Upsamples (N, H, W, C) to exactly (N, factor * H, factor * W, C), starting as bilinear interpolation.

    A ``Conv2DTranspose(channels, kernel_size=2 * factor - factor % 2, strides=factor, padding="same",
    use_bias=False)`` whose kernel starts from :class:`BilinearInitializer`. With this kernel size
    ``kernel_size - factor`` is even, so "same" crops the same rows at both ends and the layer equals the
    PyTorch layer of the same name, whose weight (in, out, k, k) is this kernel (k, k, out, in) permuted by
    ``(3, 2, 0, 1)``. Works for any input size, including unknown sizes in functional models.

    Edge behaviour: away from the border the output equals ``tf.image.resize(x, (factor * H, factor * W),
    "bilinear")`` exactly. In the outer ``factor // 2`` rows and columns the interpolation would reach
    outside the image: ``resize`` repeats the edge pixel, the transposed convolution sees zeros there, so
    its border values are smaller.

    Args:
        channels: input and output channels (FCN: the number of classes).
        factor: integer upsampling factor (FCN: 2, 8, 16 or 32).
        trainable: whether the kernel learns (FCN learns the 2x layers and freezes the final one).
        **kwargs: other ``keras.layers.Layer`` arguments (``name``, ``dtype``).
    """

    def __init__(self, channels: int, factor: int, *, trainable: bool = True, **kwargs: Any) -> None:
        for name, value in (("channels", channels), ("factor", factor)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"BilinearUpsampling2D: {name} must be a positive integer, got {value!r}.")
        super().__init__(
            filters=channels,
            kernel_size=bilinear_kernel_size(factor),
            strides=factor,
            padding="same",
            use_bias=False,
            kernel_initializer=BilinearInitializer(),
            trainable=trainable,
            **kwargs,
        )
        self.channels = channels
        self.factor = factor

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 4 or input_shape[-1] != self.channels:
            raise ValueError(
                f"BilinearUpsampling2D expects NHWC input with {self.channels} channels, got shape "
                f"{tuple(input_shape)}; Keras layers take (N, H, W, C)."
            )
        super().build(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
            "channels": self.channels,
            "factor": self.factor,
        }
