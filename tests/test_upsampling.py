"""Tests for segdemo.upsampling: kernels and size arithmetic, checked against hand-worked examples,
brute-force numpy references and properties (no framework needed)."""

import numpy as np
import pytest

from segdemo import upsampling


def correlate_valid(inputs, kernel):
    """Plain 'valid' cross-correlation (what frameworks call convolution), by loops."""
    kernel_height, kernel_width = kernel.shape
    out = np.zeros((inputs.shape[0] - kernel_height + 1, inputs.shape[1] - kernel_width + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(inputs[i : i + kernel_height, j : j + kernel_width] * kernel)
    return out


def test_bilinear_kernel_hand_worked_sizes_3_and_4():
    np.testing.assert_allclose(upsampling.bilinear_kernel(4), np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25]))
    np.testing.assert_allclose(upsampling.bilinear_kernel(3), np.outer([0.5, 1.0, 0.5], [0.5, 1.0, 0.5]))
    np.testing.assert_allclose(upsampling.bilinear_kernel(1), [[1.0]])


@pytest.mark.parametrize("factor", [1, 2, 3, 4, 5, 8, 16, 32])
def test_bilinear_kernel_taps_of_each_phase_sum_to_one(factor):
    # Each output pixel of a stride-`factor` transposed convolution takes one tap per phase: summing to
    # one means a constant input stays constant (interpolation, not amplification).
    kernel = upsampling.bilinear_kernel(upsampling.bilinear_kernel_size(factor))
    profile = np.sqrt(np.diag(kernel))  # the kernel is the outer product of this 1-D profile
    np.testing.assert_allclose(kernel, np.outer(profile, profile))
    for phase in range(factor):
        assert profile[phase::factor].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(kernel, kernel.T)


@pytest.mark.parametrize("factor", [1, 2, 3, 4, 7, 8, 32])
def test_bilinear_kernel_size_leaves_even_excess(factor):
    size = upsampling.bilinear_kernel_size(factor)
    assert (size - factor) % 2 == 0
    assert factor <= size < 2 * factor + 1


def test_bilinear_filters_are_diagonal_in_torch_layout():
    filters = upsampling.bilinear_filters(3, 4)
    assert filters.shape == (3, 3, 4, 4) and filters.dtype == np.float32
    for source in range(3):
        for target in range(3):
            expected = upsampling.bilinear_kernel(4) if source == target else np.zeros((4, 4))
            np.testing.assert_allclose(filters[source, target], expected, rtol=1e-6)


@pytest.mark.parametrize("input_size", [1, 4, 5, 28])
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 7])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_conv_output_size_counts_window_positions(input_size, kernel_size, stride):
    padded = input_size + 2
    if padded < kernel_size:
        return
    positions = len(range(0, padded - kernel_size + 1, stride))
    assert upsampling.conv_output_size(input_size, kernel_size, stride, padding=1) == positions


@pytest.mark.parametrize("input_size", [1, 2, 5])
@pytest.mark.parametrize("kernel_size", [1, 3, 4])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_conv_transpose_output_size_matches_reference_scatter(input_size, kernel_size, stride):
    full = upsampling.conv_transpose2d_reference(np.ones((input_size, 1)), np.ones((kernel_size, 1)), stride).shape[0]
    assert upsampling.conv_transpose_output_size(input_size, kernel_size, stride) == full
    if full > 2:
        assert upsampling.conv_transpose_output_size(input_size, kernel_size, stride, padding=1) == full - 2
    assert upsampling.conv_transpose_output_size(input_size, kernel_size, stride, output_padding=stride - 1) == full + stride - 1


def test_fcn_article_examples_sizes():
    # 2x2 -> 4x4 with kernel 3, stride 1 (a "full" convolution); kernel 4 stride 2 and kernel 16 stride 8
    # with "same" padding double and octuple the size.
    assert upsampling.conv_transpose_output_size(2, 3, 1) == 4
    assert upsampling.conv_transpose_output_size(2, 3, 2) == 5
    assert upsampling.tf_conv_transpose_output_size(5, 4, 2, "same") == 10
    assert upsampling.tf_conv_transpose_output_size(5, 16, 8, "SAME") == 40


