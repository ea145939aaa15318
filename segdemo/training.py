"""Framework-free pieces of the training loops in ``segdemo.torch.train`` and ``segdemo.tensorflow.train``.

Both loops share this module so they validate input, batch, shuffle, record history and write
checkpoints the same way. Numpy only: importing it loads neither framework.

Reproducibility: the order of the training images in epoch ``e`` is drawn from
``numpy.random.default_rng([seed, e])``, and each loop re-seeds its framework at the start of every epoch from
``epoch_seed(seed, e)``. Nothing random carries over from one epoch to the next, so a run resumed from the
checkpoint of epoch ``e`` continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segdemo import files, validation

IGNORE_INDEX = 255
"""Label of pixels that count neither in the loss nor in the metrics (CamVid's void)."""

OPTIMIZERS = ("adam", "sgd")
"""Optimizer names ``fit`` accepts."""

ADAM_BETAS = (0.9, 0.999)
"""Adam's moment decay rates, as in the SegNet article and PyTorch's defaults."""

ADAM_EPSILON = 1e-8
"""PyTorch's Adam epsilon; Keras defaults to 1e-7, so the Keras loop passes this explicitly."""

SGD_MOMENTUM = 0.9
"""SGD momentum of the SegNet paper and tutorial."""

SGD_WEIGHT_DECAY = 5e-4
"""SGD weight decay (L2 added to the gradient, as ``torch.optim.SGD`` does) of the SegNet tutorial."""

HISTORY_KEYS = (
    "train_loss",
    "train_global_accuracy",
    "train_mean_iou",
    "val_loss",
    "val_global_accuracy",
    "val_mean_iou",
    "epoch_seconds",
)
"""The per-epoch lists in the history ``fit`` returns (the ``val_`` ones stay empty without val data)."""


SCHEDULES = ("constant", "cosine")
"""Learning-rate schedules ``fit`` accepts: the same rate every epoch, or a cosine decay from it to 0."""

PRECISIONS = ("float32", "bfloat16")
"""Arithmetic of the training steps on a CPU: float32 throughout, or bfloat16 mixed precision (forward and
backward in bfloat16, weights, optimizer and loss in float32). Worth it only on a CPU with bfloat16
instructions (``avx512_bf16`` or ``amx_bf16`` in ``/proc/cpuinfo``): ``results/benchmarks/train_step.json``
measures about 2x the steps per second there in both frameworks, while on an AVX2-only CPU the first
SegNet-Basic step took minutes. The profiles keep float32; a CUDA GPU always uses float16 mixed precision."""

RESUMABLE_SETTINGS = ("epochs",)
"""What a resumed run may change: only ``epochs`` (to extend a run). Everything else a checkpoint records
(optimizer, learning rate, seed, batch size, number of classes) must match, or the resumed run would silently
keep the old value (the optimizer state restores it) while its result claims the new one."""


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the epoch and the step."""


class CheckpointError(ValueError):
    """A checkpoint cannot be used: truncated, empty, from another model or written with other settings.

    The message names the file, what is wrong and what to do.
    """


def check_data(
    images: Any,
    masks: Any,
    *,
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
    min_size: int = 1,
    name: str = "data",
) -> None:
    """Checks a dataset before training on it or evaluating on it.

    Args:
        images: uint8 (N, H, W, 3).
        masks: uint8 (N, H, W) with class ids in ``0..num_classes - 1`` or ``ignore_index``.
        num_classes: number of classes the model predicts.
        ignore_index: label of ignored pixels.
        min_size: smallest height and width the model accepts (its ``output_stride``).
        name: what the data are called in error messages (``"train_data"``, ``"val_data"``).

    Raises:
        ValueError: when the dtypes or shapes are wrong, the masks do not match the images, the images are
            smaller than ``min_size``, or a label is neither a class id nor ``ignore_index``.
    """
    masks = np.asarray(masks)
    if isinstance(images, np.ndarray) and (images.ndim != 4 or images.shape[-1] != 3):
        raise ValueError(
            f"{name}: images have shape {images.shape} and masks {masks.shape}; expected images uint8 "
            "(N, H, W, 3) (channels last) and masks (N, H, W)."
        )
    check_images(images, min_size=min_size, name=name)
    if masks.shape != images.shape[:3]:
        raise ValueError(
            f"{name}: masks of shape {masks.shape} do not match images of shape {images.shape}; "
            "masks must be (N, H, W) with the images' N, H and W."
        )
    if not np.issubdtype(masks.dtype, np.integer):
        raise ValueError(f"{name}: masks have dtype {masks.dtype}; pass integer class ids (uint8).")
    check_labels(masks, num_classes=num_classes, ignore_index=ignore_index, name=name)


def check_images(images: Any, *, min_size: int = 1, name: str = "images") -> None:
    """Checks that ``images`` are uint8 (N, H, W, 3) with H and W at least ``min_size``.

    Raises:
        ValueError: naming the shape or dtype received and what is expected.
    """
    if not isinstance(images, np.ndarray):
        raise ValueError(f"{name}: images must be a numpy array uint8 (N, H, W, 3), got {type(images).__name__}.")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{name}: images have shape {images.shape}; expected uint8 (N, H, W, 3).")
    if images.dtype != np.uint8:
        raise ValueError(
            f"{name}: images have dtype {images.dtype}; expected uint8 (N, H, W, 3) with values 0..255 "
            "(the loops scale them to [0, 1] themselves)."
        )
    if images.shape[0] == 0:
        raise ValueError(f"{name}: images have shape {images.shape}; there must be at least one image.")
    check_image_size(images.shape[1:3], min_size=min_size, name=name)


def check_image_size(size: Sequence[int], *, min_size: int, name: str = "images") -> None:
    """Refuses images smaller than the model's total downsampling.

    Args:
        size: ``(height, width)``.
        min_size: the model's ``output_stride``: below it the deepest feature map would be empty.

    Raises:
        ValueError: naming the size and the minimum.
    """
    height, width = (int(side) for side in size)
    if height < min_size or width < min_size:
        raise ValueError(
            f"{name}: images of size {height}x{width} are too small for this model: height and width must be "
            f"at least {min_size} (the model's output_stride). Resize the images or choose a shallower model."
        )


def check_labels(masks: np.ndarray, *, num_classes: int, ignore_index: int = IGNORE_INDEX, name: str = "masks") -> None:
    """Checks that every label is a class id in ``0..num_classes - 1`` or ``ignore_index``.

    Raises:
        ValueError: naming the first offending value.
    """
    values = np.unique(masks)
    bad = values[((values < 0) | (values >= num_classes)) & (values != ignore_index)]
    if bad.size:
        raise ValueError(
            f"{name}: mask value {int(bad[0])} is not a class id 0..{num_classes - 1} nor the ignore index "
            f"{ignore_index} (bad values: {bad[:10].tolist()}). Check num_classes or map the value to {ignore_index}."
        )


def check_optimizer(optimizer: str, learning_rate: float) -> str:
    """Normalises the optimizer name.

    Raises:
        ValueError: for an unknown name or a learning rate that is not a finite number above 0.
    """
    name = str(optimizer).strip().lower()
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}.")
    try:
        validation.check_positive_number(learning_rate, "learning_rate")
    except ValueError:
        raise ValueError(f"learning_rate must be positive and finite, got {learning_rate!r}.") from None
    return name


def check_positive(value: int, name: str) -> int:
    """Returns ``value`` as int when it is a positive integer.

    Raises:
        ValueError: naming the argument and the value.
    """
    try:
        return validation.check_integer(value, name, minimum=1)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.") from None


def class_weight_array(class_weights: Sequence[float] | np.ndarray | None, num_classes: int) -> np.ndarray:
    """Returns the class weights as float32 (num_classes,); ``None`` means all ones.

    Raises:
        ValueError: when the length is not ``num_classes`` or a weight is negative or not finite.
    """
    if class_weights is None:
        return np.ones(num_classes, dtype=np.float32)
    weights = np.asarray(class_weights, dtype=np.float64).reshape(-1)
    if weights.shape != (num_classes,):
        raise ValueError(f"class_weights has {weights.size} values; expected one per class ({num_classes}).")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(f"class_weights must be finite and non-negative, got {weights.tolist()}.")
    return weights.astype(np.float32)


def check_something_to_learn(masks: np.ndarray, weights: np.ndarray, *, ignore_index: int, name: str) -> None:
    """Refuses masks in which no pixel counts in the loss: all ``ignore_index``, or only zero-weight classes.

    Either would train on a loss of 0 / 0 (NaN) or a constant 0, silently, for every epoch.

    Args:
        masks: integer (N, H, W).
        weights: float32 (K,) class weights.

    Raises:
        ValueError: naming the data and the fix.
    """
    counts = np.bincount(masks[masks != ignore_index].astype(np.int64).ravel(), minlength=len(weights))
    if counts.sum() == 0:
        raise ValueError(
            f"{name}: every pixel of every mask is {ignore_index} (ignored), so there is nothing to learn or score. "
            "Check the label files (void-only masks) or the ignore_index."
        )
    present = np.flatnonzero(counts[: len(weights)])
    if not np.any(weights[present] > 0):
        raise ValueError(
            f"{name}: every class present in the masks ({present.tolist()}) has class weight 0, so the loss is "
            f"always 0 / 0. Give at least one present class a positive weight (class_weights={weights.tolist()})."
        )


def check_model_classes(outputs: int, num_classes: int, *, model_name: str = "the model") -> None:
    """Refuses a model whose output channels differ from ``num_classes``.

    Raises:
        ValueError: naming both numbers and the fix.
    """
    if int(outputs) != int(num_classes):
        raise ValueError(
            f"num_classes={num_classes} but {model_name} predicts {outputs} classes (its output channels). "
            f"Pass num_classes={outputs}, or build the model with {num_classes} classes."
        )


def check_full_resolution(logits_size: Sequence[int], image_size: Sequence[int], *,
                          model_name: str = "the model") -> None:
    """Refuses a model whose logits are not at its input's resolution (the masks' size).

    Args:
        logits_size: ``(height, width)`` of the logits for one image.
        image_size: ``(height, width)`` of that image.

    Raises:
        ValueError: naming both sizes and the fix.
    """
    logits_size, image_size = tuple(int(side) for side in logits_size), tuple(int(side) for side in image_size)
    if logits_size != image_size:
        raise ValueError(
            f"{model_name} returns {logits_size[0]}x{logits_size[1]} logits for {image_size[0]}x{image_size[1]} "
            "images; training and evaluation compare every pixel with the mask, so the logits must have the "
            "images' size. Build the model with full-resolution output (e.g. resnet50_segnet(..., "
            "full_resolution=True)), or downsample images and masks yourself."
        )


def check_resume_settings(stored: Mapping[str, Any], requested: Mapping[str, Any], *, path: Any) -> None:
    """Refuses to resume a checkpoint with settings other than those it was trained with.

    Only ``epochs`` may change (see :data:`RESUMABLE_SETTINGS`); settings the checkpoint does not record (older
    checkpoints) are not compared.

    Args:
        stored: the checkpoint's ``settings``.
        requested: this call's settings (same keys).
        path: the checkpoint, named in the message.

    Raises:
        CheckpointError: naming the setting, the stored and the requested value, and the fix.
    """
    for key, value in requested.items():
        if key in RESUMABLE_SETTINGS or key not in stored or stored[key] is None:
            continue
        old = stored[key]
        same = math.isclose(float(old), float(value), rel_tol=1e-9) if isinstance(value, float) else old == value
        if not same and key == "schedule_epochs":
            raise CheckpointError(cannot_extend_message(path, stored.get("schedule"), old, value))
        if not same:
            raise CheckpointError(
                f"Cannot resume {path}: it was trained with {key}={old!r}, this run asks for {key}={value!r}. "
                f"A resumed run may only change epochs. Resume with {key}={old!r}, or start a new run "
                "(--overwrite, or another --name)."
            )



def cannot_extend_message(path: Any, schedule: Any, planned: Any, requested: Any) -> str:
    """Why a run with a decaying learning rate cannot be resumed for another number of epochs."""
    return (
        f"Cannot resume {path} for {requested} epochs: its {schedule} learning-rate schedule was laid out over "
        f"{planned} epochs, and changing that would change the rates of the epochs already trained. Resume it "
        f"with {planned} epochs, or start a new run for {requested} epochs (--overwrite, or another --name)."
    )


def unpack_data(data: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Splits a ``(images, masks)`` pair, refusing anything else with a message naming the argument."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(f"{name} must be a tuple (images uint8 (N, H, W, 3), masks uint8 (N, H, W)).")
    return data[0], np.asarray(data[1])


@dataclasses.dataclass(frozen=True)
class FitArguments:
    """The arguments of ``fit``, checked; both frameworks' ``fit`` start from these."""

    num_classes: int
    epochs: int
    batch_size: int
    optimizer: str
    train_images: np.ndarray
    train_masks: np.ndarray
    val_images: np.ndarray | None
    val_masks: np.ndarray | None
    class_weights: np.ndarray
    augment: tuple[str, ...] = ()
    schedule: str = "constant"
    precision: str = "float32"


