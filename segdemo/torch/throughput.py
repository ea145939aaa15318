"""How fast a training step runs: images per second and model FLOP utilisation (MFU), eager vs compiled.

MFU is the share of the accelerator's peak that the model's own arithmetic uses: the FLOPs of one training
step (forward, loss and backward of every convolution and matrix product, counted by
``torch.utils.flop_counter.FlopCounterMode``) divided by the step's median time and by the peak rate. Two
peaks are reported: the datasheet's dense bfloat16 rate and a bfloat16 matrix product measured in the same
run. Element-wise work (batch norm, ReLU, pooling, unpooling) counts no FLOPs but takes time, which is why
a convolutional network never reaches a matrix product's rate.

Steps are timed with CUDA events on a GPU (``time.perf_counter`` on the CPU) after a warm-up, on random
inputs and labels, and summarised by the median. ``python -m segdemo.torch.throughput --warm-cache`` only
compiles (it fills Inductor's on-disk cache, so that a later process compiles the same graphs quickly).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from segdemo.torch.on_device import make_optimizer, training_step

DATASHEET_BF16_DENSE_FLOPS = {"H200": 989.4e12, "H100": 989.4e12, "A100": 312e12}
"""Dense (no sparsity) bfloat16 tensor-core peaks of NVIDIA's SXM datasheets, FLOP/s."""


def datasheet_peak(device_name: str) -> float | None:
    """The datasheet bfloat16 peak of a GPU named like ``"NVIDIA H200"``, ``None`` when unknown."""
    for key, flops in DATASHEET_BF16_DENSE_FLOPS.items():
        if key in device_name:
            return flops
    return None


def synchronize(device: torch.device) -> None:
    """Waits for the device's queued work (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(function: Callable[[], Any], device: torch.device, *, warmup: int, repeats: int) -> list[float]:
    """Seconds per call of ``function``, each timed on its own after ``warmup`` untimed calls.

    On a GPU each call is bracketed by CUDA events (device time, no host clock); on the CPU by
    ``time.perf_counter``.
    """
    for _ in range(warmup):
        function()
    synchronize(device)
    seconds = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            function()
            end.record()
            end.synchronize()
            seconds.append(start.elapsed_time(end) / 1000.0)
        else:
            started = time.perf_counter()
            function()
            seconds.append(time.perf_counter() - started)
    return seconds


def measure_matmul_rate(device: torch.device, *, size: int = 8192, repeats: int = 10) -> float | None:
    """FLOP/s of a random ``size``-cubed bfloat16 matrix product on a GPU (``None`` on the CPU)."""
    if device.type != "cuda":
        return None
    generator = torch.Generator(device=device).manual_seed(0)
    left = torch.randn(size, size, device=device, dtype=torch.bfloat16, generator=generator)
    right = torch.randn(size, size, device=device, dtype=torch.bfloat16, generator=generator)
    seconds = time_calls(lambda: left @ right, device, warmup=3, repeats=repeats)
    return 2.0 * size**3 / statistics.median(seconds)


def random_batch(batch_size: int, image_size: Sequence[int], num_classes: int, device: torch.device,
                 *, channels_last: bool, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images float32 (N, 3, H, W) in [0, 1] and labels int64 (N, H, W) with 5% ignored pixels."""
    generator = torch.Generator(device=device).manual_seed(seed)
    height, width = image_size
    images = torch.rand(batch_size, 3, height, width, device=device, generator=generator)
    labels = torch.randint(0, num_classes, (batch_size, height, width), device=device, generator=generator)
    ignored = torch.rand(batch_size, height, width, device=device, generator=generator) < 0.05
    labels = torch.where(ignored, torch.full_like(labels, 255), labels)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return images.contiguous(memory_format=memory_format), labels