@pytest.mark.parametrize("row", upsampling.padding_table(), ids=lambda row: f"k{row.kernel_size}-s{row.stride}-{row.tf_padding}")
@pytest.mark.parametrize("input_size", [1, 4, 7])
def test_padding_table_rows_give_tensorflow_sizes(row, input_size):
    torch_size = upsampling.conv_transpose_output_size(
        input_size, row.kernel_size, row.stride, row.torch.padding, row.torch.output_padding
    ) - row.torch.crop_end
    expected = upsampling.tf_conv_transpose_output_size(input_size, row.kernel_size, row.stride, row.tf_padding)
    assert torch_size == expected
    # The printed formula evaluates to the same size.
    assert eval(row.output_size.replace("n", f"*{input_size}").lstrip("*")) == expected


def test_padding_table_crops_only_when_excess_is_odd():
    for row in upsampling.padding_table(kernel_sizes=(2, 3, 4, 5), strides=(1, 2), tf_paddings=("same",)):
        assert row.torch.crop_end == (row.kernel_size - row.stride) % 2


def test_insert_zeros_hand_worked():
    out = upsampling.insert_zeros(np.array([[1, 2], [3, 4]]), 2)
    np.testing.assert_array_equal(out, [[1, 0, 2], [0, 0, 0], [3, 0, 4]])
    assert upsampling.insert_zeros(np.ones((2, 4, 5)), 3).shape == (2, 10, 13)


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("kernel_shape", [(3, 3), (4, 2), (1, 1)])
def test_transposed_convolution_is_convolution_of_zero_inserted_padded_input_with_flipped_kernel(stride, kernel_shape):
    rng = np.random.default_rng(0)
    inputs, kernel = rng.normal(size=(3, 4)), rng.normal(size=kernel_shape)
    padded = np.pad(upsampling.insert_zeros(inputs, stride), [(kernel_shape[0] - 1,) * 2, (kernel_shape[1] - 1,) * 2])
    by_convolution = correlate_valid(padded, kernel[::-1, ::-1])
    np.testing.assert_allclose(upsampling.conv_transpose2d_reference(inputs, kernel, stride), by_convolution, atol=1e-12)


def test_reference_is_adjoint_of_strided_correlation():
    rng = np.random.default_rng(1)
    kernel, stride = rng.normal(size=(3, 2)), 2
    small = rng.normal(size=(3, 4))
    large = rng.normal(size=upsampling.conv_transpose2d_reference(small, kernel, stride).shape)
    forward = correlate_valid(large, kernel)[::stride, ::stride]
    assert np.sum(forward * small) == pytest.approx(np.sum(large * upsampling.conv_transpose2d_reference(small, kernel, stride)))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: upsampling.bilinear_kernel(0), "kernel_size"),
        (lambda: upsampling.bilinear_kernel(2.0), "kernel_size"),
        (lambda: upsampling.bilinear_kernel_size(-2), "factor"),
        (lambda: upsampling.bilinear_filters(0, 4), "channels"),
        (lambda: upsampling.conv_output_size(3, 8), "larger than the padded input"),
        (lambda: upsampling.conv_output_size(3, 3, padding=-1), "padding"),
        (lambda: upsampling.conv_transpose_output_size(3, 3, 2, output_padding=2), "smaller than stride"),
        (lambda: upsampling.conv_transpose_output_size(1, 1, 1, padding=1), "removes the whole output"),
        (lambda: upsampling.tf_conv_transpose_output_size(3, 3, 2, "full"), "'same' or 'valid'"),
        (lambda: upsampling.torch_padding_for(3, 0, "same"), "stride"),
        (lambda: upsampling.padding_table(tf_paddings=("causal",)), "'same' or 'valid'"),
        (lambda: upsampling.insert_zeros(np.ones(3), 2), "shape"),
        (lambda: upsampling.conv_transpose2d_reference(np.ones((2, 2, 1)), np.ones((2, 2))), "2-D"),
    ],
)
def test_bad_input_raises_value_error_naming_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_module_imports_no_framework():
    import subprocess
    import sys

    code = "import sys, segdemo.upsampling; print('torch' in sys.modules or 'tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
