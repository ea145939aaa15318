"""Training with the whole dataset on the accelerator: the engine of the full profile.

``segdemo.torch.fit`` feeds numpy batches from the host, which is right for a CPU and for small images. At
360x480 on a GPU that loader would be the bottleneck, so this module keeps every image and mask on the
device as uint8, draws each batch there, augments it there (random zoom, shift, horizontal flip, brightness:
one ``grid_sample`` per batch) and runs the model in bfloat16 autocast with channels-last tensors. Loss,
confusion matrix and scores are accumulated on the device; the host synchronises once per epoch.

The loss is the same weighted cross entropy as ``fit`` (``segdemo.torch.train.cross_entropy``). The
optimizer is Adam with a linear warm-up and a cosine decay to zero, because the run length is known in
advance: the sweep's budget planner fixes the epochs before training starts.

Everything also runs on the CPU (float32 or bfloat16), which is how the test suite dry-runs the GPU path.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from segdemo import metrics, training, validation
from segdemo.torch.train import cross_entropy, output_stride
from segdemo.training import IGNORE_INDEX

WARMUP_FRACTION = 0.03
"""Share of the steps over which the learning rate rises linearly from 0 before the cosine decay."""


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Random changes applied to every training batch, on the device.

    Attributes:
        zoom: ``(low, high)`` range of the zoom factor (>1 zooms in and crops; <1 zooms out, and the border
            that appears is black in the image and ignored in the mask).
        flip: mirror half of the images left to right.
        brightness: images are multiplied by a factor in ``1 +- brightness``.
    """

    zoom: tuple[float, float] = (0.8, 1.5)
    flip: bool = True
    brightness: float = 0.2

    def describe(self) -> str:
        """One line for provenance."""
        return (
            f"zoom {self.zoom[0]}-{self.zoom[1]} with random shift, "
            f"{'horizontal flips, ' if self.flip else ''}brightness +-{self.brightness}"
        )


NO_AUGMENTATION = Augmentation(zoom=(1.0, 1.0), flip=False, brightness=0.0)


@dataclasses.dataclass
class DeviceData:
    """A split held on the device: images uint8 (N, H, W, 3) and masks uint8 (N, H, W)."""

    images: torch.Tensor
    masks: torch.Tensor

    def __len__(self) -> int:
        return int(self.images.shape[0])


def to_device_data(images: np.ndarray, masks: np.ndarray, device: torch.device, *, name: str = "data") -> DeviceData:
    """Checks a split and copies it to ``device`` (as uint8: 4x less memory than float32).

    Raises:
        ValueError: bad shapes, dtypes or labels (see ``segdemo.training.check_data``); ``num_classes`` is
            not known here, so labels are checked by :func:`train_on_device`.
    """
    training.check_images(images, name=name)
    masks = np.asarray(masks)
    if masks.shape != images.shape[:3] or masks.dtype != np.uint8:
        raise ValueError(
            f"{name}: masks have shape {masks.shape} and dtype {masks.dtype}; expected uint8 {images.shape[:3]}."
        )
    return DeviceData(torch.from_numpy(images).to(device), torch.from_numpy(masks).to(device))


