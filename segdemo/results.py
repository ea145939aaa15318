"""Result files: small JSON records of a training run, with provenance, and tables built from them.

The experiment runner (``python -m segdemo train``) writes ``results/<data>/<model>-<framework>-<profile>.json``;
chapters read them back with ``load_results`` and show them with ``format_table`` next to the papers' numbers.
A result file holds scores per evaluated split (headline scores, per-class IoU and per-class accuracy), the
per-epoch history, the class weights and a ``provenance`` block (git commit, library versions, device, timings,
command line). It never holds large arrays. Numpy only.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from segdemo import training
from segdemo.architecture import ARTICLE_DROPOUT

SCHEMA_VERSION = 1
"""Bumped when the layout of result files changes."""

MAX_RESULT_BYTES = 256 * 1024
"""Result files are committed: refuse anything this large (a sign that an array slipped in)."""

SUMMARY_KEYS = ("global_accuracy", "class_accuracy", "mean_iou", "boundary_f1", "per_class_iou",
                "per_class_accuracy")
"""What a result file keeps of ``evaluate``'s output for each split. Files written before per-class accuracy
was kept lack ``per_class_accuracy``; they still load (tables show ``-`` for it)."""

OPTIONAL_SUMMARY_KEYS = ("per_class_accuracy",)
"""Keys of ``SUMMARY_KEYS`` that ``summarise_scores`` keeps only when the evaluation has them."""

COMMIT_VARIABLE = "SEGDEMO_GIT_COMMIT"
"""Names the commit in provenance when the code runs from a copy of the tree (a remote machine), whose ``.git``
may be missing or stale; when set it wins over what git says."""

DIRTY_VARIABLE = "SEGDEMO_GIT_DIRTY"
"""``0`` or ``1``: whether that copy had uncommitted changes (read only with ``SEGDEMO_GIT_COMMIT``)."""

def _default_results_dir() -> Path:
    package = Path(__file__).resolve().parent
    checkout = package.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "results").is_dir():
        return checkout / "results"
    # Installed from a wheel (e.g. in Colab): the committed results travel inside the package.
    return package / "_results"


DEFAULT_RESULTS_DIR = _default_results_dir()
"""The committed results: ``results/`` in a checkout, ``segdemo/_results`` in an installed package."""


def result_path(
    output_dir: str | os.PathLike[str], data: str, model: str, framework: str, profile: str, *,
    name: str | None = None,
) -> Path:
    """``<output_dir>/<data>/<name>.json``; ``name`` defaults to ``<model>-<framework>-<profile>``."""
    return Path(output_dir) / data / f"{name or f'{model}-{framework}-{profile}'}.json"


def _result_json(result: Mapping[str, Any] | str | os.PathLike[str]) -> Path:
    path = result.get("path") if isinstance(result, Mapping) else result
    if path is None:
        raise ValueError("The record has no 'path'; pass one returned by read_result or load_results.")
    path = Path(path)
    if path.suffix != ".json":
        raise ValueError(f"{path} is not a result file (.json); pass the record or its result_path.")
    return path


def history_figure_path(result: Mapping[str, Any] | str | os.PathLike[str]) -> Path:
    """Where the runner draws a run's training curves: ``<result stem>.png`` beside the result file.

    Args:
        result: a record from ``read_result``/``load_results`` or the path of its ``.json`` file.

    Raises:
        ValueError: the record has no ``"path"`` or the path does not end in ``.json``.
    """
    return _result_json(result).with_suffix(".png")


def prediction_figure_path(result: Mapping[str, Any] | str | os.PathLike[str]) -> Path:
    """Where the runner draws a run's predictions: ``<result stem>-predictions.png`` beside the result file.

    The file may be missing for runs made before the runner drew it; check ``is_file()`` before showing it.

    Args:
        result: a record from ``read_result``/``load_results`` or the path of its ``.json`` file.

    Raises:
        ValueError: the record has no ``"path"`` or the path does not end in ``.json``.
    """
    path = _result_json(result)
    return path.with_name(f"{path.stem}-predictions.png")


def summarise_scores(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """Keeps the small part of an ``evaluate`` result: the headline scores, per-class IoU and accuracy (lists).

    Raises:
        ValueError: a required key (all of ``SUMMARY_KEYS`` but ``OPTIONAL_SUMMARY_KEYS``) is missing.
    """
    missing = [key for key in SUMMARY_KEYS if key not in evaluation and key not in OPTIONAL_SUMMARY_KEYS]
    if missing:
        raise ValueError(f"evaluation lacks {missing}; pass the dict returned by segdemo.<framework>.evaluate.")
    return training.json_safe({key: evaluation[key] for key in SUMMARY_KEYS if key in evaluation})


def write_result(path: str | os.PathLike[str], result: Mapping[str, Any]) -> Path:
    """Writes one result file atomically (temporary file, then ``os.replace``).

    Args:
        path: where to write, usually ``result_path(...)``.
        result: JSON-able mapping; numpy scalars and arrays are converted, NaN becomes ``null``.

    Returns:
        The path written.

    Raises:
        ValueError: when the encoded file would exceed ``MAX_RESULT_BYTES`` (keep arrays out of results).
    """
    record = {"schema": SCHEMA_VERSION, **training.json_safe(dict(result))}
    text = json.dumps(record, indent=2, allow_nan=False) + "\n"
    if len(text.encode("utf-8")) > MAX_RESULT_BYTES:
        raise ValueError(
            f"Result for {path} would be {len(text.encode('utf-8'))} bytes (limit {MAX_RESULT_BYTES}); "
            "store summaries, not arrays (confusion matrices and predictions belong in runs/)."
        )
    return training.atomic_write_text(path, text)


def read_result(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads a result file written by ``write_result``.

    Returns:
        The record; undefined scores (NaN when written) are ``None``. ``"path"`` is added.

    Raises:
        FileNotFoundError: naming the missing file.
        ValueError: when the file is not valid JSON or not a result record.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No result file {path}; create it with `python -m segdemo train ...` (see `python -m segdemo train --help`)."
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); delete it and run the experiment again.") from None
    if not isinstance(record, dict) or "schema" not in record:
        raise ValueError(f"{path} is not a segdemo result file (no 'schema' key).")
    record["path"] = str(path)
    return record


def load_results(
    data: str,
    results_dir: str | os.PathLike[str] | None = None,
    *,
    profile: str | None = None,
    framework: str | None = None,
    model: str | None = None,
) -> list[dict[str, Any]]:
    """Reads every result file of one dataset, optionally filtered, sorted by model, framework, profile.

    Args:
        data: dataset name, e.g. ``"camvid"`` or ``"synthetic"``.
        results_dir: folder holding ``<data>/*.json``; ``None``: the repository's ``results/``.
        profile, framework, model: keep only records with these values.

    Returns:
        A list of records (``read_result``); empty when the folder has none for ``data``.

    Raises:
        FileNotFoundError: ``results_dir`` does not exist (an empty table would pass for "no run made").
    """
    folder = Path(results_dir) if results_dir is not None else DEFAULT_RESULTS_DIR
    if not folder.is_dir():
        raise FileNotFoundError(
            f"No results folder {folder}: the committed results come with a checkout of the repository "
            "(results/) or with the installed package (segdemo/_results); reinstall segdemo or pass results_dir."
        )
    records = []
    for path in sorted((folder / data).glob("*.json")):
        record = read_result(path)
        wanted = {"profile": profile, "framework": framework, "model": model}
        if all(value is None or record.get(key) == value for key, value in wanted.items()):
            records.append(record)
    return sorted(records, key=lambda r: (str(r.get("model")), str(r.get("framework")), str(r.get("profile"))))


def provenance_line(record: Mapping[str, Any]) -> str:
    """Where a result comes from, on lines that fit a book page (88 characters).

    Example::

        fcn8s-pytorch-standard: commit 1c12c22a, 2026-11-22
          cpu: x86_64 (2 cores), 367 training images, width 32, 15 epochs
          adam lr 0.001, 61.2 s per epoch, recipe: flip+scale+color, cosine

    The recipe (:func:`recipe`) comes with runs that record it, on a line of its own when it does not fit.
    """
    p = record.get("provenance", {})
    width = "" if p.get("width") is None else f"width {p['width']}, "
    date = str(p.get("date_utc"))[:10]
    lines = [
        f"{record.get('model')}-{record.get('framework')}-{record.get('profile')}: "
        f"commit {str(p.get('git_commit'))[:8]}{' (uncommitted changes)' if p.get('git_dirty') else ''}, {date}",
        f"  {p.get('device')}, {p.get('num_train_images')} training images, {width}{p.get('epochs')} epochs",
        f"  {p.get('optimizer')} lr {p.get('learning_rate')}, {p.get('seconds_per_epoch')} s per epoch",
    ]
    if p.get("augment") is not None:
        with_recipe = f"{lines[-1]}, recipe: {recipe(record)}"
        if len(with_recipe) <= 88:
            lines[-1] = with_recipe
        else:
            lines.append(f"  recipe: {recipe(record)}")
    return "\n".join(lines)


def _keywords(text: str, words: Sequence[str]) -> str:
    """The ``words`` that ``text`` mentions, joined by ``+``; ``text`` itself when it mentions none."""
    found = [word for word in words if word in text]
    return "+".join(found) if found else text


def recipe(record: Mapping[str, Any]) -> str:
    """A run's training recipe in a few words, e.g. ``"flip+scale+color, cosine"``.

    Runs made before the recipe was recorded trained without augmentation at a constant learning rate. The GPU
    sweep (``segdemo.torch.sweep``) describes its recipe in sentences (``augmentation``, ``schedule``,
    ``precision``); they are shortened to their key words (``"zoom+flip+brightness, warm-up+cosine,
    bfloat16"``) so a table stays readable, and the provenance keeps the sentences. A dropout rate other than the
    model's default (``encoder_decoder`` 0, ``segnet_small`` 0.5) is named too (``"dropout 0.5"``).
    """
    p = record.get("provenance", {})
    if p.get("augment"):
        augment = p["augment"]
    elif p.get("augmentation"):
        augment = _keywords(p["augmentation"], ("zoom", "scale", "flip", "brightness", "color"))
    else:
        augment = "none"
    words = ["no augmentation" if augment == "none" else augment,
             _keywords(p.get("schedule") or "constant", ("warm-up", "cosine"))]
    if p.get("precision") not in (None, "float32"):
        words.append(str(p["precision"]).split()[0])
    if p.get("indices"):
        words.append("indices")
    if p.get("dropout") is not None and p["dropout"] != ARTICLE_DROPOUT.get(record.get("model")):
        words.append(f"dropout {p['dropout']:g}")
    return ", ".join(words)


def split_rows(records: Sequence[Mapping[str, Any]], splits: Sequence[str] = ("test", "val")) -> list[dict[str, Any]]:
    """Table rows, one per (record, split), every ``splits[0]`` row first: CamVid tables lead with test.

    Args:
        records: result records (``load_results``).
        splits: the splits to show, in order; a record without a split gives no row for it.

    Returns:
        Dicts with ``model``, ``framework``, ``profile``, ``split``, ``size`` (``"96x128"``), ``epochs``,
        ``recipe`` (:func:`recipe`), ``name``, ``class_weighting``, ``scores`` (that split's scores) and
        ``provenance`` (the record's), for ``format_table``.
    """
    rows = []
    for split in splits:
        for record in records:
            if split not in record.get("splits", {}):
                continue
            p = record.get("provenance", {})
            height, width = p.get("image_size", ("?", "?"))
            rows.append({"model": record.get("model"), "framework": record.get("framework"),
                         "profile": record.get("profile"), "split": split, "size": f"{height}x{width}",
                         "epochs": p.get("epochs"), "recipe": recipe(record),
                         "name": record.get("name") or Path(str(record.get("path", ""))).stem,
                         "class_weighting": record.get("class_weighting"),
                         "scores": record["splits"][split], "provenance": p})
    return rows


def _lookup(record: Mapping[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def format_table(
    results: Sequence[Mapping[str, Any]],
    columns: Mapping[str, str] | Sequence[str],
    *,
    percent: bool = True,
    digits: int = 1,
) -> str:
    """A Markdown table of result records (or hand-made rows such as a paper's numbers).

    Args:
        results: records from ``load_results`` or plain dicts shaped alike, e.g.
            ``{"model": "SegNet (paper, test)", "splits": {"test": {"mean_iou": 0.6}}}``.
        columns: header -> dotted key path into each record (``{"mIoU (val)": "splits.val.mean_iou"}``), or a
            list of dotted paths used as their own headers.
        percent: show floats as percentages (scores are stored as fractions in [0, 1]).
        digits: decimals shown for floats.

    Returns:
        Markdown text; missing values show as ``-``.

    Raises:
        ValueError: when ``columns`` is empty.
    """
    if not isinstance(columns, Mapping):
        columns = {path: path for path in columns}
    if not columns:
        raise ValueError("columns is empty; name at least one dotted key, e.g. 'splits.val.mean_iou'.")

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if isinstance(value, float):
            return f"{100 * value:.{digits}f}" if percent else f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for record in results:
        lines.append("| " + " | ".join(cell(_lookup(record, path)) for path in columns.values()) + " |")
    return "\n".join(lines)


def _git(*arguments: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", *arguments], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def _versions() -> dict[str, str]:
    import numpy

    from segdemo import __version__

    versions = {"python": platform.python_version(), "segdemo": __version__, "numpy": numpy.__version__}
    # Only libraries the run actually imported: provenance must not load a framework.
    for name in ("torch", "tensorflow", "keras"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "unknown"))
    return versions


def describe_device(framework: str | None = None) -> str:
    """The device a framework trains on, in words (``"cpu"``, ``"cuda: NVIDIA H100 ..."``)."""
    if framework == "pytorch" and "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            return f"cuda: {torch.cuda.get_device_name(0)}"
    if framework == "tensorflow" and "tensorflow" in sys.modules:
        gpus = sys.modules["tensorflow"].config.list_physical_devices("GPU")
        if gpus:
            return f"gpu: {gpus[0].name}"
    return f"cpu: {platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (e.g. ``"AMD EPYC 9B14"``), else ``platform.processor()``,
    else ``"unknown"``: benchmarks record it, since their numbers hold for one CPU only."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def provenance(framework: str | None = None) -> dict[str, Any]:
    """Where a result comes from: code version, libraries, machine, date and command line.

    Returns:
        ``git_commit`` (``None`` outside a git checkout), ``git_dirty`` (uncommitted or untracked changes, ``None`` when
        unknown), ``versions`` (python, numpy and the frameworks already imported), ``device``, ``platform``,
        ``date_utc`` (ISO 8601) and ``command`` (``sys.argv`` joined).
    """
    if os.environ.get(COMMIT_VARIABLE):
        # A copy of the working tree on another machine (a remote GPU): its .git, if any, may be stale, so
        # the caller, who knows which commit it sent, names it.
        commit = os.environ[COMMIT_VARIABLE]
        dirty = {"0": False, "1": True}.get(os.environ.get(DIRTY_VARIABLE, ""))
    else:
        commit = _git("rev-parse", "HEAD")
        status = _git("status", "--porcelain")
        dirty = None if status is None else bool(status)
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": _versions(),
        "device": describe_device(framework),
        "platform": platform.platform(),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name if sys.argv else "python", *sys.argv[1:]]),
    }