def check_fit_arguments(
    *,
    train_data: Any,
    val_data: Any,
    num_classes: int,
    epochs: int,
    batch_size: int,
    optimizer: str,
    learning_rate: float,
    class_weights: Sequence[float] | np.ndarray | None,
    ignore_index: int,
    checkpoint_dir: Any,
    resume: bool,
    min_size: int,
    seed: int = 0,
    augment: Any = None,
    schedule: str = "constant",
    precision: str = "float32",
) -> FitArguments:
    """Checks everything ``fit`` receives before any work starts (same rules in both frameworks).

    Raises:
        ValueError: bad shapes or dtypes, images smaller than ``min_size``, labels that are neither class ids
            nor ``ignore_index``, an unknown optimizer, a non-positive count, a seed outside ``0..2**32 - 1``,
            masks with no pixel to learn from (all ignored, or only zero-weight classes), ``resume`` without
            ``checkpoint_dir``, an unknown augmentation, learning-rate schedule or precision.
    """
    from segdemo.augmentation import parse_augment

    validation.check_seed(seed)
    augment = parse_augment(augment)
    schedule = check_schedule(schedule)
    precision = check_precision(precision)
    num_classes = check_positive(num_classes, "num_classes")
    validation.check_integer(ignore_index, "ignore_index", minimum=0)
    epochs = check_positive(epochs, "epochs")
    batch_size = check_positive(batch_size, "batch_size")
    optimizer_name = check_optimizer(optimizer, learning_rate)
    train_images, train_masks = unpack_data(train_data, "train_data")
    check_data(train_images, train_masks, num_classes=num_classes, ignore_index=ignore_index, min_size=min_size,
               name="train_data")
    val_images = val_masks = None
    if val_data is not None:
        val_images, val_masks = unpack_data(val_data, "val_data")
        check_data(val_images, val_masks, num_classes=num_classes, ignore_index=ignore_index, min_size=min_size,
                   name="val_data")
    if val_masks is not None and not np.any(val_masks != ignore_index):
        raise ValueError(
            f"val_data: every pixel of every mask is {ignore_index} (ignored), so there is nothing to score. "
            "Check the label files, or pass val_data=None."
        )
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir: the folder the interrupted run wrote its checkpoint to.")
    weights = class_weight_array(class_weights, num_classes)
    check_something_to_learn(train_masks, weights, ignore_index=ignore_index, name="train_data")
    return FitArguments(
        num_classes=num_classes, epochs=epochs, batch_size=batch_size, optimizer=optimizer_name,
        train_images=train_images, train_masks=train_masks, val_images=val_images, val_masks=val_masks,
        class_weights=weights, augment=augment, schedule=schedule, precision=precision,
    )


