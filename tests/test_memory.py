"""segdemo.memory: what each decoder keeps from its encoder, computed from shapes and measured."""

from __future__ import annotations

import subprocess
import sys

import pytest

from segdemo import memory
from segdemo.experiment import MODEL_NAMES, WIDTH_MODELS

EXPECTED_KINDS = {
    "encoder_decoder": [],
    "segnet_small": ["indices"],
    "segnet_basic": ["indices"],
    "segnet": ["indices"],
    "resnet50_segnet": [],
    "fcn32s": [],
    "fcn16s": ["skip scores"],
    "fcn8s": ["skip scores"],
    "unet": ["skip features"],
}


def test_every_model_of_the_registry_has_an_expected_kind() -> None:
    assert set(EXPECTED_KINDS) == set(MODEL_NAMES)


def test_importing_memory_imports_no_framework() -> None:
    code = ("import sys, segdemo.memory\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'tensorflow', 'keras')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(("pool_size", "bits"), [(2, 2), ((2, 2), 2), (3, 4), ((1, 2), 1), (1, 0), (4, 4)])
def test_index_bits_counts_the_positions_of_a_window(pool_size, bits) -> None:
    assert memory.index_bits(pool_size) == bits


@pytest.mark.parametrize("pool_size", [0, -2, (2,), (2, 0), 2.0, True])
def test_index_bits_refuses_a_bad_window(pool_size) -> None:
    with pytest.raises(ValueError, match="pool_size must be"):
        memory.index_bits(pool_size)


def test_the_papers_first_level_figures() -> None:
    # A 64-channel float32 map at 180x240 and the 2-bit indices of its 2x2 pooling.
    assert memory.feature_map_bytes(64, 180, 240) == 180 * 240 * 64 * 4
    assert memory.index_bytes(64, 90, 120, bits=2) == 90 * 120 * 64 / 4
    assert memory.index_bytes(64, 90, 120, bits=64) == 90 * 120 * 64 * 8


@pytest.mark.parametrize("arguments", [(0, 4, 4), (4, -1, 4), (4, 4, 2.5)])
def test_feature_map_bytes_refuses_bad_sizes(arguments) -> None:
    with pytest.raises(ValueError, match="must be a positive integer"):
        memory.feature_map_bytes(*arguments)


def test_index_bytes_refuses_bad_bits() -> None:
    with pytest.raises(ValueError, match="bits must be a positive number"):
        memory.index_bytes(4, 2, 2, bits=0)


def test_saved_tensor_stored_and_needed_bytes() -> None:
    indices = memory.SavedTensor("indices", "pool (1)", (2, 3, 4, 5), memory.INT64_BYTES)
    assert indices.numel == 120 and indices.stored_bytes == 960 and indices.needed_bytes == 30.0
    features = memory.SavedTensor("skip features", "encoder.0", (1, 3, 4, 5), memory.FLOAT32_BYTES)
    assert features.stored_bytes == features.needed_bytes == 240
    three_by_three = memory.SavedTensor("indices", "pool", (1, 1, 2, 2), 8, pool_size=(3, 3))
    assert three_by_three.needed_bytes == 4 * 4 / 8


def test_saved_tensor_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        memory.SavedTensor("weights", "conv", (1, 2), 4)


def test_summarise_totals_and_an_empty_decoder() -> None:
    saved = [memory.SavedTensor("indices", "pool (1)", (1, 2, 2, 2), 8, allocated_bytes=64),
             memory.SavedTensor("indices", "pool (2)", (1, 2, 1, 1), 8, allocated_bytes=16)]
    assert memory.summarise(saved) == {"stored_bytes": 80, "needed_bytes": 2.5, "kinds": ["indices"], "count": 2,
                                       "allocated_bytes": 80}
    unmeasured = [memory.SavedTensor("skip scores", "score_pool4", (1, 2, 2, 2), 4)]
    assert memory.summarise(unmeasured)["allocated_bytes"] is None
    assert memory.summarise([]) == {"stored_bytes": 0, "needed_bytes": 0.0, "kinds": [], "count": 0,
                                    "allocated_bytes": 0}


def _small_model(name: str, device: str):
    import torch

    from segdemo.torch import build_model

    torch.manual_seed(0)
    arguments = {"width": 4} if name in WIDTH_MODELS else {}
    with torch.device(device):
        return build_model(name, 3, **arguments).eval()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_record_decoder_inputs_measures_what_the_shapes_say(name: str) -> None:
    import torch

    images = torch.rand(1, 3, 35, 70)  # odd sizes: pooling floors, U-Net and FCN pad
    saved = memory.record_decoder_inputs(_small_model(name, "cpu"), images)
    assert sorted({tensor.kind for tensor in saved}) == EXPECTED_KINDS[name]
    for tensor in saved:
        # The storage the framework allocated is exactly what the shape and dtype give.
        assert tensor.allocated_bytes == tensor.stored_bytes, tensor
        assert tensor.bytes_per_element == (memory.INT64_BYTES if tensor.kind == "indices" else memory.FLOAT32_BYTES)
    # The meta device gives the same shapes without computing anything.
    on_meta = memory.record_decoder_inputs(_small_model(name, "meta"), torch.empty(1, 3, 35, 70, device="meta"))
    assert [(t.layer, t.shape) for t in on_meta] == [(t.layer, t.shape) for t in saved]
    assert all(t.allocated_bytes is None for t in on_meta)


def test_segnet_basic_indices_follow_the_closed_form() -> None:
    import torch

    saved = memory.record_decoder_inputs(_small_model("segnet_basic", "cpu"), torch.rand(2, 3, 35, 70))
    height, width, expected = 35, 70, 0.0
    for _ in range(4):  # four 2x2 pools of 64 channels, floor rounding
        height, width = height // 2, width // 2
        expected += 2 * memory.index_bytes(64, height, width, bits=64)
    assert [tensor.layer for tensor in saved] == ["pool (1)", "pool (2)", "pool (3)", "pool (4)"]
    assert memory.summarise(saved)["stored_bytes"] == expected
    assert memory.summarise(saved)["needed_bytes"] == expected / 32  # 2 bits instead of 64


def test_fcn_skip_scores_have_num_classes_channels_whatever_the_width() -> None:
    import torch

    from segdemo.torch import fcn8s

    images = torch.empty(1, 3, 64, 96, device="meta")
    shapes = []
    for width in (4, 64):
        with torch.device("meta"):
            model = fcn8s(11, width=width).eval()
        shapes.append([tensor.shape for tensor in memory.record_decoder_inputs(model, images)])
    assert shapes[0] == shapes[1] == [(1, 11, 4, 6), (1, 11, 8, 12)]


def test_resnet50_segnet_with_indices_keeps_indices() -> None:
    import torch

    from segdemo.torch import resnet50_segnet

    with torch.device("meta"):
        model = resnet50_segnet(3, indices=True).eval()
    saved = memory.record_decoder_inputs(model, torch.empty(1, 3, 64, 64, device="meta"))
    assert [tensor.kind for tensor in saved] == ["indices"] * 4
    assert [tensor.shape[1] for tensor in saved] == [64, 64, 128, 256]


def test_record_decoder_inputs_refuses_another_model() -> None:
    import torch

    with pytest.raises(ValueError, match="got a Conv2d"):
        memory.record_decoder_inputs(torch.nn.Conv2d(3, 3, 1), torch.rand(1, 3, 4, 4))
