"""Training, evaluation and prediction for the PyTorch models (NCHW), mirrored in ``segdemo.tensorflow.train``.

A plain loop: per-pixel cross entropy with class weights and an ignore index, Adam or SGD with momentum,
metrics from one confusion matrix accumulated over batches (``segdemo.metrics``), a checkpoint per epoch,
and seeded, deterministic behaviour on the CPU. Example::

    history = fit(model, (train_images, train_masks), (val_images, val_masks),
                  num_classes=5, epochs=3, batch_size=8, progress=False)
    history["val_mean_iou"][-1]
"""

from __future__ import annotations

import contextlib
import os
import pickle
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from segdemo import augmentation, metrics, training
from segdemo.files import atomic_path
from segdemo.training import IGNORE_INDEX

CHECKPOINT_NAME = "checkpoint.pt"
"""File name of the checkpoint inside ``checkpoint_dir``."""

Data = tuple[np.ndarray, np.ndarray]


def default_device() -> torch.device:
    """The GPU when one is visible, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def output_stride(model: nn.Module) -> int:
    """The model's total downsampling (``model.output_stride``), 1 for models that do not declare it."""
    return int(getattr(model, "output_stride", 1))


def cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    class_weights: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel weighted cross entropy, split into numerator and denominator.

    ``numerator / denominator`` is exactly ``torch.nn.CrossEntropyLoss(weight, ignore_index)``'s mean:
    ``sum(w[y] * nll) / sum(w[y])`` over pixels whose label is not ``ignore_index``. Keeping both parts lets
    the loop sum them over an epoch, so the epoch loss is the same weighted mean over every pixel.

    Args:
        logits: float (N, K, H, W).
        labels: int64 (N, H, W).
        class_weights: float32 (K,) or ``None`` for ones.

    Returns:
        ``(numerator, denominator)``, float32 scalars.
    """
    logits = logits.float()
    weighted_nll = functional.cross_entropy(
        logits, labels, weight=class_weights, ignore_index=ignore_index, reduction="none"
    )
    valid = labels != ignore_index
    safe_labels = torch.where(valid, labels, torch.zeros_like(labels))
    if class_weights is None:
        pixel_weights = valid.float()
    else:
        pixel_weights = class_weights[safe_labels] * valid
    return weighted_nll.sum(), pixel_weights.sum()


def _to_tensors(images: np.ndarray, masks: np.ndarray | None, device: torch.device):
    # uint8 NHWC -> float32 NCHW in [0, 1], the input every model of the book expects.
    inputs = torch.from_numpy(training.images_to_float(images)).permute(0, 3, 1, 2).contiguous().to(device)
    labels = None if masks is None else torch.from_numpy(masks.astype(np.int64)).to(device)
    return inputs, labels


def _make_optimizer(model: nn.Module, name: str, learning_rate: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(
            model.parameters(), lr=learning_rate, betas=training.ADAM_BETAS, eps=training.ADAM_EPSILON
        )
    return torch.optim.SGD(
        model.parameters(),
        lr=learning_rate,
        momentum=training.SGD_MOMENTUM,
        weight_decay=training.SGD_WEIGHT_DECAY,
    )


@contextlib.contextmanager
def _deterministic(device: torch.device) -> Iterator[None]:
    """Deterministic algorithms on the CPU for the duration of a call, restoring the previous setting.

    ``max_unpool2d`` is flagged as nondeterministic (its CUDA kernel scatters with atomics), which would make
    SegNet fail under ``use_deterministic_algorithms(True)``. On the CPU, with the non-overlapping windows of
    the book's models, every output element is written once, so the flag is used with ``warn_only=True`` and
    that one warning is silenced; a test checks that two identical runs give identical histories.
    """
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with warnings.catch_warnings():
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
            warnings.filterwarnings("ignore", message=".*does not have a deterministic implementation")
        else:
            torch.backends.cudnn.benchmark = False
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous, warn_only=previous_warn_only)


def _progress_bar(total: int, description: str, enabled: bool):
    if not enabled:
        return contextlib.nullcontext(None)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="batch", leave=True)


def _run_batches(
    model: nn.Module,
    images: np.ndarray,
    masks: np.ndarray,
    *,
    num_classes: int,
    batch_size: int,
    class_weights: torch.Tensor | None,
    ignore_index: int,
    device: torch.device,
    keep_predictions: bool = False,
) -> tuple[float, np.ndarray, np.ndarray | None]:
    """Evaluation pass: returns (weighted mean loss, confusion matrix, predictions uint8 (N, H, W) or None)."""
    model.eval()
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    numerator = denominator = 0.0
    predictions = np.zeros(masks.shape, dtype=np.uint8) if keep_predictions else None
    amp = device.type == "cuda"
    with torch.no_grad():
        for indices in training.batches(len(images), batch_size, shuffle=False):
            inputs, labels = _to_tensors(images[indices], masks[indices], device)
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                logits = model(inputs)
            batch_numerator, batch_denominator = cross_entropy(logits, labels, class_weights, ignore_index)
            numerator += float(batch_numerator)
            denominator += float(batch_denominator)
            predicted = logits.argmax(dim=1).to(torch.uint8).cpu().numpy()
            matrix += metrics.confusion_matrix(masks[indices], predicted, num_classes, ignore_index)
            if predictions is not None:
                predictions[indices] = predicted
    loss = numerator / denominator if denominator > 0 else float("nan")
    return loss, matrix, predictions


def _save_checkpoint(path: Path, model: nn.Module, optimizer, scaler, history: dict, settings: dict) -> None:
    state = {
        "format": 1,
        "epochs_done": training.epochs_done(history),
        "history": history,
        "settings": settings,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
    }
    # A killed run leaves the previous checkpoint intact, never a half-written one.
    with atomic_path(path) as temporary:
        torch.save(state, temporary)


_CHECKPOINT_KEYS = ("epochs_done", "history", "settings", "model")

_RETRAIN_HINT = "delete it and train again (python -m segdemo train ... --overwrite)"


def _read_checkpoint(path: Path, device: torch.device) -> dict:
    """``torch.load`` whose failures (truncated, empty, not a checkpoint) become one CheckpointError."""
    if path.stat().st_size == 0:
        raise training.CheckpointError(f"Checkpoint {path} is empty (0 bytes): {_RETRAIN_HINT}.")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise training.CheckpointError(
            f"Checkpoint {path} cannot be read ({reason}): it is truncated or not a segdemo PyTorch checkpoint; "
            f"{_RETRAIN_HINT}."
        ) from None
    missing = [key for key in _CHECKPOINT_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise training.CheckpointError(
            f"Checkpoint {path} lacks {missing}: it was not written by segdemo.torch.fit; {_RETRAIN_HINT}."
        )
    return state


def load_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer=None,
    scaler=None,
    *,
    expected_settings: Mapping[str, Any] | None = None,
) -> dict:
    """Restores a checkpoint written by ``fit`` into ``model`` (and ``optimizer``, ``scaler`` when given).

    Args:
        path: the checkpoint file, or the ``checkpoint_dir`` that holds ``checkpoint.pt``.
        model: a model of the architecture the checkpoint was written from.
        expected_settings: when given, the settings the caller trains with; any difference from the
            checkpoint's (except ``epochs``) is refused before anything is restored.

    Returns:
        ``{"epochs_done": int, "history": dict, "settings": dict}``.

    Raises:
        FileNotFoundError: when there is no checkpoint at ``path``.
        CheckpointError (a ValueError): the file is empty, truncated or not a checkpoint, holds another
            model's weights, or was written with other settings (optimizer, learning rate, ...). The message
            names the file and what to do.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"No PyTorch checkpoint at {path}; train with checkpoint_dir= first.")
    device = next(model.parameters()).device if any(True for _ in model.parameters()) else torch.device("cpu")
    state = _read_checkpoint(path, device)
    if expected_settings is not None:
        training.check_resume_settings(state["settings"], expected_settings, path=path)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        detail = " ".join(str(error).split())[:300]
        raise training.CheckpointError(
            f"Checkpoint {path} holds the weights of another model ({detail}). Build the model its run.json "
            "names (model, width, num_classes), or train this one with another --name or --overwrite."
        ) from None
    try:
        if optimizer is not None:
            optimizer.load_state_dict(state["optimizer"])
        if scaler is not None:
            scaler.load_state_dict(state["scaler"])
    except (ValueError, KeyError, RuntimeError) as error:
        raise training.CheckpointError(
            f"Checkpoint {path} holds the state of another optimizer ({type(error).__name__}: {error}); resume "
            "with the optimizer it was trained with, or start a new run (--overwrite, or another --name)."
        ) from None
    return {"epochs_done": int(state["epochs_done"]), "history": state["history"], "settings": state["settings"]}