def check_resume_epochs(epochs_done: int, epochs: int, *, path: Any) -> None:
    """Refuses ``epochs`` below what the checkpoint at ``path`` has already done (resuming would do nothing).

    Raises:
        CheckpointError: naming both numbers.
    """
    if epochs < epochs_done:
        raise CheckpointError(
            f"Cannot resume {path} for {epochs} epochs: it has already done {epochs_done}. Pass epochs of at "
            f"least {epochs_done} to extend it, or start a new run (--overwrite, or another --name)."
        )


def epoch_line(epoch: int, epochs: int, values: Mapping[str, float]) -> str:
    """One line of progress for logs: ``epoch 3/10  41.2 s  loss 0.8123  val mIoU 0.4410``.

    Args:
        epoch: 1-based epoch number.
        epochs: total epochs.
        values: the epoch's history values (``HISTORY_KEYS``).
    """
    parts = [f"epoch {epoch}/{epochs}", f"{values.get('epoch_seconds', float('nan')):.1f} s",
             f"loss {values.get('train_loss', float('nan')):.4f}"]
    if "val_mean_iou" in values:
        parts.append(f"val mIoU {values['val_mean_iou']:.4f}")
    return "  ".join(parts)

def cross_entropy(
    logits: np.ndarray,
    labels: np.ndarray,
    class_weights: Sequence[float] | np.ndarray | None = None,
    ignore_index: int = IGNORE_INDEX,
    channel_axis: int = -1,
) -> float:
    """Reference per-pixel cross entropy, defined like ``torch.nn.CrossEntropyLoss(weight, ignore_index)``.

    ``sum(w[y] * nll) / sum(w[y])`` over the pixels whose label ``y`` is not ``ignore_index``, where
    ``nll = logsumexp(logits) - logits[y]``. Both training loops compute exactly this; the tests compare them
    against this float64 version.

    Args:
        logits: float (N, H, W, K) (or class axis at ``channel_axis``).
        labels: integer (N, H, W).
        class_weights: float (K,) or ``None`` for ones.

    Returns:
        The loss; NaN when every pixel is ignored (0 / 0, as in PyTorch).
    """
    logits = np.moveaxis(np.asarray(logits, dtype=np.float64), channel_axis, -1)
    labels = np.asarray(labels).astype(np.int64)
    weights = class_weight_array(class_weights, logits.shape[-1]).astype(np.float64)
    valid = labels != ignore_index
    safe_labels = np.where(valid, labels, 0)
    peak = logits.max(axis=-1, keepdims=True)
    log_sum_exp = np.log(np.exp(logits - peak).sum(axis=-1)) + peak[..., 0]
    picked = np.take_along_axis(logits, safe_labels[..., None], axis=-1)[..., 0]
    pixel_weights = np.where(valid, weights[safe_labels], 0.0)
    total_weight = pixel_weights.sum()
    if total_weight == 0:
        return math.nan
    return float((pixel_weights * (log_sum_exp - picked)).sum() / total_weight)