def to_inputs(images: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """uint8 (N, H, W, 3) on the device -> float32 (N, 3, H, W) in [0, 1] (channels-last in memory)."""
    inputs = images.permute(0, 3, 1, 2).float().div_(255.0)
    return inputs.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def augment(
    images: torch.Tensor,
    masks: torch.Tensor,
    augmentation: Augmentation,
    generator: torch.Generator,
    *,
    ignore_index: int = IGNORE_INDEX,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One random affine warp per image: zoom, shift, flip; then a brightness factor.

    Args:
        images: float32 (N, 3, H, W) in [0, 1].
        masks: uint8 or int64 (N, H, W).
        augmentation: the ranges.
        generator: a ``torch.Generator`` on the images' device (seeded by the caller).

    Returns:
        ``(images float32 (N, 3, H, W), labels int64 (N, H, W))``. Masks are sampled by nearest neighbour,
        so labels stay class ids; pixels from outside the picture get ``ignore_index``.
    """
    count = images.shape[0]
    device = images.device

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(count, device=device, generator=generator)

    zoom = uniform(*augmentation.zoom)
    scale = 1.0 / zoom  # fraction of the picture the output shows
    room = (1.0 - scale).abs()  # how far the window may move and stay inside (or cover) the picture
    shift_x = room * uniform(-1.0, 1.0)
    shift_y = room * uniform(-1.0, 1.0)
    sign = torch.ones(count, device=device)
    if augmentation.flip:
        sign = torch.where(torch.rand(count, device=device, generator=generator) < 0.5, -sign, sign)
    zeros = torch.zeros(count, device=device)
    theta = torch.stack(
        [torch.stack([scale * sign, zeros, shift_x], 1), torch.stack([zeros, scale, shift_y], 1)], 1
    )
    grid = functional.affine_grid(theta, list(images.shape), align_corners=False)
    warped = functional.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # Shift labels by one so that the zero padding of grid_sample marks "outside the picture".
    shifted = masks.to(torch.float32).add(1.0).unsqueeze(1)
    sampled = functional.grid_sample(shifted, grid.to(shifted.dtype), mode="nearest", padding_mode="zeros",
                                     align_corners=False)
    labels = sampled.squeeze(1).round().long() - 1
    labels = torch.where(labels < 0, torch.full_like(labels, ignore_index), labels)
    if augmentation.brightness > 0:
        factor = uniform(1.0 - augmentation.brightness, 1.0 + augmentation.brightness)
        warped = (warped * factor.view(-1, 1, 1, 1)).clamp_(0.0, 1.0)
    return warped.contiguous(memory_format=torch.channels_last), labels


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int,
                     ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Confusion matrix on the device, rows = true class, columns = predicted: int64 (K, K).

    Equal to ``segdemo.metrics.confusion_matrix`` (a test checks it); pixels labelled ``ignore_index`` are
    left out.
    """
    labels = labels.reshape(-1).long()
    predictions = predictions.reshape(-1).long()
    cells = num_classes * num_classes
    # Ignored pixels go to one extra bin. Neither boolean indexing nor bincount: on a GPU both wait for
    # the device to finish (to learn a size), which would stall every training step.
    flat = torch.where(labels != ignore_index, labels * num_classes + predictions, torch.full_like(labels, cells))
    counts = torch.zeros(cells + 1, dtype=torch.int64, device=labels.device)
    counts.scatter_add_(0, flat, torch.ones_like(flat))
    return counts[:cells].reshape(num_classes, num_classes)


def learning_rate_factor(step: int, total_steps: int, warmup_fraction: float = WARMUP_FRACTION) -> float:
    """Linear warm-up then cosine decay to 0: the multiplier of the base learning rate at ``step`` (0-based)."""
    warmup = max(1, int(round(warmup_fraction * total_steps)))
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: nn.Module, learning_rate: float) -> torch.optim.Optimizer:
    """Adam (betas 0.9/0.999, as ``fit``).

    The multi-tensor (``foreach``) implementation, not ``fused=True``: the fused kernel refuses a gradient
    whose memory layout differs from its parameter's, which channels-last convolutions can produce
    (pytorch/pytorch#110758).
    """
    return torch.optim.Adam(model.parameters(), lr=learning_rate, betas=training.ADAM_BETAS,
                            eps=training.ADAM_EPSILON)


def training_step(
    model: Callable[[torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    class_weights: torch.Tensor | None,
    *,
    amp_dtype: torch.dtype | None,
    ignore_index: int = IGNORE_INDEX,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step: forward (autocast), weighted cross entropy, backward, optimizer step.

    Returns:
        ``(loss numerator, loss denominator, logits)``, detached, on the device (no synchronisation).
    """
    with torch.autocast(inputs.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        logits = model(inputs)
    numerator, denominator = cross_entropy(logits, labels, class_weights, ignore_index)
    loss = numerator / denominator.clamp_min(1e-12)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return numerator.detach(), denominator.detach(), logits.detach()


@torch.no_grad()
def predict_on_device(
    model: nn.Module,
    data: DeviceData,
    *,
    num_classes: int,
    batch_size: int,
    amp_dtype: torch.dtype | None,
    channels_last: bool,
    class_weights: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> dict[str, Any]:
    """Scores ``model`` on a split held on the device.

    Returns:
        ``{"loss": float, "confusion_matrix": int64 (K, K) numpy, "predictions": uint8 (N, H, W) numpy}``.
    """
    model.eval()
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=data.images.device)
    numerator = torch.zeros((), device=data.images.device)
    denominator = torch.zeros((), device=data.images.device)
    predictions = torch.empty_like(data.masks)
    for start in range(0, len(data), batch_size):
        images = data.images[start : start + batch_size]
        labels = data.masks[start : start + batch_size].long()
        with torch.autocast(images.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits = model(to_inputs(images, channels_last))
        batch_numerator, batch_denominator = cross_entropy(logits, labels, class_weights, ignore_index)
        numerator += batch_numerator
        denominator += batch_denominator
        predicted = logits.argmax(dim=1)
        predictions[start : start + batch_size] = predicted.to(torch.uint8)
        matrix += confusion_matrix(labels, predicted, num_classes, ignore_index)
    loss = float(numerator / denominator) if float(denominator) > 0 else float("nan")
    return {"loss": loss, "confusion_matrix": matrix.cpu().numpy(), "predictions": predictions.cpu().numpy()}


@dataclasses.dataclass
class TrainingRun:
    """What :func:`train_on_device` returns: the per-epoch history and how the run went."""

    history: dict[str, list[float]]
    epochs_planned: int
    steps: int
    train_seconds: float
    stopped_early: str | None = None


def train_on_device(
    model: nn.Module,
    train_data: DeviceData,
    val_data: DeviceData | None,
    *,
    num_classes: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    class_weights: np.ndarray | None = None,
    augmentation: Augmentation = Augmentation(),
    amp_dtype: torch.dtype | None = torch.bfloat16,
    channels_last: bool = True,
    seed: int = 0,
    budget_seconds: float | None = None,
    ignore_index: int = IGNORE_INDEX,
    log: Callable[[str], None] = print,
) -> TrainingRun:
    """Trains ``model`` with every batch drawn, augmented and consumed on the device.

    Each epoch visits ``len(train_data) // batch_size`` full batches in a new random order (the few images
    left over differ every epoch), so every step has the same shape. The learning rate warms up linearly
    over the first 3% of the steps and then follows a cosine to 0 at the end of the ``epochs`` planned.

    Args:
        model: as for ``segdemo.torch.fit``; moved to the data's device (channels-last when asked).
        train_data, val_data: splits from :func:`to_device_data`; val is scored after every epoch.
        num_classes: number of classes K.
        epochs: epochs planned (the schedule's length).
        batch_size: images per step (at most the number of training images).
        learning_rate: peak Adam step size.
        class_weights: float (K,) loss weights or ``None``.
        augmentation: random changes of each batch (``NO_AUGMENTATION`` for none).
        amp_dtype: autocast dtype (``torch.bfloat16``) or ``None`` for float32.
        channels_last: NHWC memory layout for the convolutions.
        seed: seeds the batch order, augmentation and dropout.
        budget_seconds: wall time the run may take. After every epoch the epochs still to come are
            projected from the median time of the epochs after the first (which includes cuDNN's algorithm
            search), from the second epoch on; when they would not fit, the plan shrinks to what fits and
            the cosine schedule is stretched over the new length (``stopped_early`` says so). ``None``: no
            limit.
        log: receives one line per epoch.

    Returns:
        A :class:`TrainingRun` whose history has the keys of ``segdemo.training.HISTORY_KEYS``.

    Raises:
        ValueError: a label that is neither a class id nor ``ignore_index``, a bad batch size, seed or
            learning rate, or a model whose output channels differ from ``num_classes``.
        TrainingDivergedError: the loss became NaN or infinite (checked once per epoch).
    """
    seed = validation.check_seed(seed, "seed")
    learning_rate = validation.check_positive_number(learning_rate, "learning_rate")
    epochs = training.check_positive(epochs, "epochs")
    batch_size = training.check_positive(batch_size, "batch_size")
    if batch_size > len(train_data):
        raise ValueError(f"batch_size {batch_size} exceeds the {len(train_data)} training images.")
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        if data is None:
            continue
        training.check_image_size(data.images.shape[1:3], min_size=output_stride(model), name=name)
        bad = data.masks[(data.masks >= num_classes) & (data.masks != ignore_index)]
        if bad.numel():
            raise ValueError(
                f"{name}: mask value {int(bad[0])} is not a class id 0..{num_classes - 1} nor the ignore "
                f"index {ignore_index}. Check num_classes or map the value to {ignore_index}."
            )
    device = train_data.images.device
    model.to(device)
    # One image through the model (eval mode: no batch-norm update) before any step changes it.
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits_shape = model(train_data.images[:1].permute(0, 3, 1, 2).float().div_(255.0)).shape
    model.train(was_training)
    training.check_full_resolution(logits_shape[2:], train_data.images.shape[1:3], model_name=type(model).__name__)
    training.check_model_classes(logits_shape[1], num_classes, model_name=type(model).__name__)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    weights = None if class_weights is None else torch.as_tensor(
        training.class_weight_array(class_weights, num_classes), device=device)
    optimizer = make_optimizer(model, learning_rate)
    steps_per_epoch = len(train_data) // batch_size
    total_steps = steps_per_epoch * epochs
    generator = torch.Generator(device=device)
    history = training.new_history()
    started_run = time.perf_counter()
    step = 0
    stopped_early = None
    epochs_planned = epochs
    epoch = 0
    while epoch < epochs:
        started = time.perf_counter()
        torch.manual_seed(training.epoch_seed(seed, epoch))
        generator.manual_seed(training.epoch_seed(seed, epoch))
        order = torch.randperm(len(train_data), device=device, generator=generator)
        model.train()
        matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
        numerator = torch.zeros((), device=device)
        denominator = torch.zeros((), device=device)
        for batch in range(steps_per_epoch):
            indices = order[batch * batch_size : (batch + 1) * batch_size]
            inputs = to_inputs(train_data.images[indices], channels_last)
            inputs, labels = augment(inputs, train_data.masks[indices], augmentation, generator,
                                     ignore_index=ignore_index)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate * learning_rate_factor(step, total_steps)
            batch_numerator, batch_denominator, logits = training_step(
                model, optimizer, inputs, labels, weights, amp_dtype=amp_dtype, ignore_index=ignore_index)
            numerator += batch_numerator
            denominator += batch_denominator
            matrix += confusion_matrix(labels, logits.argmax(dim=1), num_classes, ignore_index)
            step += 1
        train_loss = float(numerator / denominator.clamp_min(1e-12))
        training.check_finite_loss(train_loss, epoch=epoch + 1, step=steps_per_epoch)
        train_scores = metrics.scores(matrix.cpu().numpy())
        values = {"train_loss": train_loss, "train_global_accuracy": train_scores["global_accuracy"],
                  "train_mean_iou": train_scores["mean_iou"]}
        if val_data is not None:
            scored = predict_on_device(model, val_data, num_classes=num_classes, batch_size=batch_size,
                                       amp_dtype=amp_dtype, channels_last=channels_last, class_weights=weights,
                                       ignore_index=ignore_index)
            val_scores = metrics.scores(scored["confusion_matrix"])
            values.update(val_loss=scored["loss"], val_global_accuracy=val_scores["global_accuracy"],
                          val_mean_iou=val_scores["mean_iou"])
        values["epoch_seconds"] = time.perf_counter() - started
        training.record_epoch(history, values)
        log(f"epoch {epoch + 1}/{epochs}: loss {train_loss:.4f}, train mIoU {100 * values['train_mean_iou']:.1f}"
            + (f", val mIoU {100 * values['val_mean_iou']:.1f}" if val_data is not None else "")
            + f", {values['epoch_seconds']:.1f} s")
        epoch += 1
        times = history["epoch_seconds"]
        # The first epoch also pays cuDNN's algorithm search for the evaluation shapes (three times a normal
        # epoch on an H200): projecting from it alone shrank a 150-epoch plan to 68. Wait for a second one.
        if budget_seconds is not None and epoch < epochs and len(times) >= 2:
            per_epoch = float(np.median(times[1:]))
            left = budget_seconds - (time.perf_counter() - started_run)
            fits = epoch + max(0, int(left // per_epoch))
            if fits < epochs:
                stopped_early = f"planned {epochs_planned} epochs, {fits} fit the time budget"
                log(f"re-planned: {stopped_early} ({per_epoch:.2f} s per epoch)")
                epochs = fits
                total_steps = steps_per_epoch * epochs
    return TrainingRun(history=history, epochs_planned=epochs_planned, steps=step,
                       train_seconds=time.perf_counter() - started_run, stopped_early=stopped_early)