def model_classes(model: nn.Module, images: np.ndarray) -> int:
    """The number of classes ``model`` predicts: the channels of its logits for one image (no gradients).

    Args:
        images: uint8 (N, H, W, 3); only the first image is used.

    Raises:
        ValueError: logits not at the image's height and width (a half-resolution output).
    """
    device = next(model.parameters()).device if any(True for _ in model.parameters()) else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            inputs, _ = _to_tensors(images[:1], None, device)
            logits = model(inputs)
    finally:
        model.train(was_training)
    training.check_full_resolution(logits.shape[2:], images.shape[1:3], model_name=type(model).__name__)
    return int(logits.shape[1])


def fit(
    model: nn.Module,
    train_data: Data,
    val_data: Data | None,
    *,
    num_classes: int,
    epochs: int,
    batch_size: int,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    class_weights: Sequence[float] | np.ndarray | None = None,
    ignore_index: int = IGNORE_INDEX,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    seed: int = 0,
    progress: bool | None = None,
    on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
    augment: str | Sequence[str] | None = None,
    schedule: str = "constant",
    precision: str = "float32",
) -> dict[str, list[float]]:
    """Trains ``model`` with per-pixel cross entropy and returns the per-epoch history.

    The loss is ``torch.nn.CrossEntropyLoss(weight=class_weights, ignore_index=ignore_index)``:
    ``sum(w[y] * nll) / sum(w[y])`` over pixels whose label is not ``ignore_index``. ``"adam"`` uses
    betas (0.9, 0.999) as in the SegNet article; ``"sgd"`` uses momentum 0.9 and weight decay 5e-4 as in
    the SegNet paper and tutorial (use learning_rate 0.1 or 1e-3 there).

    Image sizes: the book's models take any height and width that are at least ``model.output_stride``
    (their total downsampling); odd sizes after pooling are restored exactly by the layers, so there is no
    need to crop to a multiple of 32. Smaller images are refused with a ValueError.

    Reproducibility: the shuffle of each epoch and the torch seed are derived from ``seed`` and the epoch
    number, and deterministic algorithms are switched on (on the CPU) for the call, so the same call on a
    freshly built model (seed before building it) gives the same history, and a resumed run continues
    exactly like an uninterrupted one. On a CUDA GPU the model runs in mixed precision (``torch.autocast``
    float16 with a ``GradScaler``); that path cannot be tested on the CPU-only CI.

    Args:
        model: takes float32 (N, 3, H, W) in [0, 1], returns logits float (N, K, H, W). Moved to the GPU
            when one is visible.
        train_data: ``(images uint8 (N, H, W, 3), masks uint8 (N, H, W))``; masks hold class ids or
            ``ignore_index``.
        val_data: same layout, or ``None`` to skip validation (the ``val_`` history lists stay empty).
        num_classes: number of classes K.
        epochs: total number of epochs (a resumed run counts the epochs already done).
        batch_size: images per step; the last batch of an epoch may be smaller.
        optimizer: ``"adam"`` or ``"sgd"``.
        learning_rate: step size.
        class_weights: float (K,) loss weight per class (e.g. median frequency balancing), ``None`` for ones.
            Also used for ``val_loss``, so both losses are the same quantity.
        ignore_index: label of pixels left out of loss and metrics.
        checkpoint_dir: folder for ``checkpoint.pt``, written atomically after every epoch; ``None``: none.
        resume: continue from the checkpoint in ``checkpoint_dir`` when there is one (model, optimizer,
            epoch counter and history); a killed run loses at most the epoch in progress. Only ``epochs``
            may differ from the checkpoint's settings (to extend a run); another optimizer, learning rate,
            seed, batch size or number of classes is refused with a CheckpointError.
        seed: seed of the shuffles and of torch's random numbers (dropout), in ``0..2**32 - 1``.
        progress: progress bars; ``None`` shows them only when stderr is a terminal. Notebooks pass False.
        on_epoch: called after every epoch with ``(epoch (1-based), epochs, values of that epoch)``, e.g. to
            log a line per epoch (the runner does when stderr is not a terminal).
        augment: transforms of image and mask applied to every training batch, names from
            ``segdemo.augmentation.AUGMENTATIONS`` (``"flip,scale,color"``); ``None``: none. Validation is
            never augmented. Seeded from ``(seed, epoch, step)``, so resuming replays it.
        schedule: ``"constant"`` or ``"cosine"`` (decay to 0 over ``epochs``, see
            ``segdemo.training.learning_rate_at``). A cosine run cannot be extended by resuming.
        precision: ``"float32"``, or ``"bfloat16"``: on the CPU the training forward and backward passes run
            under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (weights, optimizer state and loss stay
            float32; validation stays float32). Only for CPUs with bfloat16 instructions (see
            ``segdemo.training.PRECISIONS``). Ignored on a CUDA GPU, which always trains in float16 mixed
            precision.

    Returns:
        Lists with one value per epoch: ``train_loss``, ``train_global_accuracy``, ``train_mean_iou``
        (from the training forward passes), ``val_loss``, ``val_global_accuracy``, ``val_mean_iou`` and
        ``epoch_seconds``.

    Raises:
        ValueError: bad shapes or dtypes, images smaller than ``model.output_stride``, labels that are
            neither class ids nor ``ignore_index``, ``num_classes`` other than the model's output channels,
            masks with nothing to learn (all ignored, or zero weights), an unknown optimizer, a bad seed, or
            ``resume`` without ``checkpoint_dir``.
        CheckpointError: resuming a checkpoint that is unreadable, from another model, or from other settings.
        TrainingDivergedError: the loss became NaN or infinite (the message names the epoch and step).
    """
    checked = training.check_fit_arguments(
        train_data=train_data, val_data=val_data, num_classes=num_classes, epochs=epochs, batch_size=batch_size,
        optimizer=optimizer, learning_rate=learning_rate, class_weights=class_weights, ignore_index=ignore_index,
        checkpoint_dir=checkpoint_dir, resume=resume, min_size=output_stride(model), seed=seed,
        augment=augment, schedule=schedule, precision=precision,
    )
    num_classes, epochs, batch_size = checked.num_classes, checked.epochs, checked.batch_size
    optimizer_name = checked.optimizer
    train_images, train_masks = checked.train_images, checked.train_masks
    val_images, val_masks = checked.val_images, checked.val_masks

    device = default_device()
    model.to(device)
    training.check_model_classes(model_classes(model, train_images), num_classes)
    weights = torch.from_numpy(checked.class_weights).to(device)
    torch_optimizer = _make_optimizer(model, optimizer_name, learning_rate)
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    # float16 with a loss scaler on a GPU; bfloat16 (same exponent range as float32, no scaler) on a CPU.
    autocast_dtype = torch.float16 if amp else torch.bfloat16
    autocast = amp or checked.precision == "bfloat16"
    settings = {"optimizer": optimizer_name, "learning_rate": float(learning_rate), "seed": int(seed),
                "batch_size": batch_size, "num_classes": num_classes,
                **training.schedule_settings(checked.augment, checked.schedule, epochs, checked.precision)}

    history = training.new_history()
    checkpoint_path = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME
    if resume and checkpoint_path.is_file():
        restored = load_checkpoint(checkpoint_path, model, torch_optimizer, scaler, expected_settings=settings)
        training.check_resume_epochs(restored["epochs_done"], epochs, path=checkpoint_path)
        history = restored["history"]
    show = training.show_progress(progress)
    steps_per_epoch = -(-len(train_images) // batch_size)

    with _deterministic(device):
        for epoch in range(training.epochs_done(history), epochs):
            started = time.perf_counter()
            # Everything random in this epoch comes from (seed, epoch): resuming replays it exactly.
            torch.manual_seed(training.epoch_seed(seed, epoch))
            for group in torch_optimizer.param_groups:
                group["lr"] = training.learning_rate_at(learning_rate, epoch, epochs, checked.schedule)
            model.train()
            matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
            numerator = denominator = 0.0
            with _progress_bar(steps_per_epoch, f"epoch {epoch + 1}/{epochs}", show) as bar:
                batches = training.batches(len(train_images), batch_size, shuffle=True, seed=seed, epoch=epoch)
                for step, indices in enumerate(batches, start=1):
                    batch_images, batch_masks = augmentation.augment_batch(
                        train_images[indices], train_masks[indices], checked.augment,
                        augmentation.batch_rng(seed, epoch, step), ignore_index=ignore_index)
                    inputs, labels = _to_tensors(batch_images, batch_masks, device)
                    with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast):
                        logits = model(inputs)
                    batch_numerator, batch_denominator = cross_entropy(logits, labels, weights, ignore_index)
                    # A batch of only ignored pixels has no loss to follow: it contributes nothing.
                    loss = batch_numerator / batch_denominator.clamp_min(1e-12)
                    loss_value = float(loss.detach())
                    training.check_finite_loss(loss_value, epoch=epoch + 1, step=step)
                    torch_optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    scaler.step(torch_optimizer)
                    scaler.update()
                    numerator += float(batch_numerator.detach())
                    denominator += float(batch_denominator)
                    predicted = logits.detach().argmax(dim=1).to(torch.uint8).cpu().numpy()
                    matrix += metrics.confusion_matrix(batch_masks, predicted, num_classes, ignore_index)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{loss_value:.4f}")
            train_scores = metrics.scores(matrix)
            values = {
                "train_loss": numerator / denominator if denominator > 0 else float("nan"),
                "train_global_accuracy": train_scores["global_accuracy"],
                "train_mean_iou": train_scores["mean_iou"],
            }
            if val_data is not None:
                val_loss, val_matrix, _ = _run_batches(
                    model, val_images, val_masks, num_classes=num_classes, batch_size=batch_size,
                    class_weights=weights, ignore_index=ignore_index, device=device,
                )
                val_scores = metrics.scores(val_matrix)
                values.update(val_loss=val_loss, val_global_accuracy=val_scores["global_accuracy"],
                              val_mean_iou=val_scores["mean_iou"])
            values["epoch_seconds"] = time.perf_counter() - started
            training.record_epoch(history, values)
            if checkpoint_path is not None:
                _save_checkpoint(checkpoint_path, model, torch_optimizer, scaler, history, settings)
            if on_epoch is not None:
                on_epoch(epoch + 1, epochs, values)
    return history