def check_schedule(schedule: str) -> str:
    """The schedule name, lower-cased.

    Raises:
        ValueError: a name not in ``SCHEDULES``, listing them.
    """
    name = str(schedule).strip().lower()
    if name not in SCHEDULES:
        raise ValueError(f"Unknown learning-rate schedule {schedule!r}; choose one of: {', '.join(SCHEDULES)}.")
    return name


def check_precision(precision: str) -> str:
    """The precision name, lower-cased.

    Raises:
        ValueError: a name not in ``PRECISIONS``, listing them.
    """
    name = str(precision).strip().lower()
    if name not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}.")
    return name


def learning_rate_at(learning_rate: float, epoch: int, epochs: int, schedule: str = "constant") -> float:
    """The learning rate of ``epoch`` (0-based) out of ``epochs``.

    ``"cosine"`` starts at ``learning_rate`` and follows half a cosine per epoch towards 0:
    ``learning_rate * (1 + cos(pi * epoch / epochs)) / 2``, so the last epoch still takes small steps.
    """
    if check_schedule(schedule) == "constant":
        return float(learning_rate)
    return float(learning_rate) * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))


def schedule_settings(
    augment: Sequence[str], schedule: str, epochs: int, precision: str = "float32"
) -> dict[str, Any]:
    """What a checkpoint records of the recipe, so a resume cannot silently change it.

    A cosine schedule is a function of the total number of epochs: extending such a run would change the
    rates of epochs already trained, so its ``schedule_epochs`` is recorded (and, unlike ``epochs``, compared).
    """
    from segdemo.augmentation import describe_augment

    settings: dict[str, Any] = {"augment": describe_augment(augment), "schedule": schedule,
                                "precision": precision}
    if schedule != "constant":
        settings["schedule_epochs"] = int(epochs)
    return settings


