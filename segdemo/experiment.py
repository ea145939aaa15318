"""The experiment runner behind ``python -m segdemo``: load data, build, train, evaluate, write results.

``train(config)`` loads the profile's data with ``segdemo.data.load_dataset``, builds the model with
``segdemo.<framework>.models.build_model``, trains it with ``segdemo.<framework>.fit`` (checkpoints in
``<checkpoint_dir>/<data>/<model>-<framework>-<profile>/``), evaluates it on val (and test when the dataset
has it) and writes ``<output_dir>/<data>/<model>-<framework>-<profile>.json`` plus the curves as ``.png``.
``evaluate_checkpoint`` scores a saved checkpoint on any split. ``segdemo/__main__.py`` only parses arguments.

Class weights: ``"median-frequency"`` (median frequency balancing of the training masks, as in the SegNet paper
and tutorial) is the default for ``segnet_basic`` and ``segnet``; the other models (the articles' encoder-decoder,
ResNet50-SegNet and the FCNs) default to ``"none"``, as their sources train them.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import statistics
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from segdemo import profiles, results, training
from segdemo.files import atomic_path

FRAMEWORKS = ("pytorch", "tensorflow")
"""Values of ``--framework``."""

CLASS_WEIGHTINGS = ("none", "median-frequency")
"""Values of ``--class-weights``."""

MEDIAN_FREQUENCY_MODELS = ("segnet_basic", "segnet")
"""Models trained with median-frequency class weights by default (the SegNet paper's setting)."""

RUN_FILE = "run.json"
"""What a checkpoint folder records about its run, so ``evaluate_checkpoint`` can rebuild the model."""


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
            ``segnet_small``, ``fcn32s``, ``fcn16s``, ``fcn8s``).
        seed: seeds the model's initial weights, the shuffles and dropout.
        output_dir: folder of result files.
        checkpoint_dir: root folder of checkpoints (git-ignored ``runs/``).
        resume: continue from the run's checkpoint when there is one.
        progress: progress bars (``None``: when stderr is a terminal).
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
    seed: int = 0
    output_dir: str = "results"
    checkpoint_dir: str = "runs"
    resume: bool = False
    progress: bool | None = None


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


def checkpoint_folder(checkpoint_dir: str | os.PathLike[str], data: str, model: str, framework: str, profile: str) -> Path:
    """``<checkpoint_dir>/<data>/<model>-<framework>-<profile>``."""
    return Path(checkpoint_dir) / data / f"{model}-{framework}-{profile}"


def _seed_framework(framework: str, seed: int) -> None:
    if framework == "pytorch":
        import torch

        torch.manual_seed(seed)
    else:
        import keras

        keras.utils.set_random_seed(seed)


def build_model(framework: str, model: str, num_classes: int, *, width: int | None = None, seed: int = 0) -> Any:
    """Seeds the framework, then builds ``model`` with ``segdemo.<framework>.build_model``.

    On a GPU, Keras models are built under the ``mixed_float16`` policy so ``fit`` trains them in mixed
    precision (PyTorch uses ``torch.autocast`` inside ``fit`` instead).
    """
    package = framework_package(framework)
    if framework == "tensorflow":
        import keras

        from segdemo.tensorflow import train as tensorflow_train

        if tensorflow_train.gpu_available():
            keras.mixed_precision.set_global_policy("mixed_float16")
    _seed_framework(framework, seed)
    kwargs = {} if width is None else {"width": width}
    return package.build_model(model, num_classes, **kwargs)


def _load(data: str, split: str, size: tuple[int, int], max_images: int | None, data_dir: str | None):
    from segdemo.data import load_dataset

    return load_dataset(data, split, size=size, max_images=max_images, data_dir=data_dir)


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


def save_history_figure(history: dict[str, list[float]], path: str | os.PathLike[str]) -> Path | None:
    """The training curves of ``history`` (every key but ``epoch_seconds``) as a PNG at ``path``."""
    try:
        from segdemo.plotting import plot_history
    except ImportError:  # plotting is optional for the runner
        return None

    curves = {key: values for key, values in history.items() if key != "epoch_seconds" and values}
    return save_figure(plot_history(curves), path)


