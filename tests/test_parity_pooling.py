"""PyTorch vs TensorFlow pooling indices: same data in NCHW and NHWC must give the same pooled values,
indices that map onto each other (segdemo.indices), and identical unpooled tensors.

Ties: on CPU both frameworks keep the first maximum of a window in row-major order (tested per framework
in tests/torch and tests/tensorflow). Other kernels (GPUs) may pick another position among equal maxima,
so exact index parity is asserted on tie-free data (a random permutation), and the properties below are
stated so that they hold whichever tied position is chosen.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segdemo import tensorflow as segdemo_tf
from segdemo import torch as segdemo_torch
from segdemo.indices import tensorflow_to_torch_indices, torch_to_tensorflow_indices


def tie_free(shape: tuple[int, int, int, int], seed: int) -> np.ndarray:
    """float32 NHWC features with all values distinct (a shuffled ramp)."""
    size = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(size).astype(np.float32) / size).reshape(shape)


def both_frameworks(features: np.ndarray) -> dict[str, np.ndarray]:
    """Pools and unpools NHWC ``features`` in both frameworks; returns everything in NHWC / TF layout."""
    height, width = features.shape[1:3]
    pooled_tf, indices_tf = segdemo_tf.MaxPoolingWithArgmax2D()(features)
    unpooled_tf = segdemo_tf.MaxUnpooling2D()(pooled_tf, indices_tf, (height, width))
    nchw = torch.from_numpy(features).permute(0, 3, 1, 2).contiguous()
    pooled_torch, indices_torch = segdemo_torch.MaxPoolingWithArgmax2D()(nchw)
    unpooled_torch = segdemo_torch.MaxUnpooling2D()(pooled_torch, indices_torch, (height, width))
    return {
        "pooled_tf": pooled_tf.numpy(),
        "pooled_torch": pooled_torch.permute(0, 2, 3, 1).numpy(),
        "indices_tf": indices_tf.numpy(),
        "indices_torch": indices_torch.numpy(),
        "unpooled_tf": unpooled_tf.numpy(),
        "unpooled_torch": unpooled_torch.permute(0, 2, 3, 1).numpy(),
    }


@pytest.mark.parametrize(
    "shape", [(1, 4, 4, 1), (2, 5, 7, 3), (3, 45, 45, 2), (2, 90, 120, 16)], ids=["seed", "odd", "45", "large"]
)
def test_parity_on_tie_free_data(shape):
    height, width = shape[1:3]
    results = both_frameworks(tie_free(shape, seed=sum(shape)))
    assert np.array_equal(results["pooled_tf"], results["pooled_torch"])
    assert np.array_equal(torch_to_tensorflow_indices(results["indices_torch"], height, width), results["indices_tf"])
    assert np.array_equal(tensorflow_to_torch_indices(results["indices_tf"], height, width), results["indices_torch"])
    assert np.array_equal(results["unpooled_tf"], results["unpooled_torch"])


def test_parity_with_ties_on_cpu():
    # Few distinct values: many ties. Both CPU kernels keep the first maximum in row-major order.
    features = np.random.default_rng(0).integers(0, 3, size=(2, 8, 9, 3)).astype(np.float32)
    results = both_frameworks(features)
    assert np.array_equal(torch_to_tensorflow_indices(results["indices_torch"], 8, 9), results["indices_tf"])
    assert np.array_equal(results["unpooled_tf"], results["unpooled_torch"])


shapes = st.tuples(
    st.integers(1, 2), st.integers(2, 9), st.integers(2, 9), st.integers(1, 3)
)


@settings(max_examples=25, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**16), levels=st.sampled_from([2, 5, 1000]))
def test_unpooling_puts_each_maximum_at_its_argmax_and_zeros_elsewhere(shape, seed, levels):
    # Few levels mean many ties: the property must hold whichever tied position a kernel picks.
    features = np.random.default_rng(seed).integers(1, levels + 1, size=shape).astype(np.float32)
    batch, height, width, channels = shape
    pooled_height, pooled_width = height // 2, width // 2
    results = both_frameworks(features)
    for name in ("tf", "torch"):
        unpooled, pooled = results[f"unpooled_{name}"], results[f"pooled_{name}"]
        windows = features[:, : 2 * pooled_height, : 2 * pooled_width].reshape(batch, pooled_height, 2, pooled_width, 2, channels)
        assert np.array_equal(pooled, windows.max(axis=(2, 4)))
        restored = unpooled[:, : 2 * pooled_height, : 2 * pooled_width].reshape(windows.shape)
        # Exactly one non-zero per window (features are >= 1), equal to the window's maximum, at a position
        # where the input held that maximum.
        assert np.array_equal((restored != 0).sum(axis=(2, 4)), np.ones_like(pooled, dtype=np.int64))
        assert np.array_equal(restored.max(axis=(2, 4)), pooled)
        assert np.all(windows[restored != 0] == restored[restored != 0])
        # Rows and columns dropped by floor pooling stay zero.
        assert not unpooled[:, 2 * pooled_height :].any() and not unpooled[:, :, 2 * pooled_width :].any()


@settings(max_examples=25, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**16), levels=st.sampled_from([2, 1000]))
def test_pool_unpool_pool_is_the_identity_on_pooled_values(shape, seed, levels):
    features = np.random.default_rng(seed).integers(-levels, levels, size=shape).astype(np.float32)
    height, width = shape[1:3]
    pooled, indices = segdemo_tf.MaxPoolingWithArgmax2D()(features)
    again, _ = segdemo_tf.MaxPoolingWithArgmax2D()(segdemo_tf.MaxUnpooling2D()(pooled, indices, (height, width)))
    # Unpooling fills the rest of each window with zeros, so a window whose maximum is negative pools back
    # to 0: on TensorFlow the identity holds on max(pooled, 0) for signed data; on PyTorch the same
    # features shifted to be positive must come back exactly.
    nchw = torch.from_numpy(features - features.min() + 1).permute(0, 3, 1, 2).contiguous()
    pooled_torch, indices_torch = segdemo_torch.MaxPoolingWithArgmax2D()(nchw)
    restored = segdemo_torch.MaxUnpooling2D()(pooled_torch, indices_torch, (height, width))
    again_torch, _ = segdemo_torch.MaxPoolingWithArgmax2D()(restored)
    assert torch.equal(again_torch, pooled_torch)
    positive = np.maximum(pooled.numpy(), 0)
    assert np.array_equal(again.numpy(), positive)