def epoch_seed(seed: int, epoch: int) -> int:
    """The framework seed for ``epoch`` (0-based), derived from the run's seed; fits in 31 bits."""
    return int(np.random.default_rng([int(seed), int(epoch)]).integers(0, 2**31 - 1))


def batches(num_images: int, batch_size: int, *, shuffle: bool, seed: int = 0, epoch: int = 0) -> Iterator[np.ndarray]:
    """Yields the image indices of each batch; the last batch may be smaller.

    Args:
        num_images: dataset size.
        batch_size: images per batch.
        shuffle: draw a new order for this epoch (from ``seed`` and ``epoch`` only, so it is reproducible and
            a resumed run sees the same orders as an uninterrupted one).

    Yields:
        int64 (batch,) index arrays covering every image once.
    """
    order = np.arange(num_images)
    if shuffle:
        order = np.random.default_rng([int(seed), int(epoch)]).permutation(num_images)
    for start in range(0, num_images, batch_size):
        yield order[start : start + batch_size]


def images_to_float(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) -> float32 (N, H, W, 3) in [0, 1], the input scale of every model of the book."""
    return images.astype(np.float32) / np.float32(255.0)


def new_history() -> dict[str, list[float]]:
    """An empty history with every key of ``HISTORY_KEYS``."""
    return {key: [] for key in HISTORY_KEYS}


def record_epoch(history: dict[str, list[float]], values: Mapping[str, float]) -> dict[str, list[float]]:
    """Appends one epoch's values (keys of ``HISTORY_KEYS``; missing ``val_`` keys are skipped) to ``history``."""
    for key, value in values.items():
        if key not in history:
            raise ValueError(f"Unknown history key {key!r}; expected one of {', '.join(HISTORY_KEYS)}.")
        history[key].append(float(value))
    return history


