"""Tests of segdemo.indices: index layout conversions and the 2-bit window encoding (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from segdemo.indices import (
    pack_window_positions,
    tensorflow_to_torch_indices,
    torch_to_tensorflow_indices,
    unpack_window_positions,
)


def reference_pool_indices(features: np.ndarray) -> np.ndarray:
    """Argmax positions of a 2x2/2 floor max pooling by brute force: int (N, C, h, w), ``y * W + x``."""
    batch, channels, height, width = features.shape
    indices = np.zeros((batch, channels, height // 2, width // 2), dtype=np.int64)
    for n in range(batch):
        for c in range(channels):
            for i in range(height // 2):
                for j in range(width // 2):
                    window = features[n, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
                    dy, dx = np.unravel_index(np.argmax(window), (2, 2))
                    indices[n, c, i, j] = (2 * i + dy) * width + 2 * j + dx
    return indices


@pytest.fixture
def torch_layout() -> tuple[np.ndarray, int, int]:
    features = np.random.default_rng(0).permutation(2 * 3 * 5 * 7).reshape(2, 3, 5, 7)
    return reference_pool_indices(features), 5, 7


def test_torch_to_tensorflow_matches_the_definition(torch_layout):
    indices, height, width = torch_layout
    converted = torch_to_tensorflow_indices(indices, height, width)
    batch, channels, pooled_height, pooled_width = indices.shape
    assert converted.shape == (batch, pooled_height, pooled_width, channels)
    for n, i, j, c in np.ndindex(converted.shape):
        y, x = divmod(int(indices[n, c, i, j]), width)
        assert converted[n, i, j, c] == (y * width + x) * channels + c


def test_include_batch_adds_the_image_offset(torch_layout):
    indices, height, width = torch_layout
    channels = indices.shape[1]
    with_batch = torch_to_tensorflow_indices(indices, height, width, include_batch=True)
    without = torch_to_tensorflow_indices(indices, height, width)
    assert np.array_equal(with_batch[1] - without[1], np.full_like(without[1], height * width * channels))
    assert np.array_equal(with_batch[0], without[0])


@pytest.mark.parametrize("include_batch", [False, True])
def test_round_trip(torch_layout, include_batch):
    indices, height, width = torch_layout
    converted = torch_to_tensorflow_indices(indices, height, width, include_batch=include_batch)
    assert np.array_equal(tensorflow_to_torch_indices(converted, height, width, include_batch=include_batch), indices)


def test_seed_example_single_channel_layouts_agree():
    # The SegNet article's 4x4 example: with one channel both layouts give the same numbers.
    indices = np.array([[[[5, 7], [13, 15]]]])
    assert torch_to_tensorflow_indices(indices, 4, 4)[0, :, :, 0].tolist() == [[5, 7], [13, 15]]


def test_float_indices_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="must be integers.*2\\*\\*24"):
        torch_to_tensorflow_indices(np.zeros((1, 1, 2, 2), np.float32), 4, 4)


def test_wrong_rank_is_refused():
    with pytest.raises(ValueError, match="rank 4.*\\(2, 2\\)"):
        tensorflow_to_torch_indices(np.zeros((2, 2), np.int64), 4, 4)


def test_size_smaller_than_pooled_map_is_refused():
    with pytest.raises(ValueError, match="before"):
        torch_to_tensorflow_indices(np.zeros((1, 1, 3, 3), np.int64), 2, 2)


def test_out_of_range_tensorflow_indices_are_refused():
    with pytest.raises(ValueError, match="does not fit"):
        tensorflow_to_torch_indices(np.full((1, 1, 1, 1), 100, np.int64), 2, 2)


def test_indices_with_a_foreign_channel_are_refused():
    # Index 0 means channel 0, but it sits in channel 1.
    with pytest.raises(ValueError, match="index % channels"):
        tensorflow_to_torch_indices(np.zeros((1, 1, 1, 2), np.int64), 2, 2)


@pytest.mark.parametrize("shape", [(1, 1, 2, 2), (2, 3, 5, 7), (1, 2, 4, 3)])
def test_pack_round_trip_and_size(shape):
    batch, channels, height, width = shape
    features = np.random.default_rng(1).permutation(int(np.prod(shape))).reshape(shape)
    indices = reference_pool_indices(features)
    packed = pack_window_positions(indices, width)
    assert packed.dtype == np.uint8
    assert packed.size == -(-indices.size // 4)  # 2 bits per window, rounded up to whole bytes
    assert np.array_equal(unpack_window_positions(packed, indices.shape, width), indices)


def test_pack_hand_worked_example():
    # Windows at positions 0, 1, 2, 3 of a 4x4 map -> bits 00, 01, 10, 11 -> 0b11100100.
    indices = np.array([[[[0, 3], [12, 15]]]])
    assert pack_window_positions(indices, 4).tolist() == [0b11100100]


def test_pack_refuses_indices_outside_their_window():
    with pytest.raises(ValueError, match="outside their 2x2 window"):
        pack_window_positions(np.array([[[[2]]]]), 4)


def test_unpack_refuses_wrong_length():
    with pytest.raises(ValueError, match="packed must be uint8"):
        unpack_window_positions(np.zeros(3, np.uint8), (1, 1, 2, 2), 4)