def train(config: TrainingConfig) -> dict[str, Any]:
    """Runs one experiment and writes its result file and figure.

    Returns:
        The result record as written (see ``segdemo.results``), plus ``"result_path"``.

    Raises:
        ValueError: unknown framework, model, profile, dataset or class weighting.
        FileNotFoundError: the dataset is not available (the message says how to get it).
        TrainingDivergedError: the loss became NaN or infinite.
    """
    started = time.perf_counter()
    profile = profiles.get_profile(config.profile)
    data = config.data or profile.dataset
    size = tuple(config.image_size or profile.image_size)
    epochs = config.epochs or profile.epochs
    batch_size = config.batch_size or profile.batch_size
    max_train = config.max_train_images if config.max_train_images is not None else profile.max_train_images
    max_val = config.max_val_images if config.max_val_images is not None else profile.max_val_images
    weighting = config.class_weights or default_class_weighting(config.model)
    if weighting not in CLASS_WEIGHTINGS:
        raise ValueError(f"Unknown class weighting {weighting!r}; choose one of: {', '.join(CLASS_WEIGHTINGS)}.")
    package = framework_package(config.framework)

    from segdemo.data import dataset_classes

    class_names, _ = dataset_classes(data)
    num_classes = len(class_names)
    train_data = _load(data, "train", size, max_train, config.data_dir)
    val_data = _load(data, "val", size, max_val, config.data_dir)
    class_weights = _class_weights(weighting, train_data[1], num_classes)

    model = build_model(config.framework, config.model, num_classes, width=config.width, seed=config.seed)
    folder = checkpoint_folder(config.checkpoint_dir, data, config.model, config.framework, profile.name)
    run_info = {"model": config.model, "framework": config.framework, "data": data, "profile": profile.name,
                "num_classes": num_classes, "image_size": list(size), "width": config.width, "seed": config.seed,
                "batch_size": batch_size}
    training.atomic_write_json(folder / RUN_FILE, run_info)
    history = package.fit(
        model, train_data, val_data, num_classes=num_classes, epochs=epochs, batch_size=batch_size,
        optimizer=config.optimizer, learning_rate=config.learning_rate, class_weights=class_weights,
        checkpoint_dir=folder, resume=config.resume, seed=config.seed, progress=config.progress,
    )

    splits = {"val": results.summarise_scores(package.evaluate(model, val_data, num_classes=num_classes,
                                                                batch_size=batch_size))}
    try:
        test_data = _load(data, "test", size, max_val, config.data_dir)
    except (FileNotFoundError, ValueError) as error:
        print(f"No test split evaluated for {data}: {error}")
    else:
        splits["test"] = results.summarise_scores(
            package.evaluate(model, test_data, num_classes=num_classes, batch_size=batch_size)
        )

    wall_seconds = time.perf_counter() - started
    record = {
        "model": config.model,
        "framework": config.framework,
        "data": data,
        "profile": profile.name,
        "num_classes": num_classes,
        "class_names": list(class_names),
        "splits": splits,
        "history": history,
        "class_weighting": weighting,
        "class_weights": None if class_weights is None else [round(float(w), 6) for w in class_weights],
        "provenance": {
            **results.provenance(config.framework),
            "profile": profile.name,
            "image_size": list(size),
            "epochs": epochs,
            "batch_size": batch_size,
            "max_train_images": max_train,
            "max_val_images": max_val,
            "num_train_images": int(len(train_data[0])),
            "num_val_images": int(len(val_data[0])),
            "optimizer": config.optimizer,
            "learning_rate": config.learning_rate,
            "width": config.width,
            "seed": config.seed,
            "resumed": bool(config.resume),
            "wall_seconds": round(wall_seconds, 3),
            "seconds_per_epoch": round(statistics.median(history["epoch_seconds"]), 3),
        },
    }
    path = results.write_result(
        results.result_path(config.output_dir, data, config.model, config.framework, profile.name), record
    )
    save_history_figure(history, path.with_suffix(".png"))
    return {**record, "result_path": str(path)}


def evaluate_checkpoint(
    checkpoint: str | os.PathLike[str],
    *,
    data: str | None = None,
    split: str = "test",
    data_dir: str | None = None,
    batch_size: int | None = None,
    max_images: int | None = None,
) -> dict[str, Any]:
    """Scores a checkpoint written by ``train`` on one split.

    Args:
        checkpoint: the checkpoint folder (``runs/<data>/<model>-<framework>-<profile>``) or a file in it.
        data: dataset to evaluate on; ``None``: the one the model was trained on.
        split: ``"train"``, ``"val"`` or ``"test"``.
        data_dir: where the dataset lives.
        batch_size: images per forward pass (``None``: the training batch size).
        max_images: score only the first ``max_images`` images (``None``: the whole split).

    Returns:
        The run description (model, framework, ...) plus ``split`` and ``scores`` (headline scores and
        per-class IoU).

    Raises:
        FileNotFoundError: no checkpoint or no ``run.json`` next to it, or the dataset is missing.
    """
    folder = Path(checkpoint)
    if folder.is_file():
        folder = folder.parent
    run_file = folder / RUN_FILE
    if not run_file.is_file():
        raise FileNotFoundError(
            f"No {RUN_FILE} in {folder}: pass the folder `python -m segdemo train` wrote "
            "(runs/<data>/<model>-<framework>-<profile>)."
        )
    run = json.loads(run_file.read_text(encoding="utf-8"))
    framework = run["framework"]
    package = framework_package(framework)
    model = build_model(framework, run["model"], run["num_classes"], width=run.get("width"), seed=run.get("seed", 0))
    if framework == "pytorch":
        from segdemo.torch.train import load_checkpoint
    else:
        from segdemo.tensorflow.train import load_checkpoint
    load_checkpoint(folder, model)
    dataset = data or run["data"]
    images, masks = _load(dataset, split, tuple(run["image_size"]), max_images, data_dir)
    scores = package.evaluate(model, (images, masks), num_classes=run["num_classes"],
                              batch_size=batch_size or run.get("batch_size", 8))
    return {**run, "data": dataset, "split": split, "num_images": int(len(images)),
            "scores": results.summarise_scores(scores)}
