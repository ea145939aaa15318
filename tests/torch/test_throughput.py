"""The training-step benchmark: FLOP counting, timing and MFU, on the CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segdemo.torch import throughput


class OneConvolution(nn.Module):
    """Logits from a single 3x3 convolution: its FLOPs are easy to count by hand."""

    output_stride = 1

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, num_classes, 3, padding=1, bias=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.conv(images)


def test_step_flops_are_forward_plus_weight_gradient():
    images, labels = throughput.random_batch(2, (8, 10), 4, torch.device("cpu"), channels_last=False)
    forward = 2 * 2 * 8 * 10 * 4 * 3 * 9  # 2 FLOPs per multiply-add, per output value and kernel weight
    # The images need no gradient, so the backward pass computes only the weight gradient: as many FLOPs again.
    assert throughput.count_step_flops(OneConvolution(4), images, labels, None) == 2 * forward


def test_random_batch_has_valid_labels_and_some_ignored():
    images, labels = throughput.random_batch(3, (16, 16), 5, torch.device("cpu"), channels_last=True)
    assert images.is_contiguous(memory_format=torch.channels_last) and 0 <= images.min() and images.max() <= 1
    values = set(labels.unique().tolist())
    assert values <= set(range(5)) | {255} and 255 in values


def test_benchmark_reports_time_throughput_and_mfu():
    result = throughput.benchmark_training_step(
        lambda: OneConvolution(4), num_classes=4, batch_size=2, image_size=(8, 10), device=torch.device("cpu"),
        amp_dtype=None, channels_last=False, warmup=1, repeats=3, peaks={"made_up": 1e6, "unknown": None})
    assert len(result["step_ms"]) == 3 and result["median_ms"] > 0
    assert result["images_per_second"] == pytest.approx(2 / (result["median_ms"] / 1000), rel=1e-2)
    assert set(result["mfu"]) == {"made_up"}
    assert result["mfu"]["made_up"] == pytest.approx(result["flops_per_step"] / (result["median_ms"] / 1000) / 1e6,
                                                     rel=1e-2)


def test_datasheet_peaks_and_cpu_matmul():
    assert throughput.datasheet_peak("NVIDIA H200") == pytest.approx(989.4e12)
    assert throughput.datasheet_peak("cpu") is None
    assert throughput.measure_matmul_rate(torch.device("cpu")) is None
