"""The experiment runner behind ``python -m segdemo``: load data, build, train, evaluate, write results.

``train(config)`` loads the profile's data with ``segdemo.data.load_dataset``, builds the model with
``segdemo.<framework>.models.build_model``, trains it with ``segdemo.<framework>.fit`` (checkpoints in
``<checkpoint_dir>/<data>/<name>/``), evaluates it on val (and test when the dataset has it) and writes
``<output_dir>/<data>/<name>.json`` plus the curves as ``.png``. ``evaluate_checkpoint`` scores a saved
checkpoint on any split. ``segdemo/__main__.py`` only parses arguments.

Run names: ``<model>-<framework>-<profile>`` for a run of the profile as it is (the committed results), with
the overridden profile settings appended otherwise (``segnet_small-pytorch-quick-epochs1-train8``), or
``config.name``. A debug run therefore never lands on a committed result's file.

Nothing is written before everything is checked: the arguments, the data, the output folders, and for an
existing run folder whether this run may continue it (``resume``: only ``epochs`` may change) or replace it
(``overwrite``). A refused run leaves the run folder as it was, still evaluable.

Class weights: ``"median-frequency"`` (median frequency balancing of the training masks, as in the SegNet paper
and tutorial) is the default for ``segnet_basic`` and ``segnet``; the other models (the articles' encoder-decoder,
ResNet50-SegNet and the FCNs) default to ``"none"``, as their sources train them.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from segdemo import architecture, profiles, results, training, validation
from segdemo.files import atomic_path

FRAMEWORKS = ("pytorch", "tensorflow")
"""Values of ``--framework``."""

CLASS_WEIGHTINGS = ("none", "median-frequency")
"""Values of ``--class-weights``."""

MODEL_NAMES = ("encoder_decoder", "segnet_small", "segnet_basic", "segnet", "resnet50_segnet", "fcn32s", "fcn16s",
               "fcn8s", "unet")
"""Values of ``--model``: the keys of ``segdemo.<framework>.MODEL_BUILDERS`` (a test keeps them equal)."""

WIDTH_MODELS = ("encoder_decoder", "segnet_small", "fcn32s", "fcn16s", "fcn8s", "unet")
"""Models whose builder takes ``width``."""

INDICES_MODELS = ("resnet50_segnet",)
"""Models whose builder takes ``indices`` (pooling indices on or off; the article's SegNets always have them)."""

DROPOUT_MODELS = tuple(architecture.ARTICLE_DROPOUT)
"""Models whose builder takes ``dropout`` (the rate before the decoder): the SegNet article's two models."""

OPTIMIZERS = training.OPTIMIZERS
"""Values of ``--optimizer``."""

MEDIAN_FREQUENCY_MODELS = ("segnet_basic", "segnet")
"""Models trained with median-frequency class weights by default (the SegNet paper's setting)."""

PREDICTION_EXAMPLES = (10, 120, 200)
"""Images of the scored split drawn in every prediction figure; on CamVid's test split one from drive 0001TP
and two from Seq05VD. Indices past the split's end are skipped."""

RUN_FILE = "run.json"
"""What a checkpoint folder records about its run, so ``evaluate_checkpoint`` can rebuild the model."""

CHECKPOINT_FILES = {"pytorch": "checkpoint.pt", "tensorflow": "checkpoint.npz"}
"""The checkpoint file ``fit`` writes in a run folder, per framework (``CHECKPOINT_NAME`` of each)."""

RESUME_KEYS = ("model", "framework", "data", "profile", "num_classes", "image_size", "width", "seed", "batch_size",
               "optimizer", "learning_rate", "class_weighting", "max_train_images", "max_val_images", "augment",
               "schedule", "precision", "indices", "dropout")
"""What ``run.json`` records that a resumed run must keep (only ``epochs`` may change)."""

_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """One training run. ``None`` fields take the profile's value (or the model's default).

    Attributes:
        model: a name of ``MODEL_BUILDERS`` (e.g. ``"segnet_small"``).
        framework: ``"pytorch"`` or ``"tensorflow"``.
        profile: ``"quick"``, ``"standard"``, ``"full"`` or ``"auto"``.
        data: dataset name for ``segdemo.data.load_dataset``; ``None``: the profile's dataset.
        data_dir: where the dataset lives (``None``: ``SEGDEMO_CAMVID_DIR`` or the cache).
        epochs, batch_size, image_size, max_train_images, max_val_images: override the profile.
        optimizer: ``"adam"`` or ``"sgd"``.
        learning_rate: step size.
        class_weights: ``"none"`` or ``"median-frequency"``; ``None``: the model's default.
        width: channels of the first block, for models that take one (``encoder_decoder``,
            ``segnet_small``, ``fcn32s``, ``fcn16s``, ``fcn8s``, ``unet``).
        indices: give the decoder the encoder's pooling indices, for models that take the option
            (``resnet50_segnet``); the run's name then ends in ``-indices``.
        dropout: rate of the dropout before the decoder, for ``encoder_decoder`` and ``segnet_small``
            (``None``: the article's, 0 and 0.5); another rate than the article's ends the run's name in
            ``-dropout<rate>`` (``-dropout0.5``).
        seed: seeds the model's initial weights, the shuffles and dropout.
        output_dir: folder of result files.
        checkpoint_dir: root folder of checkpoints (git-ignored ``runs/``).
        resume: continue from the run's checkpoint when there is one (only ``epochs`` may change).
        progress: progress bars (``None``: bars when stderr is a terminal, else one line per epoch on stderr;
            ``False``: neither).
        name: the run's name (result file and checkpoint folder); ``None``: see :func:`run_name`.
        overwrite: replace an existing run folder and result file of the same name.
        cache_dir: where resized arrays are cached (``None``: ``$SEGDEMO_CACHE_DIR`` or ``~/.cache/segdemo``).
        augment: augmentation of the training batches (``"none"``, or names of
            ``segdemo.augmentation.AUGMENTATIONS`` joined by commas); ``None``: the profile's.
        schedule: learning-rate schedule, ``"constant"`` or ``"cosine"``; ``None``: the profile's.
        precision: ``"float32"`` or ``"bfloat16"`` (mixed precision on a CPU); ``None``: the profile's.
    """

    model: str
    framework: str
    profile: str = "quick"
    data: str | None = None
    data_dir: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    image_size: tuple[int, int] | None = None
    max_train_images: int | None = None
    max_val_images: int | None = None
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    class_weights: str | None = None
    width: int | None = None
    indices: bool = False
    dropout: float | None = None
    seed: int = 0
    output_dir: str = "results"
    checkpoint_dir: str = "runs"
    resume: bool = False
    progress: bool | None = None
    name: str | None = None
    overwrite: bool = False
    cache_dir: str | None = None
    augment: str | None = None
    schedule: str | None = None
    precision: str | None = None


def default_class_weighting(model: str) -> str:
    """``"median-frequency"`` for the SegNet paper's models, ``"none"`` for the others."""
    return "median-frequency" if model in MEDIAN_FREQUENCY_MODELS else "none"


def framework_package(framework: str) -> ModuleType:
    """``segdemo.torch`` for ``"pytorch"``, ``segdemo.tensorflow`` for ``"tensorflow"``.

    Raises:
        ValueError: for another name.
    """
    if framework not in FRAMEWORKS:
        raise ValueError(f"Unknown framework {framework!r}; choose one of: {', '.join(FRAMEWORKS)}.")
    return importlib.import_module("segdemo.torch" if framework == "pytorch" else "segdemo.tensorflow")


def checkpoint_folder(
    checkpoint_dir: str | os.PathLike[str], data: str, model: str, framework: str, profile: str, *,
    name: str | None = None,
) -> Path:
    """``<checkpoint_dir>/<data>/<name>``; ``name`` defaults to ``<model>-<framework>-<profile>``."""
    return Path(checkpoint_dir) / data / (name or f"{model}-{framework}-{profile}")


def run_name(config: TrainingConfig, profile: profiles.Profile) -> str:
    """The name of a run's result file and checkpoint folder.

    ``config.name`` when given; else ``<model>-<framework>-<profile>``, followed by every profile setting the
    config overrides with another value (``-epochs1``, ``-batch4``, ``-32x32``, ``-train8``, ``-val4``,
    ``-aug_flip_scale``, ``-cosine``, ``-bfloat16``, ``-indices``, and ``-dropout0.5`` for a dropout rate other
    than the model's default).

    Raises:
        ValueError: a ``name`` that is not a plain file name (letters, digits, ``_``, ``.``, ``-``).
    """
    if config.name is not None:
        if not config.name or config.name.startswith(".") or not set(config.name) <= _NAME_CHARACTERS:
            raise ValueError(
                f"--name {config.name!r} is not a plain file name: use letters, digits, '_', '.' and '-' "
                "(not starting with '.')."
            )
        return config.name
    parts = [f"{config.model}-{config.framework}-{profile.name}"]
    overrides = (("epochs", "epochs", "epochs{}"), ("batch_size", "batch_size", "batch{}"),
                 ("max_train_images", "max_train_images", "train{}"), ("max_val_images", "max_val_images", "val{}"))
    size = None if config.image_size is None else tuple(config.image_size)
    if size is not None and size != tuple(profile.image_size):
        parts.append(f"{size[0]}x{size[1]}")
    for field, profile_field, pattern in overrides:
        value = getattr(config, field)
        if value is not None and value != getattr(profile, profile_field):
            parts.append(pattern.format(value))
    augment = recipe_augment(config, profile)
    if augment != recipe_augment(dataclasses.replace(config, augment=None), profile):
        parts.append(f"aug_{augment.replace('+', '_')}")
    schedule = recipe_schedule(config, profile)
    if schedule != profile.schedule:
        parts.append(schedule)
    precision = recipe_precision(config, profile)
    if precision != profile.precision:
        parts.append(precision)
    if config.indices:
        parts.append("indices")
    dropout = recipe_dropout(config)
    if dropout is not None and dropout != architecture.ARTICLE_DROPOUT[config.model]:
        parts.append(f"dropout{dropout:g}")
    return "-".join(parts)


def recipe_augment(config: TrainingConfig, profile: profiles.Profile) -> str:
    """The run's augmentation as a canonical name (``"none"``, ``"flip+scale+color"``)."""
    from segdemo.augmentation import describe_augment, parse_augment

    return describe_augment(parse_augment(config.augment if config.augment is not None else profile.augment))


def recipe_schedule(config: TrainingConfig, profile: profiles.Profile) -> str:
    """The run's learning-rate schedule: the config's, else the profile's."""
    return training.check_schedule(config.schedule if config.schedule is not None else profile.schedule)


def recipe_precision(config: TrainingConfig, profile: profiles.Profile) -> str:
    """The run's training precision: the config's, else the profile's."""
    return training.check_precision(config.precision if config.precision is not None else profile.precision)


def recipe_dropout(config: TrainingConfig) -> float | None:
    """The run's dropout rate before the decoder: the config's, else the model's default (the article's);
    ``None`` for a model without the option."""
    if config.model not in DROPOUT_MODELS:
        return None
    return architecture.article_dropout(config.model, config.dropout)


def check_config(config: TrainingConfig) -> None:
    """Checks every field of ``config`` (before any data is loaded or file written).

    Raises:
        ValueError: naming the field (as its command-line flag), the value and what is accepted.
    """
    validation.check_choice(config.framework, "framework", FRAMEWORKS)
    validation.check_choice(config.model, "model", MODEL_NAMES)
    for field in ("epochs", "batch_size", "max_train_images", "max_val_images", "width"):
        value = getattr(config, field)
        if value is not None:
            validation.check_integer(value, f"--{field.replace('_', '-')}", minimum=1)
    if config.width is not None and config.model not in WIDTH_MODELS:
        raise ValueError(
            f"--width is not an option of {config.model}; only {', '.join(WIDTH_MODELS)} take it. Leave it out."
        )
    if not isinstance(config.indices, bool):
        raise ValueError(f"indices must be True or False, got {config.indices!r}.")
    if config.indices and config.model not in INDICES_MODELS:
        raise ValueError(
            f"--indices is not an option of {config.model}; only {', '.join(INDICES_MODELS)} takes it (the "
            "article's SegNets always unpool with indices, encoder_decoder never does). Leave it out."
        )
    if config.dropout is not None:
        architecture.check_dropout(config.dropout, "--dropout")
        if config.model not in DROPOUT_MODELS:
            raise ValueError(
                f"--dropout is not an option of {config.model}; only {', '.join(DROPOUT_MODELS)} take it (the "
                "SegNet article's two models). Leave it out."
            )
    if config.image_size is not None:
        size = tuple(config.image_size)
        if len(size) != 2:
            raise ValueError(f"--image-size must be HEIGHTxWIDTH, got {config.image_size!r}.")
        for side in size:
            validation.check_integer(side, "--image-size", minimum=1)
    validation.check_choice(config.optimizer, "optimizer", OPTIMIZERS)
    validation.check_positive_number(config.learning_rate, "--learning-rate")
    if config.augment is not None:
        from segdemo.augmentation import parse_augment

        parse_augment(config.augment)
    if config.schedule is not None:
        training.check_schedule(config.schedule)
    if config.precision is not None:
        training.check_precision(config.precision)
    if config.class_weights is not None:
        validation.check_choice(config.class_weights, "class weighting", CLASS_WEIGHTINGS)
    validation.check_seed(config.seed, "--seed")
    if config.resume and config.overwrite:
        raise ValueError("--resume continues a run and --overwrite replaces it; pass one of them.")


def read_run_file(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads ``<folder>/run.json``.

    Raises:
        FileNotFoundError: there is none (the message says which folder to pass).
        ValueError: it is not valid JSON or lacks what ``train`` writes (naming the file and the fix).
    """
    run_file = Path(folder) / RUN_FILE
    if not run_file.is_file():
        raise FileNotFoundError(
            f"No {RUN_FILE} in {folder}: pass the folder `python -m segdemo train` wrote "
            "(runs/<data>/<model>-<framework>-<profile>)."
        )
    try:
        run = json.loads(run_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{run_file} is not valid JSON ({error}): the run folder is damaged. Train again with --overwrite."
        ) from None
    missing = [key for key in ("model", "framework", "data", "num_classes", "image_size")
               if not isinstance(run, dict) or key not in run]
    if missing:
        raise ValueError(f"{run_file} lacks {missing}: it was not written by `python -m segdemo train`.")
    return run


def _seed_framework(framework: str, seed: int) -> None:
    if framework == "pytorch":
        import torch

        torch.manual_seed(seed)
    else:
        import keras

        keras.utils.set_random_seed(seed)


def build_model(
    framework: str, model: str, num_classes: int, *, width: int | None = None, seed: int = 0,
    precision: str = "float32", indices: bool = False, dropout: float | None = None,
) -> Any:
    """Seeds the framework, then builds ``model`` with ``segdemo.<framework>.build_model``.

    Keras fixes a model's arithmetic when it is built: on a GPU its models are built under the
    ``mixed_float16`` policy, on a CPU with ``precision="bfloat16"`` under ``mixed_bfloat16``, so that ``fit``
    trains them in mixed precision. PyTorch models are built in float32 and ``fit`` uses ``torch.autocast``.
    """
    package = framework_package(framework)
    precision = training.check_precision(precision)
    _seed_framework(framework, seed)
    kwargs = {} if width is None else {"width": width}
    if indices:
        kwargs["indices"] = True
    if dropout is not None:
        kwargs["dropout"] = dropout
    if framework != "tensorflow":
        return package.build_model(model, num_classes, **kwargs)
    import keras

    from segdemo.tensorflow import train as tensorflow_train

    if tensorflow_train.gpu_available():
        keras.mixed_precision.set_global_policy("mixed_float16")
        return package.build_model(model, num_classes, **kwargs)
    with tensorflow_train.dtype_policy("mixed_bfloat16" if precision == "bfloat16" else "float32"):
        return package.build_model(model, num_classes, **kwargs)


def _load(data: str, split: str, size: tuple[int, int], max_images: int | None, data_dir: str | None,
          cache_dir: str | None = None):
    from segdemo.data import load_dataset

    return load_dataset(data, split, size=size, max_images=max_images, data_dir=data_dir, cache_dir=cache_dir)


def _class_weights(weighting: str, masks: np.ndarray, num_classes: int) -> np.ndarray | None:
    if weighting not in CLASS_WEIGHTINGS:
        raise ValueError(f"Unknown class weighting {weighting!r}; choose one of: {', '.join(CLASS_WEIGHTINGS)}.")
    if weighting == "none":
        return None
    from segdemo.data import median_frequency_weights

    return np.asarray(median_frequency_weights(masks, num_classes, ignore_index=training.IGNORE_INDEX))


def save_figure(figure: Any, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Writes a matplotlib figure as PNG atomically, then closes it (runner and sweep alike)."""
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=dpi, format="png")
    finally:
        plt.close(figure)
    return Path(path)


def save_prediction_figure(
    images: np.ndarray,
    masks: np.ndarray,
    predictions: np.ndarray,
    path: str | os.PathLike[str],
    *,
    data: str,
    split: str,
    title: str,
) -> Path | None:
    """Image | ground truth | prediction for :data:`PREDICTION_EXAMPLES` of a split, as a PNG at ``path``.

    Args:
        images: uint8 (N, H, W, 3), the whole split (or at least its first images).
        masks: uint8 (N, H, W), its ground truth.
        predictions: uint8 (N, H, W) for the same images.
        data: dataset name, for the colours and the citation in the caption.
        split: the split's name, written in the caption.
        title: what made the predictions (the run's name), written first in the caption.

    Returns:
        ``path``, or ``None`` when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        from segdemo.plotting import prediction_figure
    except ImportError:  # plotting is optional for the runner
        return None
    from segdemo.data import DATASET_CITATIONS, dataset_classes

    examples = [index for index in PREDICTION_EXAMPLES if index < len(images)] or [0]
    caption = f"{title}: {data} {split} split, images {', '.join(map(str, examples))}"
    if data in DATASET_CITATIONS:
        caption += f" ({DATASET_CITATIONS[data]})"
    figure = prediction_figure(images[examples], masks[examples], predictions[examples],
                               colours=dataset_classes(data)[1], caption=caption)
    return save_figure(figure, path, dpi=90)


def save_history_figure(history: dict[str, list[float]], path: str | os.PathLike[str]) -> Path | None:
    """The training curves of ``history`` (every key but ``epoch_seconds``) as a PNG at ``path``."""
    try:
        from segdemo.plotting import plot_history
    except ImportError:  # plotting is optional for the runner
        return None

    curves = {key: values for key, values in history.items() if key != "epoch_seconds" and values}
    return save_figure(plot_history(curves), path)


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """What ``train`` will do, decided and checked before anything is written (see :func:`plan_run`)."""

    name: str
    profile: profiles.Profile
    data: str
    size: tuple[int, int]
    epochs: int
    batch_size: int
    max_train: int | None
    max_val: int | None
    weighting: str
    class_names: tuple[str, ...]
    folder: Path
    result_path: Path
    run_info: dict[str, Any]
    resuming: bool


def _has_checkpoint(folder: Path) -> bool:
    return any((folder / name).is_file() for name in CHECKPOINT_FILES.values())


def _check_resume(folder: Path, run_info: dict[str, Any]) -> None:
    if not (folder / RUN_FILE).is_file():
        return  # a checkpoint without run.json (written by hand): fit still compares what the checkpoint records
    stored = read_run_file(folder)
    if stored.get("schedule", "constant") != "constant" and stored.get("epochs") != run_info["epochs"]:
        raise ValueError(training.cannot_extend_message(folder, stored["schedule"], stored.get("epochs"),
                                                        run_info["epochs"]))
    for key in RESUME_KEYS:
        if key not in stored:
            continue  # run.json of an older version: fit still compares what the checkpoint records
        old, new = stored[key], run_info[key]
        same = math.isclose(old, new, rel_tol=1e-9) if isinstance(new, float) and old is not None else old == new
        if not same:
            flag = {"image_size": "--image-size", "class_weighting": "--class-weights"}.get(
                key, f"--{key.replace('_', '-')}")
            raise ValueError(
                f"Cannot resume {folder}: it was trained with {key}={old!r} and this run asks for {key}={new!r} "
                f"({flag}). A resumed run may only change --epochs. Resume with the stored value, or start a new "
                "run with --overwrite (replaces it) or --name NAME (keeps it)."
            )


def plan_run(config: TrainingConfig) -> RunPlan:
    """Checks a training run completely, without writing anything.

    Checks the config (:func:`check_config`), the output and checkpoint folders (they exist or can be created,
    and are writable) and collisions: an existing run folder is continued only with ``resume`` and the same
    settings (only ``epochs`` may change), replaced only with ``overwrite``; an existing result file is
    replaced only with ``overwrite`` or when resuming its own run.

    Raises:
        ValueError: a bad argument, a resume that would change a setting, or an existing run or result that
            this run would overwrite without ``overwrite``.
            A damaged ``run.json`` of the run to resume is a ValueError naming the file.
        NotADirectoryError, PermissionError: an output folder lies under a regular file or is read-only.
    """
    check_config(config)
    profile = profiles.get_profile(config.profile)
    data = config.data or profile.dataset
    from segdemo.data import dataset_classes

    class_names, _ = dataset_classes(data)
    name = run_name(config, profile)
    size = tuple(int(side) for side in (config.image_size or profile.image_size))
    epochs = config.epochs or profile.epochs
    batch_size = config.batch_size or profile.batch_size
    max_train = config.max_train_images if config.max_train_images is not None else profile.max_train_images
    max_val = config.max_val_images if config.max_val_images is not None else profile.max_val_images
    weighting = config.class_weights or default_class_weighting(config.model)
    run_info = {"name": name, "model": config.model, "framework": config.framework, "data": data,
                "profile": profile.name, "num_classes": len(class_names), "image_size": list(size),
                "width": config.width, "indices": config.indices, "dropout": recipe_dropout(config),
                "seed": config.seed, "batch_size": batch_size,
                "epochs": epochs,
                "optimizer": config.optimizer, "learning_rate": float(config.learning_rate),
                "class_weighting": weighting, "max_train_images": max_train, "max_val_images": max_val,
                "augment": recipe_augment(config, profile), "schedule": recipe_schedule(config, profile),
                "precision": recipe_precision(config, profile)}
    plan = RunPlan(
        name=name, profile=profile, data=data, size=size, epochs=epochs, batch_size=batch_size,
        max_train=max_train, max_val=max_val, weighting=weighting, class_names=tuple(class_names),
        folder=checkpoint_folder(config.checkpoint_dir, data, config.model, config.framework, profile.name, name=name),
        result_path=results.result_path(config.output_dir, data, config.model, config.framework, profile.name,
                                        name=name),
        run_info=run_info, resuming=False,
    )
    validation.check_writable_folder(plan.result_path.parent, "--output-dir")
    validation.check_writable_folder(plan.folder, "--checkpoint-dir")

    has_run = _has_checkpoint(plan.folder)
    if has_run and config.resume:
        _check_resume(plan.folder, run_info)
    elif has_run and not config.overwrite:
        raise ValueError(
            f"{plan.folder} already holds a trained run. Pass --resume to continue it, --overwrite to replace it, "
            "or --name NAME to train a new run next to it."
        )
    resuming = has_run and config.resume
    if plan.result_path.exists() and not config.overwrite and not resuming:
        raise ValueError(
            f"Result file {plan.result_path} already exists (another run's result). Pass --overwrite to replace "
            "it, or --name NAME (or --output-dir) to write this run elsewhere."
        )
    return dataclasses.replace(plan, resuming=resuming)


def _epoch_printer(progress: bool | None):
    """One line per epoch on stderr when no bars are drawn (logs, ``nohup``); ``None`` when not wanted."""
    if progress is False or training.show_progress(progress):
        return None

    def print_epoch(epoch: int, epochs: int, values: dict[str, float]) -> None:
        print(training.epoch_line(epoch, epochs, values), file=sys.stderr, flush=True)

    return print_epoch


def train(config: TrainingConfig) -> dict[str, Any]:
    """Runs one experiment and writes its result file and figure.

    Everything is checked first (:func:`plan_run`, then the data): a refused run writes nothing.

    Returns:
        The result record as written (see ``segdemo.results``), plus ``"result_path"``.

    Raises:
        ValueError: bad arguments; unknown framework, model, profile, dataset or class weighting; a resume
            that would change a setting other than epochs; an existing run or result without ``overwrite``;
            training data with nothing to learn.
        FileNotFoundError: the dataset is not available (the message says how to get it).
        NotADirectoryError, PermissionError: an output folder cannot be written.
        CheckpointError: the checkpoint to resume is unreadable or was written with other settings.
        TrainingDivergedError: the loss became NaN or infinite.
    """
    started = time.perf_counter()
    plan = plan_run(config)
    package = framework_package(config.framework)
    num_classes = len(plan.class_names)
    train_data = _load(plan.data, "train", plan.size, plan.max_train, config.data_dir, config.cache_dir)
    val_data = _load(plan.data, "val", plan.size, plan.max_val, config.data_dir, config.cache_dir)
    class_weights = _class_weights(plan.weighting, train_data[1], num_classes)
    training.check_data(*train_data, num_classes=num_classes, name="train_data")
    training.check_something_to_learn(train_data[1], training.class_weight_array(class_weights, num_classes),
                                      ignore_index=training.IGNORE_INDEX, name="train_data")

    model = build_model(config.framework, config.model, num_classes, width=config.width, seed=config.seed,
                        precision=plan.run_info["precision"], indices=config.indices,
                        dropout=plan.run_info["dropout"])
    # Checked: from here on this run owns the folder. A replaced run's files go first, so a run killed in its
    # first epoch never leaves the new run.json next to the old checkpoint.
    if config.overwrite and not plan.resuming:
        for file_name in (*CHECKPOINT_FILES.values(), RUN_FILE):
            (plan.folder / file_name).unlink(missing_ok=True)
    training.atomic_write_json(plan.folder / RUN_FILE, plan.run_info)
    history = package.fit(
        model, train_data, val_data, num_classes=num_classes, epochs=plan.epochs, batch_size=plan.batch_size,
        optimizer=config.optimizer, learning_rate=config.learning_rate, class_weights=class_weights,
        checkpoint_dir=plan.folder, resume=config.resume, seed=config.seed, progress=config.progress,
        on_epoch=_epoch_printer(config.progress), augment=plan.run_info["augment"],
        schedule=plan.run_info["schedule"], precision=plan.run_info["precision"],
    )

    # Test first, as the paper reports it; val is the model-selection split.
    splits: dict[str, Any] = {}
    figure_split = ("val", val_data)
    try:
        test_data = _load(plan.data, "test", plan.size, plan.max_val, config.data_dir, config.cache_dir)
    except (FileNotFoundError, ValueError) as error:
        print(f"No test split evaluated for {plan.data}: {error}")
    else:
        splits["test"] = results.summarise_scores(
            package.evaluate(model, test_data, num_classes=num_classes, batch_size=plan.batch_size)
        )
        figure_split = ("test", test_data)
    splits["val"] = results.summarise_scores(package.evaluate(model, val_data, num_classes=num_classes,
                                                              batch_size=plan.batch_size))
    split_name, (figure_images, figure_masks) = figure_split
    examples = [index for index in PREDICTION_EXAMPLES if index < len(figure_images)] or [0]
    figure_predictions = np.zeros(figure_masks.shape, dtype=np.uint8)
    figure_predictions[examples] = package.predict(model, figure_images[examples], batch_size=plan.batch_size)

    wall_seconds = time.perf_counter() - started
    record = {
        "model": config.model,
        "framework": config.framework,
        "data": plan.data,
        "profile": plan.profile.name,
        "name": plan.name,
        "num_classes": num_classes,
        "class_names": list(plan.class_names),
        "splits": splits,
        "history": history,
        "class_weighting": plan.weighting,
        "class_weights": None if class_weights is None else [round(float(w), 6) for w in class_weights],
        "provenance": {
            **results.provenance(config.framework),
            "profile": plan.profile.name,
            "image_size": list(plan.size),
            "epochs": plan.epochs,
            "batch_size": plan.batch_size,
            "max_train_images": plan.max_train,
            "max_val_images": plan.max_val,
            "num_train_images": int(len(train_data[0])),
            "num_val_images": int(len(val_data[0])),
            "optimizer": config.optimizer,
            "learning_rate": config.learning_rate,
            "width": config.width,
            "indices": config.indices,
            "dropout": plan.run_info["dropout"],
            "seed": config.seed,
            "augment": plan.run_info["augment"],
            "schedule": plan.run_info["schedule"],
            "precision": plan.run_info["precision"],
            # Only what a checkpoint really continued; a resume may change nothing but epochs (see plan_run).
            "resumed": plan.resuming,
            "wall_seconds": round(wall_seconds, 3),
            "seconds_per_epoch": round(statistics.median(history["epoch_seconds"]), 3),
        },
    }
    path = results.write_result(plan.result_path, record)
    save_history_figure(history, results.history_figure_path(path))
    save_prediction_figure(figure_images, figure_masks, figure_predictions, results.prediction_figure_path(path),
                           data=plan.data, split=split_name, title=plan.name)
    return {**record, "result_path": str(path)}


def evaluate_checkpoint(
    checkpoint: str | os.PathLike[str],
    *,
    data: str | None = None,
    split: str = "test",
    data_dir: str | None = None,
    batch_size: int | None = None,
    max_images: int | None = None,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    """Scores a checkpoint written by ``train`` on one split.

    Args:
        checkpoint: the checkpoint folder (``runs/<data>/<model>-<framework>-<profile>``) or a file in it.
        data: dataset to evaluate on; ``None``: the one the model was trained on.
        split: ``"train"``, ``"val"`` or ``"test"``.
        data_dir: where the dataset lives.
        batch_size: images per forward pass (``None``: the training batch size).
        max_images: score only the first ``max_images`` images (``None``: the whole split).
        cache_dir: where resized arrays are cached (``None``: the default cache).

    Returns:
        The run description (model, framework, ...) plus ``split`` and ``scores`` (headline scores,
        per-class IoU and per-class accuracy).

    Raises:
        FileNotFoundError: no checkpoint or no ``run.json`` next to it, or the dataset is missing.
        ValueError: a damaged ``run.json``, a bad split or count.
        CheckpointError: the checkpoint is unreadable or holds another model.
    """
    folder = Path(checkpoint)
    if folder.is_file():
        folder = folder.parent
    validation.check_choice(split, "split", ("train", "val", "test"))
    for value, flag in ((batch_size, "--batch-size"), (max_images, "--max-images")):
        if value is not None:
            validation.check_integer(value, flag, minimum=1)
    run = read_run_file(folder)
    framework = validation.check_choice(run["framework"], f"framework in {folder / RUN_FILE}", FRAMEWORKS)
    package = framework_package(framework)
    model = build_model(framework, run["model"], run["num_classes"], width=run.get("width"), seed=run.get("seed", 0),
                        indices=bool(run.get("indices", False)), dropout=run.get("dropout"))
    if framework == "pytorch":
        from segdemo.torch.train import load_checkpoint
    else:
        from segdemo.tensorflow.train import load_checkpoint
    load_checkpoint(folder, model)
    dataset = data or run["data"]
    images, masks = _load(dataset, split, tuple(run["image_size"]), max_images, data_dir, cache_dir)
    scores = package.evaluate(model, (images, masks), num_classes=run["num_classes"],
                              batch_size=batch_size or run.get("batch_size", 8))
    return {**run, "data": dataset, "split": split, "num_images": int(len(images)),
            "scores": results.summarise_scores(scores)}