def epochs_done(history: Mapping[str, Sequence[float]]) -> int:
    """Number of finished epochs recorded in ``history``."""
    return len(history.get("train_loss", []))


def check_finite_loss(loss: float, *, epoch: int, step: int) -> None:
    """Stops training on a NaN or infinite loss.

    Args:
        loss: the step's loss.
        epoch: 1-based epoch number.
        step: 1-based step within the epoch.

    Raises:
        TrainingDivergedError: naming the epoch, the step and the loss.
    """
    if not math.isfinite(loss):
        raise TrainingDivergedError(
            f"The training loss became {loss} at epoch {epoch}, step {step}. Lower the learning rate, check "
            "the inputs are scaled to [0, 1] and the labels are valid, or resume from the last checkpoint."
        )


def show_progress(progress: bool | None) -> bool:
    """Whether to draw progress bars: ``None`` means only when stderr is a terminal (never in a notebook)."""
    if progress is None:
        stream = sys.stderr
        return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())
    return bool(progress)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically (see :mod:`segdemo.files`)."""
    return files.atomic_write_bytes(path, data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """``atomic_write_bytes`` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], value: Any) -> Path:
    """Writes ``value`` as indented JSON, atomically; NaN and infinities become ``null`` (valid JSON)."""
    return atomic_write_text(path, json.dumps(json_safe(value), indent=2, allow_nan=False) + "\n")


def json_safe(value: Any) -> Any:
    """Converts numpy scalars and arrays to Python values and non-finite floats to ``None``."""
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value
