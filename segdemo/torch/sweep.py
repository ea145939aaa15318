"""The full profile in one command: every model trained at 360x480 on a GPU, scored on test and val.

``python -m segdemo sweep --pack pack/camvid.zip --output-dir OUT --budget-seconds 500`` runs four phases
inside one time budget, so that a short lease of a GPU machine is enough:

1. **Eager benchmark.** One training step of each model is timed (median of CUDA-event timings) and its
   FLOPs counted; this also gives the step times the planner needs.
2. **Training.** Each model gets a share of the time left; the planner turns it into a number of epochs
   (at most the profile's), trains with :func:`segdemo.torch.on_device.train_on_device` (data, augmentation
   and metrics on the GPU, bfloat16, channels-last), then scores test and val. Boundary F1 is computed on
   the CPU in worker processes while the next model trains. Meanwhile a background process compiles every
   model with ``torch.compile`` to fill Inductor's cache.
3. **Compiled benchmark.** The same steps under ``torch.compile``, now mostly cache hits, timed on an idle
   GPU. Models whose compile would not fit the time left are reported as skipped.
4. **Files.** ``<output>/camvid/<model>-pytorch-full.json`` (scores, history, provenance),
   ``.png`` curves and ``-predictions.png``, ``<output>/benchmarks/gpu_train_step.json``, and, when asked,
   a tar of all of it after every model (a run cut short still leaves what it finished).

Only PyTorch is imported: the GPU machine has no TensorFlow. With ``--device cpu``, tiny images and one
epoch, the same path runs in seconds on a CPU; the test suite does exactly that.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segdemo import metrics, profiles, results, training
from segdemo.experiment import save_history_figure, save_prediction_figure
from segdemo.files import atomic_path
from segdemo.torch import on_device, throughput
from segdemo.torch.models import build_model

BENCHMARK_FILE = Path("benchmarks") / "gpu_train_step.json"
"""Where the throughput record goes, relative to the output folder (``results/`` in the repository)."""


@dataclasses.dataclass(frozen=True)
class SweepModel:
    """How one model is trained in the sweep.

    Attributes:
        name: a name of ``segdemo.torch.models.MODEL_BUILDERS`` (built with its defaults: VGG16 width for
            the FCNs, the article's width 32 for ``encoder_decoder``).
        learning_rate: peak Adam step size.
        class_weighting: ``"median-frequency"`` (the SegNet paper's models) or ``"none"``.
        share: relative share of the training time.
    """

    name: str
    learning_rate: float
    class_weighting: str
    share: float


FULL_SWEEP: tuple[SweepModel, ...] = (
    SweepModel("segnet_basic", 1e-3, "median-frequency", 0.30),
    SweepModel("encoder_decoder", 1e-3, "none", 0.10),
    SweepModel("resnet50_segnet", 1e-3, "none", 0.15),
    SweepModel("segnet", 1e-3, "median-frequency", 0.30),
    # No batch norm in an FCN: a smaller step keeps a from-scratch VGG16-width FCN stable.
    SweepModel("fcn8s", 3e-4, "none", 0.15),
)
"""The models of the full profile, in training order (cheap ones first, so unused time flows on)."""


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """One sweep. ``None`` fields take the full profile's value.

    Attributes:
        output_dir: results go to ``<output_dir>/camvid/`` and ``<output_dir>/benchmarks/``.
        pack: a CamVid pack (:mod:`segdemo.data.pack`); ``None`` reads CamVid from ``data_dir``.
        data_dir: the CamVid folder when there is no pack (``None``: ``SEGDEMO_CAMVID_DIR``).
        models: names of ``FULL_SWEEP`` to run, in its order.
        budget_seconds: wall time for the whole sweep, from its start to the last file.
        epochs: most epochs per model (the planner may give fewer).
        batch_size: images per step.
        image_size: ``(height, width)``; ``None``: the profile's 360x480.
        max_images: use only the first images of each split (dry runs).
        device: ``"auto"`` (the GPU when there is one), ``"cuda"`` or ``"cpu"``.
        compile_benchmark: time ``torch.compile`` too (``None``: on a GPU only).
        warmup, repeats: benchmark steps.
        archive: a ``.tar`` rewritten after every model with everything written so far (``None``: none).
        seed: seeds weights, batch order and augmentation.
    """

    output_dir: str
    pack: str | None = None
    data_dir: str | None = None
    models: tuple[str, ...] = tuple(model.name for model in FULL_SWEEP)
    budget_seconds: float = 480.0
    epochs: int | None = None
    batch_size: int = 8
    image_size: tuple[int, int] | None = None
    max_images: int | None = None
    device: str = "auto"
    compile_benchmark: bool | None = None
    warmup: int = 5
    repeats: int = 20
    archive: str | None = None
    seed: int = 0


class Clock:
    """Seconds since the sweep started, and a log line prefixed with them."""

    def __init__(self, budget_seconds: float) -> None:
        self.started = time.perf_counter()
        self.deadline = self.started + budget_seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def log(self, message: str) -> None:
        print(f"[{self.elapsed():6.1f} s] {message}", flush=True)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch sees no CUDA GPU; use --device cpu or auto.")
    if name not in ("cuda", "cpu"):
        raise ValueError(f"Unknown device {name!r}; choose auto, cuda or cpu.")
    return torch.device(name)


def _selected(models: Sequence[str]) -> list[SweepModel]:
    known = {model.name: model for model in FULL_SWEEP}
    unknown = [name for name in models if name not in known]
    if unknown or not models:
        raise ValueError(f"Unknown sweep model(s) {unknown}; choose from {', '.join(known)}.")
    return [model for model in FULL_SWEEP if model.name in models]


def load_splits(config: SweepConfig, size: tuple[int, int]) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """Train, val and test arrays at ``size``, from the pack or the CamVid folder, and where they came from."""
    splits = {}
    if config.pack is not None:
        from segdemo.data.pack import load_pack, read_manifest

        manifest = read_manifest(config.pack)
        for split in ("train", "val", "test"):
            splits[split] = load_pack(config.pack, split, size=size, max_images=config.max_images)
        source = {
            "pack": Path(config.pack).name,
            "lossy_step": manifest["lossy_step"],
            "jpeg_quality": manifest["quality"],
            "psnr_db": manifest["psnr_db"],
            "labels": "bit-identical to the CamVid PNGs (SHA-256 checked on load)",
        }
    else:
        from segdemo.data import load_camvid

        for split in ("train", "val", "test"):
            images, masks = load_camvid(config.data_dir, split, size=size)
            splits[split] = (images[: config.max_images], masks[: config.max_images])
        source = {"folder": "CamVid PNGs (lossless)"}
    return splits, source


def plan_epochs(budget_seconds: float, epoch_seconds: float, fixed_seconds: float, max_epochs: int) -> int:
    """Epochs that fit in ``budget_seconds`` after ``fixed_seconds`` of evaluation: between 1 and ``max_epochs``."""
    if epoch_seconds <= 0:
        return max_epochs
    return int(max(1, min(max_epochs, math.floor((budget_seconds - fixed_seconds) / epoch_seconds))))


def _boundary_chunks(pool: concurrent.futures.Executor, masks: np.ndarray, predictions: np.ndarray,
                     num_classes: int, chunk: int = 24) -> list[tuple[int, concurrent.futures.Future]]:
    # BF is a mean over images with labelled pixels; chunks are combined with those counts as weights.
    jobs = []
    for start in range(0, len(masks), chunk):
        labels = masks[start : start + chunk]
        weight = int((labels != training.IGNORE_INDEX).any(axis=(1, 2)).sum())
        if weight:
            jobs.append((weight, pool.submit(metrics.boundary_f1, labels, predictions[start : start + chunk],
                                             num_classes)))
    return jobs


def _combine(jobs: list[tuple[int, concurrent.futures.Future]]) -> float:
    return sum(weight * future.result() for weight, future in jobs) / sum(weight for weight, _ in jobs)


def cuda_provenance(device: torch.device) -> dict[str, Any]:
    """Torch, CUDA and cuDNN versions and the GPU, for result files."""
    info: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda,
                            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        info.update(gpu=properties.name, gpu_memory_gib=round(properties.total_memory / 2**30, 1),
                    multiprocessors=properties.multi_processor_count)
    else:
        info["cpu"] = f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"
    return info


def write_archive(output_dir: Path, archive: Path, *, exclude: Sequence[str] = ()) -> Path:
    """Tars ``output_dir`` (minus top-level names in ``exclude``) into ``archive`` atomically."""
    with atomic_path(archive) as temporary:
        with tarfile.open(temporary, "w") as tar:
            for path in sorted(output_dir.rglob("*")):
                relative = path.relative_to(output_dir)
                if path.is_file() and relative.parts[0] not in exclude and not path.name.endswith(".tmp"):
                    tar.add(path, arcname=str(relative))
    return archive


class Sweep:
    """One run of the sweep; :func:`run_sweep` is the entry point."""

    def __init__(self, config: SweepConfig) -> None:
        self.config = config
        self.clock = Clock(config.budget_seconds)
        self.profile = profiles.get_profile("full")
        self.size = tuple(config.image_size or self.profile.image_size)
        self.max_epochs = config.epochs or self.profile.epochs
        # Anything but the real settings is labelled so that it can never pass for a full-profile result.
        is_full = self.size == tuple(self.profile.image_size) and config.max_images is None
        self.profile_name = "full" if is_full else "dryrun"
        self.models = _selected(config.models)
        self.device = _device(config.device)
        self.amp_dtype = torch.bfloat16
        self.compile = self.device.type == "cuda" if config.compile_benchmark is None else config.compile_benchmark
        self.output = Path(config.output_dir)
        self.benchmark: dict[str, Any] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.pending: list[tuple[str, dict[str, list]]] = []

    # --- files -------------------------------------------------------------------------------------------
    def result_path(self, model: str) -> Path:
        return results.result_path(self.output, "camvid", model, "pytorch", self.profile_name)

    def save_archive(self) -> None:
        if self.config.archive is None:
            return
        archive = Path(self.config.archive)
        write_archive(self.output, archive, exclude=("checkpoints",))
        if (self.output / "checkpoints").is_dir():
            write_archive(self.output / "checkpoints", archive.with_name(archive.stem + "-checkpoints.tar"))

    def write_benchmark(self) -> None:
        record = {"schema": results.SCHEMA_VERSION, **self.benchmark}
        training.atomic_write_json(self.output / BENCHMARK_FILE, record)

    # --- phases ------------------------------------------------------------------------------------------
    def load_data(self) -> None:
        self.clock.log(f"loading CamVid at {self.size[0]}x{self.size[1]} "
                       f"({'pack ' + self.config.pack if self.config.pack else 'folder'})")
        splits, self.data_source = load_splits(self.config, self.size)
        self.host = splits
        self.num_classes = 11
        from segdemo.data import median_frequency_weights

        self.median_weights = np.asarray(median_frequency_weights(splits["train"][1], self.num_classes))
        self.on_device = {name: on_device.to_device_data(*arrays, self.device, name=name)
                          for name, arrays in splits.items()}
        self.clock.log("data on " + str(self.device) + ": " + ", ".join(
            f"{name} {len(data)}" for name, data in self.on_device.items()))

    def benchmark_eager(self) -> None:
        peak_name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"
        matmul = throughput.measure_matmul_rate(self.device)
        self.peaks = {"datasheet_bf16_dense": throughput.datasheet_peak(peak_name), "measured_bf16_matmul": matmul}
        self.benchmark = {
            "what": "one training step (forward, weighted cross entropy, backward, Adam) on random inputs",
            "batch_size": self.config.batch_size,
            "image_size": list(self.size),
            "precision": "bfloat16 autocast" if self.amp_dtype == torch.bfloat16 else "float32",
            "memory_format": "channels_last",
            "warmup_steps": self.config.warmup,
            "timed_steps": self.config.repeats,
            "peak_flops": self.peaks,
            "provenance": {**results.provenance("pytorch"), **cuda_provenance(self.device)},
            "models": {},
        }
        self.clock.log(f"peaks: datasheet {self.peaks['datasheet_bf16_dense']}, measured matmul "
                       f"{None if matmul is None else round(matmul / 1e12, 1)} TFLOP/s")
        for model in self.models:
            try:
                eager = throughput.benchmark_training_step(
                    lambda name=model.name: build_model(name, self.num_classes), num_classes=self.num_classes,
                    batch_size=self.config.batch_size, image_size=self.size, device=self.device,
                    amp_dtype=self.amp_dtype, warmup=self.config.warmup, repeats=self.config.repeats,
                    peaks=self.peaks)
            except Exception as error:  # noqa: BLE001 - one model's failure must not end the sweep
                self.clock.log(f"benchmark {model.name}: FAILED {type(error).__name__}: {error}")
                self.benchmark["models"][model.name] = {"eager": {"error": f"{type(error).__name__}: {error}"}}
                continue
            parameters = sum(p.numel() for p in build_model(model.name, self.num_classes).parameters())
            self.benchmark["models"][model.name] = {"parameters": parameters, "eager": eager}
            self.clock.log(f"benchmark {model.name}: eager {eager['median_ms']:.1f} ms/step, "
                           f"{eager['images_per_second']:.0f} img/s, {eager['achieved_tflops']} TFLOP/s, "
                           f"MFU {eager['mfu']}")
            self._free()
        self.write_benchmark()

    def start_cache_warmer(self) -> subprocess.Popen | None:
        if not self.compile or self.device.type != "cuda":
            return None
        log = open(self.output / "warm_cache.log", "w")  # noqa: SIM115 - closed with the process
        environment = {**os.environ, "TORCHINDUCTOR_COMPILE_THREADS": str(max(1, (os.cpu_count() or 2) // 2))}
        command = [sys.executable, "-m", "segdemo.torch.throughput", "--warm-cache",
                   "--models", ",".join(model.name for model in self.models),
                   "--num-classes", str(self.num_classes), "--batch-size", str(self.config.batch_size),
                   "--image-size", f"{self.size[0]}x{self.size[1]}"]
        self.clock.log("background: " + " ".join(command[1:]))
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)

    def _eval_seconds(self, step_seconds: float) -> float:
        # A forward pass costs about a third of a training step.
        images = len(self.on_device["val"]) + len(self.on_device["test"])
        return images / self.config.batch_size * step_seconds / 3 + 3.0

    def train_all(self, pool: concurrent.futures.Executor) -> None:
        reserve_compile = 15.0 * len(self.models) if self.compile else 0.0
        reserve_end = 20.0
        for position, model in enumerate(self.models):
            eager = self.benchmark["models"].get(model.name, {}).get("eager", {})
            step_seconds = eager.get("median_ms", 0) / 1000 or 0.05
            remaining_shares = sum(m.share for m in self.models[position:])
            available = self.clock.left() - reserve_compile - reserve_end
            budget = available * model.share / remaining_shares
            steps_per_epoch = len(self.on_device["train"]) // self.config.batch_size
            # Augmentation and bookkeeping add about 10% to the bare step; val is scored every epoch.
            epoch_seconds = (steps_per_epoch * step_seconds * 1.1
                             + len(self.on_device["val"]) / self.config.batch_size * step_seconds / 3)
            epochs = plan_epochs(budget, epoch_seconds, self._eval_seconds(step_seconds) + 5.0, self.max_epochs)
            self.clock.log(f"{model.name}: budget {budget:.0f} s, ~{epoch_seconds:.2f} s/epoch -> {epochs} epochs")
            try:
                self.train_one(model, epochs, budget, step_seconds, pool)
            except Exception as error:  # noqa: BLE001 - one model's failure must not end the sweep
                self.clock.log(f"{model.name}: FAILED {type(error).__name__}: {error}")
                self.records[model.name] = {"error": f"{type(error).__name__}: {error}"}
            self._free()
            self.save_archive()

    def train_one(self, model: SweepModel, epochs: int, budget: float, step_seconds: float,
                  pool: concurrent.futures.Executor) -> None:
        torch.manual_seed(self.config.seed)
        network = build_model(model.name, self.num_classes)
        weights = self.median_weights if model.class_weighting == "median-frequency" else None
        augmentation = on_device.Augmentation()
        started = time.perf_counter()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        run = on_device.train_on_device(
            network, self.on_device["train"], self.on_device["val"], num_classes=self.num_classes,
            epochs=epochs, batch_size=self.config.batch_size, learning_rate=model.learning_rate,
            class_weights=weights, augmentation=augmentation, amp_dtype=self.amp_dtype, seed=self.config.seed,
            budget_seconds=budget - self._eval_seconds(step_seconds), log=lambda line: self.clock.log(f"{model.name} {line}"))
        splits, jobs = {}, {}
        for split in ("test", "val"):
            scored = on_device.predict_on_device(
                network, self.on_device[split], num_classes=self.num_classes, batch_size=self.config.batch_size,
                amp_dtype=self.amp_dtype, channels_last=True)
            summary = metrics.scores(scored["confusion_matrix"])
            summary["boundary_f1"] = None  # filled in when the workers finish
            splits[split] = results.summarise_scores(summary)
            masks = self.host[split][1]
            jobs[split] = _boundary_chunks(pool, masks, scored["predictions"], self.num_classes)
            if split == "test":
                save_prediction_figure(self.host["test"][0], masks, scored["predictions"],
                                       results.prediction_figure_path(self.result_path(model.name)),
                                       data="camvid", split="test", title=model.name)
        images_per_second = run.steps * self.config.batch_size / max(sum(run.history["epoch_seconds"]), 1e-9)
        record = {
            "model": model.name,
            "framework": "pytorch",
            "data": "camvid",
            "profile": self.profile_name,
            "num_classes": self.num_classes,
            "class_names": list(_class_names()),
            "splits": splits,
            "history": run.history,
            "class_weighting": model.class_weighting,
            "class_weights": None if weights is None else [round(float(w), 6) for w in weights],
            "provenance": {
                **results.provenance("pytorch"),
                **cuda_provenance(self.device),
                "profile": self.profile_name,
                "image_size": list(self.size),
                "epochs": len(run.history["train_loss"]),
                "epochs_planned": run.epochs_planned,
                "stopped_early": run.stopped_early,
                "batch_size": self.config.batch_size,
                "num_train_images": len(self.on_device["train"]),
                "num_val_images": len(self.on_device["val"]),
                "num_test_images": len(self.on_device["test"]),
                "max_train_images": self.config.max_images,
                "max_val_images": self.config.max_images,
                "optimizer": "adam",
                "learning_rate": model.learning_rate,
                "schedule": f"linear warm-up over {on_device.WARMUP_FRACTION:.0%} of steps, cosine decay to 0",
                "augmentation": on_device.Augmentation().describe(),
                "precision": "bfloat16 autocast",
                "memory_format": "channels_last",
                "width": None,
                "weights": "none (from scratch)",
                "seed": self.config.seed,
                "resumed": False,
                "data_source": self.data_source,
                "train_seconds": round(run.train_seconds, 2),
                "wall_seconds": round(time.perf_counter() - started, 2),
                "seconds_per_epoch": round(statistics.median(run.history["epoch_seconds"]), 3),
                "train_images_per_second": round(images_per_second, 1),
                "peak_memory_gib": (round(torch.cuda.max_memory_allocated(self.device) / 2**30, 2)
                                    if self.device.type == "cuda" else None),
            },
        }
        self.records[model.name] = record
        self.pending.append((model.name, jobs))
        results.write_result(self.result_path(model.name), record)
        save_history_figure(run.history, results.history_figure_path(self.result_path(model.name)))
        self._save_checkpoint(model.name, network, run.history)
        test = splits["test"]
        self.clock.log(f"{model.name}: test G {100 * test['global_accuracy']:.1f} C {100 * test['class_accuracy']:.1f} "
                       f"mIoU {100 * test['mean_iou']:.1f} after {len(run.history['train_loss'])} epochs "
                       f"in {run.train_seconds:.0f} s")

    def _save_checkpoint(self, name: str, network: torch.nn.Module, history: dict[str, list[float]]) -> None:
        # Small models only (half precision): they travel back, and `python -m segdemo evaluate` re-scores
        # them on a CPU (for example on the lossless PNGs instead of the pack's JPEGs).
        state = half_precision(network.state_dict())
        if sum(value.numel() * value.element_size() for value in state.values()) < 12 * 2**20:
            run = {"model": name, "framework": "pytorch", "data": "camvid", "profile": self.profile_name,
                   "num_classes": self.num_classes, "image_size": list(self.size), "width": None,
                   "seed": self.config.seed, "batch_size": self.config.batch_size}
            write_checkpoint(self.output / "checkpoints" / f"{name}-pytorch-{self.profile_name}", state, run, history)

    def finish_boundary_scores(self) -> None:
        for name, jobs in self.pending:
            record = self.records[name]
            for split, split_jobs in jobs.items():
                try:
                    record["splits"][split]["boundary_f1"] = _combine(split_jobs)
                except Exception as error:  # noqa: BLE001
                    self.clock.log(f"{name} {split}: boundary F1 failed ({type(error).__name__}: {error})")
            results.write_result(self.result_path(name), record)
            test = record["splits"]["test"]
            self.clock.log(f"{name}: test BF {100 * (test['boundary_f1'] or 0):.1f}")
        self.pending = []

    def benchmark_compiled(self, warmer: subprocess.Popen | None) -> None:
        if not self.compile:
            return
        if warmer is not None:
            # The cache warmer may still be compiling the last models: give it part of the time left.
            try:
                warmer.wait(timeout=max(0.0, self.clock.left() - 15.0 * len(self.models) - 15.0))
            except subprocess.TimeoutExpired:
                self.clock.log("cache warmer still running; stopping it")
                warmer.kill()
        order = sorted(self.models, key=lambda m: m.name != "segnet")  # SegNet first: it carries the MFU goal
        for model in order:
            entry = self.benchmark["models"].get(model.name, {})
            if "eager" not in entry or "error" in entry["eager"]:
                continue
            if self.clock.left() < 35.0:
                entry["compiled"] = {"skipped": "time budget"}
                self.clock.log(f"compiled benchmark {model.name}: skipped (time budget)")
                continue
            try:
                compiled = throughput.benchmark_training_step(
                    lambda name=model.name: build_model(name, self.num_classes), num_classes=self.num_classes,
                    batch_size=self.config.batch_size, image_size=self.size, device=self.device,
                    amp_dtype=self.amp_dtype, compile_model=True, warmup=self.config.warmup,
                    repeats=self.config.repeats, peaks=self.peaks, flops=entry["eager"]["flops_per_step"])
            except Exception as error:  # noqa: BLE001
                entry["compiled"] = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
                self.clock.log(f"compiled benchmark {model.name}: FAILED {type(error).__name__}")
            else:
                entry["compiled"] = compiled
                entry["compiled_speedup"] = round(entry["eager"]["median_ms"] / compiled["median_ms"], 3)
                self.clock.log(f"compiled benchmark {model.name}: {compiled['median_ms']:.1f} ms/step "
                               f"(compile {compiled['compile_seconds']} s), MFU {compiled['mfu']}, "
                               f"{entry['compiled_speedup']}x eager")
            self._free()
            self.write_benchmark()
            self.save_archive()

    def _free(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def run(self) -> dict[str, Any]:
        self.output.mkdir(parents=True, exist_ok=True)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.clock.log(f"sweep: {', '.join(m.name for m in self.models)} on {self.device}, profile "
                       f"{self.profile_name}, budget {self.config.budget_seconds:.0f} s")
        # Spawned workers import numpy and segdemo.metrics only: no CUDA state is shared with them.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, min(8, (os.cpu_count() or 2) // 2)),
                                                    mp_context=context) as pool:
            self.load_data()
            self.benchmark_eager()
            self.save_archive()
            warmer = self.start_cache_warmer()
            self.train_all(pool)
            self.finish_boundary_scores()
            self.save_archive()
            self.benchmark_compiled(warmer)
            if warmer is not None and warmer.poll() is None:
                warmer.kill()
        self.write_benchmark()
        self.save_archive()
        self.clock.log("sweep done")
        return {"records": self.records, "benchmark": self.benchmark}


def half_precision(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict on the CPU with floating tensors in float16 (half the bytes; loading casts them back)."""
    return {key: value.detach().to("cpu", torch.float16 if value.is_floating_point() else value.dtype)
            for key, value in state.items()}


def write_checkpoint(folder: str | os.PathLike[str], state: dict[str, torch.Tensor], run: dict[str, Any],
                     history: dict[str, list[float]]) -> Path:
    """Writes ``run.json`` and ``checkpoint.pt`` in the layout of ``python -m segdemo train``.

    ``python -m segdemo evaluate --checkpoint FOLDER`` then rebuilds the model from ``run`` and scores it.
    """
    from segdemo.experiment import RUN_FILE
    from segdemo.torch.train import CHECKPOINT_NAME

    folder = Path(folder)
    training.atomic_write_json(folder / RUN_FILE, run)
    checkpoint = {"format": 1, "epochs_done": training.epochs_done(history), "history": history,
                  "settings": {"batch_size": run["batch_size"], "seed": run["seed"],
                               "num_classes": run["num_classes"]},
                  "model": state, "optimizer": {}, "scaler": {}}
    with atomic_path(folder / CHECKPOINT_NAME) as temporary:
        torch.save(checkpoint, temporary)
    return folder


def _class_names() -> tuple[str, ...]:
    from segdemo.data.camvid import CLASS_NAMES

    return CLASS_NAMES


def run_sweep(config: SweepConfig) -> dict[str, Any]:
    """Runs the sweep described by ``config`` (see the module docstring).

    Returns:
        ``{"records": model -> result record (or ``{"error": ...}``), "benchmark": the throughput record}``.

    Raises:
        ValueError: unknown models or device, or a CUDA device asked for where there is none.
        FileNotFoundError: no pack or CamVid folder.
    """
    return Sweep(config).run()


def summary_table(outcome: dict[str, Any]) -> str:
    """Plain-text lines: per model, test G / C / mIoU / BF, epochs, minutes, images/s and MFU."""
    lines = [f"{'model':16} {'G':>5} {'C':>5} {'mIoU':>5} {'BF':>5} {'epochs':>6} {'min':>5} {'img/s':>7} "
             f"{'MFU eager':>9} {'MFU compiled':>12}"]
    for name, record in outcome["records"].items():
        bench = outcome["benchmark"].get("models", {}).get(name, {})
        mfu_eager = bench.get("eager", {}).get("mfu", {}).get("datasheet_bf16_dense")
        mfu_compiled = bench.get("compiled", {}).get("mfu", {}).get("datasheet_bf16_dense")
        if "error" in record:
            lines.append(f"{name:16} failed: {record['error'][:80]}")
            continue
        test = record["splits"]["test"]

        def percent(value: float | None) -> str:
            return "-" if value is None else f"{100 * value:.1f}"

        lines.append(
            f"{name:16} {percent(test['global_accuracy']):>5} {percent(test['class_accuracy']):>5} "
            f"{percent(test['mean_iou']):>5} {percent(test['boundary_f1']):>5} "
            f"{record['provenance']['epochs']:>6} {record['provenance']['train_seconds'] / 60:>5.1f} "
            f"{record['provenance']['train_images_per_second']:>7.0f} {percent(mfu_eager):>9} "
            f"{percent(mfu_compiled):>12}")
    return "\n".join(lines)
