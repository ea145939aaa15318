"""Training, evaluation and prediction for the Keras models (NHWC), mirrored in ``segdemo.torch.train``.

A custom loop (``tf.GradientTape`` inside ``tf.function``, not ``model.fit``) so both frameworks do the same
thing step by step: per-pixel cross entropy with class weights and an ignore index defined like PyTorch's,
Adam or SGD with momentum, metrics from one confusion matrix accumulated over batches (``segdemo.metrics``),
a checkpoint per epoch, and seeded, deterministic behaviour on the CPU. Example::

    history = fit(model, (train_images, train_masks), (val_images, val_masks),
                  num_classes=5, epochs=3, batch_size=8, progress=False)
    history["val_mean_iou"][-1]
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from segdemo import augmentation, metrics, training
from segdemo.training import IGNORE_INDEX

CHECKPOINT_NAME = "checkpoint.npz"
"""File name of the checkpoint inside ``checkpoint_dir``: model and optimizer variables plus the history."""

Data = tuple[np.ndarray, np.ndarray]

_IMAGE_SPEC = tf.TensorSpec([None, None, None, 3], tf.float32)
_LABEL_SPEC = tf.TensorSpec([None, None, None], tf.int32)


def gpu_available() -> bool:
    """Whether TensorFlow sees a GPU."""
    return bool(tf.config.list_physical_devices("GPU"))


@contextlib.contextmanager
def dtype_policy(name: str):
    """Builds Keras models under the dtype policy ``name`` for the duration of the block, then restores the
    previous global policy (Keras fixes a layer's arithmetic when the layer is created).

    Example::

        with dtype_policy("mixed_bfloat16"):
            model = build_model("segnet_basic", 11)
        fit(model, ..., precision="bfloat16")
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def model_precision(model: keras.Model) -> str:
    """``"bfloat16"`` for a model built under ``mixed_bfloat16``, else ``"float32"`` (float16 on a GPU is
    mixed precision with a loss scaler, see ``fit``)."""
    return "bfloat16" if getattr(getattr(model, "dtype_policy", None), "name", "") == "mixed_bfloat16" else "float32"


def output_stride(model: keras.Model) -> int:
    """The model's total downsampling (``model.output_stride``), 1 for models that do not declare it."""
    return int(getattr(model, "output_stride", 1))


def cross_entropy(
    logits: tf.Tensor,
    labels: tf.Tensor,
    class_weights: tf.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-pixel weighted cross entropy, split into numerator and denominator.

    ``numerator / denominator`` is defined exactly like ``torch.nn.CrossEntropyLoss(weight, ignore_index)``:
    ``sum(w[y] * nll) / sum(w[y])`` over pixels whose label is not ``ignore_index`` (Keras'
    ``SparseCategoricalCrossentropy`` divides by the pixel count instead, so it is not used).

    Args:
        logits: float (N, H, W, K).
        labels: integer (N, H, W).
        class_weights: float32 (K,) or ``None`` for ones.

    Returns:
        ``(numerator, denominator)``, float32 scalars.
    """
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.int32)
    valid = tf.not_equal(labels, ignore_index)
    # Ignored pixels get a harmless label 0 and weight 0, so they add nothing to either sum.
    safe_labels = tf.where(valid, labels, tf.zeros_like(labels))
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe_labels, logits=logits)
    if class_weights is None:
        pixel_weights = tf.cast(valid, tf.float32)
    else:
        pixel_weights = tf.gather(tf.cast(class_weights, tf.float32), safe_labels) * tf.cast(valid, tf.float32)
    return tf.reduce_sum(pixel_weights * nll), tf.reduce_sum(pixel_weights)


def _make_optimizer(model: keras.Model, name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    if name == "adam":
        beta_1, beta_2 = training.ADAM_BETAS
        optimizer = keras.optimizers.Adam(
            learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=training.ADAM_EPSILON
        )
    else:
        # Weight decay is added to the loss as L2 in the train step (what torch.optim.SGD does), not
        # Keras' decoupled weight_decay, so the two frameworks take the same steps.
        optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=training.SGD_MOMENTUM)
    policy = getattr(model, "dtype_policy", None)
    if getattr(policy, "name", "") == "mixed_float16":
        # Mixed precision (a GPU run whose model was built under the mixed_float16 policy): scale the loss.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(model.trainable_variables)
    return optimizer


def _make_steps(model: keras.Model, optimizer, weights: tf.Tensor, ignore_index: int, weight_decay: float):
    variables = model.trainable_variables

    @tf.function(input_signature=[_IMAGE_SPEC, _LABEL_SPEC], reduce_retracing=True)
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            numerator, denominator = cross_entropy(logits, labels, weights, ignore_index)
            loss = numerator / tf.maximum(denominator, 1e-12)
            objective = loss
            if weight_decay:
                objective += 0.5 * weight_decay * tf.add_n([tf.reduce_sum(tf.square(v)) for v in variables])
            objective = optimizer.scale_loss(objective)
        gradients = tape.gradient(objective, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return loss, numerator, denominator, predictions

    @tf.function(input_signature=[_IMAGE_SPEC, _LABEL_SPEC], reduce_retracing=True)
    def eval_step(images, labels):
        logits = model(images, training=False)
        numerator, denominator = cross_entropy(logits, labels, weights, ignore_index)
        return numerator, denominator, tf.argmax(logits, axis=-1, output_type=tf.int32)

    return train_step, eval_step


def _tensors(images: np.ndarray, masks: np.ndarray) -> tuple[tf.Tensor, tf.Tensor]:
    # uint8 NHWC -> float32 NHWC in [0, 1], the input every model of the book expects.
    return tf.convert_to_tensor(training.images_to_float(images)), tf.convert_to_tensor(masks.astype(np.int32))


def _run_batches(eval_step, images, masks, *, num_classes, batch_size, ignore_index, keep_predictions=False):
    """Evaluation pass: returns (weighted mean loss, confusion matrix, predictions uint8 (N, H, W) or None)."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    numerator = denominator = 0.0
    predictions = np.zeros(masks.shape, dtype=np.uint8) if keep_predictions else None
    for indices in training.batches(len(images), batch_size, shuffle=False):
        batch_numerator, batch_denominator, predicted = eval_step(*_tensors(images[indices], masks[indices]))
        numerator += float(batch_numerator)
        denominator += float(batch_denominator)
        predicted = predicted.numpy().astype(np.uint8)
        matrix += metrics.confusion_matrix(masks[indices], predicted, num_classes, ignore_index)
        if predictions is not None:
            predictions[indices] = predicted
    loss = numerator / denominator if denominator > 0 else float("nan")
    return loss, matrix, predictions


def _set_determinism(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    if not gpu_available():
        # Global and permanent for the process (TensorFlow has no switch back); cheap on the CPU.
        tf.config.experimental.enable_op_determinism()


def _save_checkpoint(path: Path, model: keras.Model, optimizer, history: dict, settings: dict) -> None:
    arrays = {f"model_{i}": np.asarray(v.numpy()) for i, v in enumerate(model.variables)}
    arrays.update({f"optimizer_{i}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)})
    meta = {"format": 1, "epochs_done": training.epochs_done(history), "history": history, "settings": settings,
            "num_model_variables": len(model.variables), "num_optimizer_variables": len(optimizer.variables)}
    arrays["meta"] = np.array(json.dumps(training.json_safe(meta)))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    # One file replaced with os.replace: a killed run leaves the previous checkpoint intact.
    training.atomic_write_bytes(path, buffer.getvalue())


_RETRAIN_HINT = "delete it and train again (python -m segdemo train ... --overwrite)"


def _read_meta(archive, path: Path) -> dict:
    try:
        meta = json.loads(str(archive["meta"]))
        for key in ("epochs_done", "history", "settings", "num_model_variables", "num_optimizer_variables"):
            meta[key]  # noqa: B018 - a missing key means another writer
    except (KeyError, ValueError, TypeError) as error:
        raise training.CheckpointError(
            f"Checkpoint {path} lacks its metadata ({error}): it was not written by segdemo.tensorflow.fit; "
            f"{_RETRAIN_HINT}."
        ) from None
    return meta


def load_checkpoint(
    path: str | os.PathLike[str],
    model: keras.Model,
    optimizer=None,
    *,
    expected_settings: Mapping[str, Any] | None = None,
) -> dict:
    """Restores a checkpoint written by ``fit`` into ``model`` (and ``optimizer`` when given, built first).

    Args:
        path: the checkpoint file, or the ``checkpoint_dir`` that holds ``checkpoint.npz``.
        model: a model of the architecture the checkpoint was written from.
        expected_settings: when given, the settings the caller trains with; any difference from the
            checkpoint's (except ``epochs``) is refused before anything is restored.

    Returns:
        ``{"epochs_done": int, "history": dict, "settings": dict}``.

    Raises:
        FileNotFoundError: when there is no checkpoint at ``path``.
        CheckpointError (a ValueError): the file is empty, truncated or not a checkpoint, holds variables of
            another architecture, or was written with other settings. The message names the file and the fix.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"No Keras checkpoint at {path}; train with checkpoint_dir= first.")
    if path.stat().st_size == 0:
        raise training.CheckpointError(f"Checkpoint {path} is empty (0 bytes): {_RETRAIN_HINT}.")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise training.CheckpointError(
            f"Checkpoint {path} cannot be read ({error or type(error).__name__}): it is truncated or not a "
            f"segdemo Keras checkpoint; {_RETRAIN_HINT}."
        ) from None
    with archive:
        if not hasattr(archive, "files"):
            raise training.CheckpointError(f"Checkpoint {path} is a single array, not a segdemo checkpoint; "
                                           f"{_RETRAIN_HINT}.")
        meta = _read_meta(archive, path)
        if expected_settings is not None:
            training.check_resume_settings(meta["settings"], expected_settings, path=path)
        if meta["num_model_variables"] != len(model.variables):
            raise training.CheckpointError(
                f"Checkpoint {path} holds {meta['num_model_variables']} model variables but the model has "
                f"{len(model.variables)}: it holds another model. Build the architecture its run.json names "
                "(model, width, num_classes), or train this one with another --name or --overwrite."
            )
        if optimizer is not None and meta["num_optimizer_variables"] != len(optimizer.variables):
            raise training.CheckpointError(
                f"Checkpoint {path} was written with another optimizer; resume with the same one, or start a "
                "new run (--overwrite, or another --name)."
            )
        try:
            values = [archive[f"model_{i}"] for i in range(len(model.variables))]
            optimizer_values = [] if optimizer is None else [
                archive[f"optimizer_{i}"] for i in range(len(optimizer.variables))
            ]
        except (KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise training.CheckpointError(
                f"Checkpoint {path} cannot be read ({error or type(error).__name__}): it is truncated; "
                f"{_RETRAIN_HINT}."
            ) from None
    # Every shape is checked before any variable changes, so a refused checkpoint leaves the model as it was.
    pairs = [*zip(model.variables, values), *zip([] if optimizer is None else optimizer.variables, optimizer_values)]
    for variable, value in pairs:
        if tuple(variable.shape) != tuple(value.shape):
            raise training.CheckpointError(
                f"Checkpoint {path} holds {variable.path} of shape {tuple(value.shape)} but the model's is "
                f"{tuple(variable.shape)}: it holds another model (another width or num_classes?). Build the "
                "model its run.json names, or train this one with another --name or --overwrite."
            )
    for variable, value in pairs:
        variable.assign(value)
    history = {key: [float("nan") if v is None else v for v in values] for key, values in meta["history"].items()}
    return {"epochs_done": int(meta["epochs_done"]), "history": history, "settings": meta["settings"]}


def model_classes(model: keras.Model, images: np.ndarray) -> int:
    """The number of classes ``model`` predicts: the channels of its logits for one image.

    Args:
        images: uint8 (N, H, W, 3); only the first image is used.

    Raises:
        ValueError: logits not at the image's height and width (a half-resolution output).
    """
    logits = model(tf.convert_to_tensor(training.images_to_float(images[:1])), training=False)
    training.check_full_resolution(logits.shape[1:3], images.shape[1:3], model_name=f"model {model.name!r}")
    return int(logits.shape[-1])


def _progress_bar(total: int, description: str, enabled: bool):
    if not enabled:
        return contextlib.nullcontext(None)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="batch", leave=True)


def fit(
    model: keras.Model,
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
    precision: str | None = None,
) -> dict[str, list[float]]:
    """Trains ``model`` with per-pixel cross entropy and returns the per-epoch history.

    The loss is defined like ``torch.nn.CrossEntropyLoss(weight=class_weights, ignore_index=ignore_index)``:
    ``sum(w[y] * nll) / sum(w[y])`` over pixels whose label is not ``ignore_index``. ``"adam"`` uses
    betas (0.9, 0.999) and epsilon 1e-8 (PyTorch's) as in the SegNet article; ``"sgd"`` uses momentum 0.9 and
    weight decay 5e-4 added as L2 to the gradient, as ``torch.optim.SGD`` does (SegNet paper and tutorial; use
    learning_rate 0.1 or 1e-3 there). The step is a ``tf.GradientTape`` inside ``tf.function``.

    Image sizes: the book's models take any height and width that are at least ``model.output_stride``
    (their total downsampling); odd sizes after pooling are restored exactly by the layers, so there is no
    need to crop to a multiple of 32. Smaller images are refused with a ValueError.

    Reproducibility: the shuffle of each epoch and the Keras seed are derived from ``seed`` and the epoch
    number, and TensorFlow op determinism is switched on (on the CPU, for the rest of the process), so the
    same call on a freshly built model (seed before building it) gives the same history. Mixed precision:
    a model built under the ``mixed_float16`` policy (the experiment runner sets it when a GPU is visible)
    trains with a ``LossScaleOptimizer``; that path cannot be tested on the CPU-only CI.

    Args:
        model: takes float32 (N, H, W, 3) in [0, 1], returns logits (N, H, W, K).
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
        checkpoint_dir: folder for ``checkpoint.npz``, written atomically after every epoch; ``None``: none.
        resume: continue from the checkpoint in ``checkpoint_dir`` when there is one (model and optimizer
            variables, epoch counter and history); a killed run loses at most the epoch in progress. Only
            ``epochs`` may differ from the checkpoint's settings (to extend a run); another optimizer, learning
            rate, seed, batch size or number of classes is refused with a CheckpointError.
        seed: seed of the shuffles and of Keras' random numbers (dropout), in ``0..2**32 - 1``.
        progress: progress bars; ``None`` shows them only when stderr is a terminal. Notebooks pass False.
        on_epoch: called after every epoch with ``(epoch (1-based), epochs, values of that epoch)``, e.g. to
            log a line per epoch (the runner does when stderr is not a terminal).
        augment: transforms of image and mask applied to every training batch, names from
            ``segdemo.augmentation.AUGMENTATIONS`` (``"flip,scale,color"``); ``None``: none. Validation is
            never augmented. Seeded from ``(seed, epoch, step)``, so resuming replays it.
        schedule: ``"constant"`` or ``"cosine"`` (decay to 0 over ``epochs``, see
            ``segdemo.training.learning_rate_at``). A cosine run cannot be extended by resuming.
        precision: ``"float32"`` or ``"bfloat16"``; it must be the model's own, since Keras fixes it when a
            model is built: build under ``dtype_policy("mixed_bfloat16")`` for bfloat16 mixed precision
            (weights and optimizer float32, loss computed in float32). ``None``: the model's.

    Returns:
        Lists with one value per epoch: ``train_loss``, ``train_global_accuracy``, ``train_mean_iou``
        (from the training forward passes), ``val_loss``, ``val_global_accuracy``, ``val_mean_iou`` and
        ``epoch_seconds``.

    Raises:
        ValueError: bad shapes or dtypes, images smaller than ``model.output_stride``, labels that are
            neither class ids nor ``ignore_index``, ``num_classes`` other than the model's output channels,
            masks with nothing to learn (all ignored, or zero weights), an unknown optimizer, a bad seed, or
            ``resume`` without ``checkpoint_dir``, a ``precision`` other than the model's.
        CheckpointError: resuming a checkpoint that is unreadable, from another model, or from other settings.
        TrainingDivergedError: the loss became NaN or infinite (the message names the epoch and step).
    """
    own_precision = model_precision(model)
    if precision is not None and training.check_precision(precision) != own_precision:
        raise ValueError(
            f"precision={precision!r}, but the model was built in {own_precision} (Keras fixes a model's "
            f"arithmetic when it is built). Build it inside segdemo.tensorflow.train.dtype_policy("
            f"{'mixed_bfloat16' if precision == 'bfloat16' else 'float32'!r}), or pass precision={own_precision!r}."
        )
    checked = training.check_fit_arguments(
        train_data=train_data, val_data=val_data, num_classes=num_classes, epochs=epochs, batch_size=batch_size,
        optimizer=optimizer, learning_rate=learning_rate, class_weights=class_weights, ignore_index=ignore_index,
        checkpoint_dir=checkpoint_dir, resume=resume, min_size=output_stride(model), seed=seed,
        augment=augment, schedule=schedule, precision=own_precision,
    )
    num_classes, epochs, batch_size = checked.num_classes, checked.epochs, checked.batch_size
    optimizer_name = checked.optimizer
    train_images, train_masks = checked.train_images, checked.train_masks
    val_images, val_masks = checked.val_images, checked.val_masks
    training.check_model_classes(model_classes(model, train_images), num_classes)
    weights = tf.constant(checked.class_weights)

    keras_optimizer = _make_optimizer(model, optimizer_name, learning_rate)
    weight_decay = training.SGD_WEIGHT_DECAY if optimizer_name == "sgd" else 0.0
    train_step, eval_step = _make_steps(model, keras_optimizer, weights, ignore_index, weight_decay)
    settings = {"optimizer": optimizer_name, "learning_rate": float(learning_rate), "seed": int(seed),
                "batch_size": batch_size, "num_classes": num_classes,
                **training.schedule_settings(checked.augment, checked.schedule, epochs, checked.precision)}

    history = training.new_history()
    checkpoint_path = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME
    if resume and checkpoint_path.is_file():
        restored = load_checkpoint(checkpoint_path, model, keras_optimizer, expected_settings=settings)
        training.check_resume_epochs(restored["epochs_done"], epochs, path=checkpoint_path)
        history = restored["history"]
    show = training.show_progress(progress)
    steps_per_epoch = -(-len(train_images) // batch_size)

    for epoch in range(training.epochs_done(history), epochs):
        started = time.perf_counter()
        # Everything random in this epoch comes from (seed, epoch): resuming replays it exactly.
        _set_determinism(training.epoch_seed(seed, epoch))
        keras_optimizer.learning_rate = training.learning_rate_at(learning_rate, epoch, epochs, checked.schedule)
        matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
        numerator = denominator = 0.0
        with _progress_bar(steps_per_epoch, f"epoch {epoch + 1}/{epochs}", show) as bar:
            batches = training.batches(len(train_images), batch_size, shuffle=True, seed=seed, epoch=epoch)
            for step, indices in enumerate(batches, start=1):
                batch_images, batch_masks = augmentation.augment_batch(
                    train_images[indices], train_masks[indices], checked.augment,
                    augmentation.batch_rng(seed, epoch, step), ignore_index=ignore_index)
                loss, batch_numerator, batch_denominator, predicted = train_step(*_tensors(batch_images, batch_masks))
                loss_value = float(loss)
                training.check_finite_loss(loss_value, epoch=epoch + 1, step=step)
                numerator += float(batch_numerator)
                denominator += float(batch_denominator)
                predicted = predicted.numpy().astype(np.uint8)
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
                eval_step, val_images, val_masks, num_classes=num_classes, batch_size=batch_size,
                ignore_index=ignore_index,
            )
            val_scores = metrics.scores(val_matrix)
            values.update(val_loss=val_loss, val_global_accuracy=val_scores["global_accuracy"],
                          val_mean_iou=val_scores["mean_iou"])
        values["epoch_seconds"] = time.perf_counter() - started
        training.record_epoch(history, values)
        if checkpoint_path is not None:
            _save_checkpoint(checkpoint_path, model, keras_optimizer, history, settings)
        if on_epoch is not None:
            on_epoch(epoch + 1, epochs, values)
    return history


def evaluate(
    model: keras.Model,
    data: Data,
    *,
    num_classes: int,
    batch_size: int = 8,
    ignore_index: int = IGNORE_INDEX,
) -> dict[str, Any]:
    """Scores ``model`` on ``data``.

    Args:
        model: takes float32 (N, H, W, 3) in [0, 1], returns logits (N, H, W, K).
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
    training.check_model_classes(model_classes(model, images), num_classes)
    weights = tf.ones([num_classes], tf.float32)
    _, eval_step = _make_steps(model, None, weights, ignore_index, 0.0)
    loss, matrix, predictions = _run_batches(
        eval_step, images, masks, num_classes=num_classes, batch_size=batch_size, ignore_index=ignore_index,
        keep_predictions=True,
    )
    result = metrics.scores(matrix)
    result["confusion_matrix"] = matrix
    result["boundary_f1"] = metrics.boundary_f1(masks, predictions, num_classes, ignore_index=ignore_index)
    result["loss"] = loss
    return result


def predict(model: keras.Model, images: np.ndarray, *, batch_size: int = 8) -> np.ndarray:
    """Predicted class ids.

    Args:
        model: takes float32 (N, H, W, 3) in [0, 1], returns logits (N, H, W, K).
        images: uint8 (N, H, W, 3).
        batch_size: images per forward pass.

    Returns:
        uint8 (N, H, W): the arg-max class of every pixel.

    Raises:
        ValueError: images not uint8 (N, H, W, 3), or smaller than ``model.output_stride``.
    """
    batch_size = training.check_positive(batch_size, "batch_size")
    training.check_images(images, min_size=output_stride(model), name="images")

    @tf.function(input_signature=[_IMAGE_SPEC], reduce_retracing=True)
    def predict_step(inputs):
        return tf.argmax(model(inputs, training=False), axis=-1, output_type=tf.int32)

    predictions = np.zeros(images.shape[:3], dtype=np.uint8)
    for indices in training.batches(len(images), batch_size, shuffle=False):
        predictions[indices] = predict_step(tf.convert_to_tensor(training.images_to_float(images[indices]))).numpy()
    return predictions
