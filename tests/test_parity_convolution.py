"""Parity of PyTorch and TensorFlow for 1x1 and transposed convolutions with the same weights, the
TensorFlow -> PyTorch padding table (every row run in both frameworks), and the adjoint identity."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from segdemo import upsampling
from segdemo.tensorflow import BilinearUpsampling2D as KerasBilinearUpsampling2D
from segdemo.torch import BilinearUpsampling2D as TorchBilinearUpsampling2D


def nchw(array):
    return np.ascontiguousarray(array.transpose(0, 3, 1, 2))


def nhwc(array):
    return np.ascontiguousarray(array.transpose(0, 2, 3, 1))


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (8, 6)])
@pytest.mark.parametrize("channels", [(192, 32), (3, 8)])
def test_one_by_one_convolution_is_the_same_matmul_in_both_frameworks(size, channels):
    in_channels, out_channels = channels
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, *size, in_channels)).astype(np.float32)  # NHWC
    matrix = rng.normal(size=(in_channels, out_channels)).astype(np.float32)
    bias = rng.normal(size=out_channels).astype(np.float32)
    expected = np.einsum("nhwc,cd->nhwd", images.astype(np.float64), matrix) + bias

    layer = keras.layers.Conv2D(out_channels, 1)
    layer.build((None, None, None, in_channels))
    layer.set_weights([matrix[None, None], bias])  # Keras kernel (1, 1, in, out)
    keras_outputs = np.asarray(layer(images))

    torch_layer = torch.nn.Conv2d(in_channels, out_channels, 1)
    with torch.no_grad():
        torch_layer.weight.copy_(torch.from_numpy(matrix.T[:, :, None, None].copy()))  # (out, in, 1, 1)
        torch_layer.bias.copy_(torch.from_numpy(bias))
        torch_outputs = torch_layer(torch.from_numpy(nchw(images))).numpy()

    np.testing.assert_allclose(keras_outputs, expected, atol=1e-4)
    np.testing.assert_allclose(nhwc(torch_outputs), expected, atol=1e-4)


def run_both(inputs, kernel, stride, tf_padding):
    """Runs Keras Conv2DTranspose and the mapped torch ConvTranspose2d with the same kernel.

    inputs: float32 (N, H, W, C_in); kernel: float32 (k, k, C_out, C_in) (Keras layout).
    Returns both outputs as NHWC numpy arrays.
    """
    kernel_size, out_channels, in_channels = kernel.shape[0], kernel.shape[2], kernel.shape[3]
    layer = keras.layers.Conv2DTranspose(out_channels, kernel_size, strides=stride, padding=tf_padding, use_bias=False)
    layer.build((None, None, None, in_channels))
    layer.set_weights([kernel])
    keras_outputs = np.asarray(layer(inputs))

    mapping = upsampling.torch_padding_for(kernel_size, stride, tf_padding)
    weight = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())  # (in, out, k, k)
    torch_outputs = F.conv_transpose2d(
        torch.from_numpy(nchw(inputs)), weight, stride=stride, padding=mapping.padding, output_padding=mapping.output_padding
    )
    if mapping.crop_end:
        torch_outputs = torch_outputs[..., : -mapping.crop_end, : -mapping.crop_end]
    return keras_outputs, nhwc(torch_outputs.numpy())


@pytest.mark.parametrize("row", upsampling.padding_table(), ids=lambda row: f"k{row.kernel_size}-s{row.stride}-{row.tf_padding}")
def test_every_padding_table_row_agrees_in_both_frameworks(row):
    rng = np.random.default_rng(row.kernel_size * 100 + row.stride)
    inputs = rng.normal(size=(1, 3, 4, 2)).astype(np.float32)  # odd and even sides at once
    kernel = rng.normal(size=(row.kernel_size, row.kernel_size, 3, 2)).astype(np.float32)
    keras_outputs, torch_outputs = run_both(inputs, kernel, row.stride, row.tf_padding)
    height = upsampling.tf_conv_transpose_output_size(3, row.kernel_size, row.stride, row.tf_padding)
    width = upsampling.tf_conv_transpose_output_size(4, row.kernel_size, row.stride, row.tf_padding)
    assert keras_outputs.shape == torch_outputs.shape == (1, height, width, 3)
    np.testing.assert_allclose(torch_outputs, keras_outputs, atol=1e-5)


def test_symmetric_torch_padding_is_shifted_when_excess_is_odd():
    # Why crop_end exists: padding=(k-s+1)//2 with output_padding=1 has TensorFlow's size but not its values.
    rng = np.random.default_rng(3)
    inputs, kernel = rng.normal(size=(1, 3, 3, 1)).astype(np.float32), rng.normal(size=(3, 3, 1, 1)).astype(np.float32)
    keras_outputs, _ = run_both(inputs, kernel, 2, "same")
    shifted = F.conv_transpose2d(torch.from_numpy(nchw(inputs)), torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()), stride=2, padding=1, output_padding=1)
    assert shifted.shape[-2:] == keras_outputs.shape[1:3]
    assert np.abs(nhwc(shifted.numpy()) - keras_outputs).max() > 1e-2


@pytest.mark.parametrize("factor", [2, 3, 8])
@pytest.mark.parametrize("size", [(1, 1), (3, 5)])
def test_bilinear_upsampling_layers_agree_after_porting_weights(factor, size):
    rng = np.random.default_rng(factor)
    inputs = rng.normal(size=(2, *size, 3)).astype(np.float32)
    keras_layer, torch_layer = KerasBilinearUpsampling2D(3, factor), TorchBilinearUpsampling2D(3, factor)
    keras_layer.build((None, None, None, 3))
    kernel = rng.normal(size=tuple(keras_layer.kernel.shape)).astype(np.float32)  # not bilinear: any weights
    keras_layer.set_weights([kernel])
    with torch.no_grad():
        torch_layer.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
        torch_outputs = nhwc(torch_layer(torch.from_numpy(nchw(inputs))).numpy())
    np.testing.assert_allclose(torch_outputs, np.asarray(keras_layer(inputs)), atol=1e-5)


def test_bilinear_upsampling_layers_start_identical():
    keras_layer, torch_layer = KerasBilinearUpsampling2D(5, 4), TorchBilinearUpsampling2D(5, 4)
    keras_layer.build((None, None, None, 5))
    np.testing.assert_array_equal(keras_layer.get_weights()[0], torch_layer.weight.detach().numpy().transpose(2, 3, 1, 0))


@st.composite
def convolution_cases(draw):
    kernel_size = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, kernel_size - 1))
    height = draw(st.integers(kernel_size, 9))
    width = draw(st.integers(kernel_size, 9))
    channels = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return kernel_size, stride, padding, height, width, channels, draw(st.integers(0, 2**16))


@settings(max_examples=25, deadline=None)
@given(convolution_cases())
def test_transposed_convolution_is_the_adjoint_of_convolution_in_both_frameworks(case):
    kernel_size, stride, padding, height, width, (in_channels, out_channels), seed = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(1, in_channels, height, width))
    weight = rng.normal(size=(out_channels, in_channels, kernel_size, kernel_size))  # torch conv layout
    forward = F.conv2d(torch.from_numpy(x), torch.from_numpy(weight), stride=stride, padding=padding)
    y = rng.normal(size=tuple(forward.shape))
    # output_padding restores rows the strided convolution never read, so A^T y has x's shape. The size before
    # output_padding can be 0 here (e.g. input 2, kernel 2, stride 3, padding 1), which is why it is computed
    # from the formula rather than with conv_transpose_output_size, which refuses an empty layer output.
    def size_before_output_padding(n: int) -> int:
        return (n - 1) * stride - 2 * padding + kernel_size

    output_padding = (height - size_before_output_padding(forward.shape[2]),
                      width - size_before_output_padding(forward.shape[3]))
    adjoint = F.conv_transpose2d(torch.from_numpy(y), torch.from_numpy(weight), stride=stride, padding=padding, output_padding=output_padding)
    left = float(torch.sum(forward * torch.from_numpy(y)))
    assert left == pytest.approx(float(torch.sum(torch.from_numpy(x) * adjoint)), rel=1e-9, abs=1e-9)

    # TensorFlow: explicit padding, kernel (k, k, in, out) for conv2d; conv2d_transpose reads it as (k, k, out', in').
    tf_padding = [[0, 0], [padding, padding], [padding, padding], [0, 0]]
    tf_kernel = tf.constant(weight.transpose(2, 3, 1, 0))
    tf_forward = tf.nn.conv2d(tf.constant(nhwc(x)), tf_kernel, strides=stride, padding=tf_padding)
    np.testing.assert_allclose(tf_forward.numpy(), nhwc(forward.numpy()), atol=1e-9)
    tf_adjoint = tf.nn.conv2d_transpose(tf.constant(nhwc(y)), tf_kernel, output_shape=(1, height, width, in_channels), strides=stride, padding=tf_padding)
    np.testing.assert_allclose(tf_adjoint.numpy(), nhwc(adjoint.numpy()), atol=1e-9)
    assert float(tf.reduce_sum(tf_forward * nhwc(y))) == pytest.approx(float(tf.reduce_sum(nhwc(x) * tf_adjoint)), rel=1e-9, abs=1e-9)


def test_transposed_convolution_is_the_gradient_of_convolution():
    rng = np.random.default_rng(5)
    x = torch.tensor(rng.normal(size=(1, 2, 7, 6)), requires_grad=True)
    weight = torch.from_numpy(rng.normal(size=(3, 2, 3, 3)))
    forward = F.conv2d(x, weight, stride=2, padding=1)
    y = torch.from_numpy(rng.normal(size=tuple(forward.shape)))
    (gradient,) = torch.autograd.grad(forward, x, grad_outputs=y)
    adjoint = F.conv_transpose2d(y, weight, stride=2, padding=1, output_padding=(0, 1))
    torch.testing.assert_close(gradient, adjoint)


@pytest.mark.parametrize("stride", [1, 2])
def test_frameworks_match_zero_insertion_reference(stride):
    # The FCN article's examples: 2x2 -> 4x4 (kernel 3, stride 1) and 2x2 -> 5x5 (kernel 3, stride 2).
    rng = np.random.default_rng(stride)
    inputs, kernel = rng.normal(size=(2, 2)).astype(np.float32), rng.normal(size=(3, 3)).astype(np.float32)
    reference = upsampling.conv_transpose2d_reference(inputs, kernel, stride)
    keras_outputs, torch_outputs = run_both(inputs[None, :, :, None], kernel[:, :, None, None], stride, "valid")
    assert reference.shape == ((4, 4) if stride == 1 else (5, 5))
    np.testing.assert_allclose(keras_outputs[0, :, :, 0], reference, atol=1e-5)
    np.testing.assert_allclose(torch_outputs[0, :, :, 0], reference, atol=1e-5)