def count_step_flops(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                     amp_dtype: torch.dtype | None) -> int:
    """FLOPs of one forward + backward (convolutions and matrix products), counted on the eager model."""
    from torch.utils.flop_counter import FlopCounterMode

    from segdemo.torch.train import cross_entropy

    model.train()
    with FlopCounterMode(display=False) as counter:
        with torch.autocast(images.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits = model(images)
        numerator, denominator = cross_entropy(logits, labels)
        (numerator / denominator).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def benchmark_training_step(
    build: Callable[[], nn.Module],
    *,
    num_classes: int,
    batch_size: int,
    image_size: Sequence[int],
    device: torch.device,
    amp_dtype: torch.dtype | None = torch.bfloat16,
    channels_last: bool = True,
    compile_model: bool = False,
    warmup: int = 5,
    repeats: int = 20,
    peaks: dict[str, float | None] | None = None,
    flops: int | None = None,
) -> dict[str, Any]:
    """Times one training step (forward, weighted loss, backward, Adam) of a freshly built model.

    Args:
        build: returns the model (on the CPU; it is moved to ``device``).
        num_classes, batch_size, image_size: the step's shapes.
        device: where to run.
        amp_dtype: autocast dtype or ``None`` for float32.
        channels_last: NHWC memory layout.
        compile_model: wrap the model in ``torch.compile`` (its compile time is reported separately).
        warmup, repeats: untimed and timed steps.
        peaks: name -> FLOP/s used for MFU (``None`` values are skipped).
        flops: FLOPs of one step when already known (else counted here on the eager model).

    Returns:
        ``median_ms``, ``images_per_second``, ``step_ms`` (every timed step), ``flops_per_step``,
        ``mfu`` (name -> fraction), ``compile_seconds`` (compiled only), ``peak_memory_gib`` (GPU only).
    """
    model = build().to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    images, labels = random_batch(batch_size, image_size, num_classes, device, channels_last=channels_last)
    if flops is None:
        flops = count_step_flops(model, images, labels, amp_dtype)
    optimizer = make_optimizer(model, 1e-5)
    runner = torch.compile(model) if compile_model else model
    model.train()

    def step() -> None:
        training_step(runner, optimizer, images, labels, None, amp_dtype=amp_dtype)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    result: dict[str, Any] = {}
    if compile_model:
        started = time.perf_counter()
        step()
        synchronize(device)
        result["compile_seconds"] = round(time.perf_counter() - started, 2)
    seconds = time_calls(step, device, warmup=warmup, repeats=repeats)
    median = statistics.median(seconds)
    result.update(
        median_ms=round(1000 * median, 3),
        images_per_second=round(batch_size / median, 2),
        step_ms=[round(1000 * value, 3) for value in seconds],
        flops_per_step=flops,
        achieved_tflops=round(flops / median / 1e12, 2),
        mfu={name: round(flops / median / peak, 4) for name, peak in (peaks or {}).items() if peak},
    )
    if device.type == "cuda":
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return result


def warm_compile_cache(names: Sequence[str], *, num_classes: int, batch_size: int, image_size: Sequence[int],
                       device: torch.device, channels_last: bool = True) -> None:
    """Compiles each model's training step and runs it twice, filling Inductor's on-disk cache."""
    from segdemo.torch.models import build_model

    for name in names:
        started = time.perf_counter()
        try:
            benchmark_training_step(lambda name=name: build_model(name, num_classes), num_classes=num_classes,
                                    batch_size=batch_size, image_size=image_size, device=device,
                                    channels_last=channels_last, compile_model=True, warmup=1, repeats=1,
                                    flops=0)
        except Exception as error:  # noqa: BLE001 - a cache warmer reports and goes on
            print(f"warm-cache {name}: failed ({type(error).__name__}: {error})", flush=True)
        else:
            print(f"warm-cache {name}: compiled in {time.perf_counter() - started:.1f} s", flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m segdemo.torch.throughput --warm-cache --models segnet,fcn8s ...``."""
    parser = argparse.ArgumentParser(prog="python -m segdemo.torch.throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--warm-cache", action="store_true", required=True, help="compile only (fills the cache)")
    parser.add_argument("--models", required=True, help="comma-separated model names")
    parser.add_argument("--num-classes", type=int, default=11)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", default="360x480")
    arguments = parser.parse_args(argv)
    height, width = (int(part) for part in arguments.image_size.split("x"))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    warm_compile_cache(arguments.models.split(","), num_classes=arguments.num_classes,
                       batch_size=arguments.batch_size, image_size=(height, width), device=device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
