"""Tests of segdemo.torch's MaxPoolingWithArgmax2D and MaxUnpooling2D (NCHW)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segdemo.torch import MaxPoolingWithArgmax2D, MaxUnpooling2D


def test_seed_toy_example():
    # The SegNet article's 4x4 demo, worked by hand: every window's maximum is its bottom-right 4.
    b = torch.tensor([[1.0, 2, 1, 2], [3, 4, 3, 4], [1, 2, 1, 2], [3, 4, 3, 4]]).reshape(1, 1, 4, 4)
    pooled, indices = MaxPoolingWithArgmax2D()(b)
    assert pooled.flatten().tolist() == [4.0, 4.0, 4.0, 4.0]
    assert indices.flatten().tolist() == [5, 7, 13, 15]
    unpooled = MaxUnpooling2D()(pooled, indices, b.shape[-2:])
    expected = torch.zeros(4, 4)
    expected[1::2, 1::2] = 4
    assert torch.equal(unpooled[0, 0], expected)


@pytest.mark.parametrize("size", [(45, 45), (44, 45), (5, 7), (4, 4)])
def test_odd_sizes_floor_and_restore_exactly(size):
    features = torch.rand(2, 3, *size)
    pooled, indices = MaxPoolingWithArgmax2D()(features)
    assert pooled.shape[-2:] == (size[0] // 2, size[1] // 2)
    for output_size in (size, features):  # a (H, W) pair or the pre-pool tensor itself
        assert MaxUnpooling2D()(pooled, indices, output_size).shape == features.shape


def test_ties_keep_the_first_maximum_in_row_major_order():
    features = torch.tensor([[0.0, 1, 1, 0], [1, 1, 0, 1]]).reshape(1, 1, 2, 4)
    _, indices = MaxPoolingWithArgmax2D()(features)
    assert indices.flatten().tolist() == [1, 2]  # window 1: (0,1) before (1,0),(1,1); window 2: (0,2) before (1,3)


def test_gradient_flows_to_the_values_at_the_indices():
    features = torch.rand(2, 3, 6, 5)
    pooled, indices = MaxPoolingWithArgmax2D()(features)
    values = pooled.detach().requires_grad_(True)
    upstream = torch.rand(2, 3, 6, 5)
    MaxUnpooling2D()(values, indices, (6, 5)).backward(upstream)
    expected = torch.gather(upstream.flatten(2), 2, indices.flatten(2)).reshape(values.shape)
    assert torch.equal(values.grad, expected)


def test_channels_last_and_int32_indices_give_the_same_result():
    features = torch.rand(2, 4, 6, 6)
    pooled, indices = MaxPoolingWithArgmax2D()(features)
    reference = MaxUnpooling2D()(pooled, indices, (6, 6))
    channels_last = MaxUnpooling2D()(pooled.contiguous(memory_format=torch.channels_last), indices.int(), (6, 6))
    assert torch.equal(channels_last, reference)


def test_float_indices_are_refused_with_the_reason():
    pooled, indices = MaxPoolingWithArgmax2D()(torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match="indices must be integers.*2\\*\\*24"):
        MaxUnpooling2D()(pooled, indices.float(), (4, 4))


@pytest.mark.parametrize("shape", [(4, 4), (1, 4, 4), (1, 1, 1, 4, 4)])
def test_pooling_refuses_wrong_rank(shape):
    with pytest.raises(ValueError, match="4-D NCHW"):
        MaxPoolingWithArgmax2D()(torch.rand(*shape))


def test_pooling_refuses_integer_input():
    with pytest.raises(ValueError, match="float tensor.*torch.int64"):
        MaxPoolingWithArgmax2D()(torch.ones(1, 1, 4, 4, dtype=torch.int64))


def test_pooling_refuses_input_smaller_than_the_window():
    with pytest.raises(ValueError, match="smaller than the pooling window"):
        MaxPoolingWithArgmax2D()(torch.rand(1, 1, 1, 4))


def test_unpooling_refuses_mismatched_shapes():
    pooled, indices = MaxPoolingWithArgmax2D()(torch.rand(1, 2, 4, 4))
    with pytest.raises(ValueError, match="same shape"):
        MaxUnpooling2D()(pooled, indices[:, :1], (4, 4))
    with pytest.raises(ValueError, match="4-D NCHW"):
        MaxUnpooling2D()(pooled[0], indices[0], (4, 4))


def test_unpooling_refuses_a_size_that_does_not_pool_to_the_values():
    pooled, indices = MaxPoolingWithArgmax2D()(torch.rand(1, 1, 6, 6))
    with pytest.raises(ValueError, match=r"output_size \(9, 6\) pools to \(4, 3\)"):
        MaxUnpooling2D()(pooled, indices, (9, 6))


def test_unpooling_refuses_a_malformed_size():
    pooled, indices = MaxPoolingWithArgmax2D()(torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match="output_size must be"):
        MaxUnpooling2D()(pooled, indices, (4, 4, 4))


def test_bad_pool_size_is_refused():
    with pytest.raises(ValueError, match="pool_size must be"):
        MaxPoolingWithArgmax2D(pool_size=0)


def test_default_size_is_the_even_size():
    pooled, indices = MaxPoolingWithArgmax2D()(torch.rand(1, 1, 6, 8))
    assert MaxUnpooling2D()(pooled, indices).shape == (1, 1, 6, 8)
    assert np.array_equal(MaxUnpooling2D()(pooled, indices).numpy(), MaxUnpooling2D()(pooled, indices, (6, 8)).numpy())
