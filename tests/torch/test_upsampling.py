"""Tests for segdemo.torch.upsampling: the bilinear initialiser and BilinearUpsampling2D (NCHW)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from segdemo.torch import BilinearInitializer, BilinearUpsampling2D
from segdemo.upsampling import bilinear_kernel


def test_initializer_fills_diagonal_bilinear_in_place():
    weight = torch.full((2, 2, 4, 4), 7.0)
    returned = BilinearInitializer()(weight)
    assert returned is weight
    np.testing.assert_allclose(weight[0, 0].numpy(), bilinear_kernel(4), rtol=1e-6)
    np.testing.assert_allclose(weight[1, 1].numpy(), bilinear_kernel(4), rtol=1e-6)
    assert torch.all(weight[0, 1] == 0) and torch.all(weight[1, 0] == 0)


def test_initializer_works_on_a_parameter_that_requires_grad():
    layer = torch.nn.ConvTranspose2d(3, 3, kernel_size=5, stride=3, padding=1, bias=False)
    BilinearInitializer()(layer.weight)
    assert layer.weight.requires_grad
    np.testing.assert_allclose(layer.weight[2, 2].detach().numpy(), bilinear_kernel(5), rtol=1e-6)


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (2, 2, 4, 3), (2, 2, 4)])
def test_initializer_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="BilinearInitializer needs"):
        BilinearInitializer()(torch.zeros(shape))


@pytest.mark.parametrize("factor", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("size", [(1, 1), (5, 7), (6, 4)])
def test_output_is_exactly_factor_times_input(factor, size):
    layer = BilinearUpsampling2D(2, factor)
    outputs = layer(torch.zeros(1, 2, *size))
    assert tuple(outputs.shape) == (1, 2, factor * size[0], factor * size[1])


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
def test_interior_equals_interpolate_and_border_sees_zeros(factor):
    torch.manual_seed(0)
    inputs = torch.rand(2, 3, 5, 6)
    with torch.no_grad():
        upsampled = BilinearUpsampling2D(3, factor)(inputs)
    reference = F.interpolate(inputs, scale_factor=factor, mode="bilinear", align_corners=False)
    border = factor // 2
    interior = (..., slice(border, -border or None), slice(border, -border or None))
    torch.testing.assert_close(upsampled[interior], reference[interior], rtol=0, atol=1e-6)
    # On a constant image interpolation stays 1 everywhere; the transposed convolution loses the
    # weight that falls outside the image, so the border band is below 1.
    with torch.no_grad():
        ones = BilinearUpsampling2D(1, factor)(torch.ones(1, 1, 4, 4))[0, 0]
    assert torch.all(ones[0] < 1) and torch.all(ones[-1] < 1)
    torch.testing.assert_close(ones[interior[1:]], torch.ones_like(ones[interior[1:]]))


def test_weight_layout_and_trainable_flag():
    layer = BilinearUpsampling2D(4, 2)
    assert list(layer.state_dict()) == ["weight"]
    assert tuple(layer.weight.shape) == (4, 4, 4, 4)
    assert layer.weight.requires_grad
    assert not BilinearUpsampling2D(4, 2, trainable=False).weight.requires_grad


def test_gradient_flows_to_weight_when_trainable():
    layer = BilinearUpsampling2D(2, 2)
    layer(torch.rand(1, 2, 3, 3)).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("arguments", [(0, 2), (2, 0), (2, 1.5), (True, 2)])
def test_bad_arguments_raise(arguments):
    with pytest.raises(ValueError, match="must be a positive integer"):
        BilinearUpsampling2D(*arguments)


def test_wrong_input_layout_raises():
    with pytest.raises(ValueError, match=r"NCHW input with 3 channels, got shape \(1, 8, 8, 3\)"):
        BilinearUpsampling2D(3, 2)(torch.zeros(1, 8, 8, 3))