def evaluate(
    model: nn.Module,
    data: Data,
    *,
    num_classes: int,
    batch_size: int = 8,
    ignore_index: int = IGNORE_INDEX,
) -> dict[str, Any]:
    """Scores ``model`` on ``data``.

    Args:
        model: takes float32 (N, 3, H, W) in [0, 1], returns logits (N, K, H, W).
        data: ``(images uint8 (N, H, W, 3), masks uint8 (N, H, W))``.
        num_classes: number of classes K.
        batch_size: images per forward pass.
        ignore_index: label of pixels left out.

    Returns:
        ``segdemo.metrics.scores`` of the confusion matrix (``global_accuracy``, ``class_accuracy``,
        ``mean_iou``, ``per_class_iou``, ``per_class_accuracy``) plus ``confusion_matrix`` int64 (K, K),
        ``boundary_f1`` (the SegNet paper's BF score) and ``loss`` (unweighted cross entropy).

    Raises:
        ValueError: bad shapes or dtypes, images smaller than ``model.output_stride``, invalid labels, or
            ``num_classes`` other than the model's output channels.
    """
    num_classes = training.check_positive(num_classes, "num_classes")
    batch_size = training.check_positive(batch_size, "batch_size")
    images, masks = training.unpack_data(data, "data")
    training.check_data(images, masks, num_classes=num_classes, ignore_index=ignore_index,
                        min_size=output_stride(model), name="data")
    device = default_device()
    model.to(device)
    training.check_model_classes(model_classes(model, images), num_classes)
    with _deterministic(device):
        loss, matrix, predictions = _run_batches(
            model, images, masks, num_classes=num_classes, batch_size=batch_size, class_weights=None,
            ignore_index=ignore_index, device=device, keep_predictions=True,
        )
    result = metrics.scores(matrix)
    result["confusion_matrix"] = matrix
    result["boundary_f1"] = metrics.boundary_f1(masks, predictions, num_classes, ignore_index=ignore_index)
    result["loss"] = loss
    return result


def predict(model: nn.Module, images: np.ndarray, *, batch_size: int = 8) -> np.ndarray:
    """Predicted class ids.

    Args:
        model: takes float32 (N, 3, H, W) in [0, 1], returns logits (N, K, H, W).
        images: uint8 (N, H, W, 3).
        batch_size: images per forward pass.

    Returns:
        uint8 (N, H, W): the arg-max class of every pixel.

    Raises:
        ValueError: images not uint8 (N, H, W, 3), or smaller than ``model.output_stride``.
    """
    batch_size = training.check_positive(batch_size, "batch_size")
    training.check_images(images, min_size=output_stride(model), name="images")
    device = default_device()
    model.to(device)
    model.eval()
    predictions = np.zeros(images.shape[:3], dtype=np.uint8)
    with torch.no_grad(), _deterministic(device):
        for indices in training.batches(len(images), batch_size, shuffle=False):
            inputs, _ = _to_tensors(images[indices], None, device)
            with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
                logits = model(inputs)
            predictions[indices] = logits.argmax(dim=1).to(torch.uint8).cpu().numpy()
    return predictions
