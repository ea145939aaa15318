"""Inference latency on a CPU: every model of the book, PyTorch against Keras, one image at a time.

One inference is what a deployed model does per image: a float32 image (batch 1) in, logits out, copied to
numpy. The model is in evaluation mode and no gradient is recorded:

* PyTorch: ``model.eval()`` and ``torch.inference_mode()``, NCHW contiguous input, the default threads;
* Keras: ``tf.function(lambda images: model(images, training=False))``, NHWC input, the default threads;
  the function is traced once per input size during the warm-up (that first call is reported apart, as
  ``first_call_ms``, since it pays the tracing).

Every model of ``segdemo.experiment.MODEL_NAMES`` is built with its builder's defaults (VGG16 width for the
FCNs), for CamVid's 11 classes, at 360x480 (the paper's size) and 96x128 (the standard profile's). Before any
timing the PyTorch weights are copied into the Keras twin (``segdemo.convert.torch_to_keras``) and the logits
of the two are compared at the smallest size: both frameworks then time the same arithmetic.

Timing: after ``--warmup`` untimed rounds, ``--repeats`` rounds each call every (model, framework, size) once,
in an order rotated by one position each round, so a slow spell of a shared machine falls on all of them
alike rather than on whichever was being timed then. Reported: the median and the minimum wall time of each,
and per model and size the ratios Keras / PyTorch of the medians and of the minima (above 1: Keras slower).
All models are held in memory at once (a few GB at the default widths).

The full run takes minutes on 2 CPU cores (the JSON records its wall time); run it on a quiet machine, as
nothing else should share the cores while it times.

Usage:
    python benchmarks/inference.py                      # writes results/benchmarks/inference.json
    python benchmarks/inference.py --note "idle machine, nothing else running"
    python benchmarks/inference.py --models segnet unet --repeats 3 --output /tmp/inference.json
    python benchmarks/inference.py --quick --output /tmp/inference.json   # smoke run: tiny sizes, narrow models
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:  # run as a script from a checkout, the package not installed
    sys.path.insert(0, str(REPOSITORY))

from segdemo.experiment import MODEL_NAMES  # noqa: E402
from provenance import json_safe, load_average, provenance, write_record  # noqa: E402

DEFAULT_OUTPUT = REPOSITORY / "results" / "benchmarks" / "inference.json"
FRAMEWORKS = ("pytorch", "tensorflow")
SIZES = ((360, 480), (96, 128))  # the paper's size, the standard profile's (segdemo.profiles)
QUICK_SIZES = ((32, 32),)  # the smallest input every model takes (output stride 32)
QUICK_WIDTH = 4  # for the builders that take ``width``
NUM_CLASSES = 11  # CamVid
DEFAULT_REPEATS, QUICK_REPEATS = 7, 2
DEFAULT_WARMUP, QUICK_WARMUP = 1, 0
PARITY_TOLERANCE = 1e-3  # relative to the largest logit
SEED = 0


def size_name(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def builder_arguments(builder: Callable, quick: bool) -> dict:
    """``width=QUICK_WIDTH`` in a quick run for the builders that take it, else the builder's defaults."""
    if quick and "width" in inspect.signature(builder).parameters:
        return {"width": QUICK_WIDTH}
    return {}


def fixed_images(size: tuple[int, int]) -> np.ndarray:
    """One random image, float32 (1, H, W, 3) in [0, 1] (a uint8 image scaled, as the training loops do)."""
    generator = np.random.default_rng(SEED)
    return (generator.integers(0, 256, (1, *size, 3), dtype=np.uint8) / np.float32(255)).astype(np.float32)


class Contender:
    """One (model, framework, size): ``call()`` runs one inference and returns the logits as numpy."""

    def __init__(self, model: str, framework: str, size: tuple[int, int], call: Callable[[], np.ndarray]) -> None:
        self.model, self.framework, self.size, self.call = model, framework, size, call
        self.first_call_ms: float | None = None
        self.times_ms: list[float] = []

    def timed_call(self) -> float:
        started = time.perf_counter()
        self.call()
        return 1000.0 * (time.perf_counter() - started)


def build_pair(name: str, quick: bool) -> tuple[object, object, dict]:
    """The PyTorch model and its Keras twin with the same weights; returns (torch, keras, builder arguments)."""
    import keras
    import torch

    from segdemo.convert import torch_to_keras
    from segdemo.tensorflow import models as keras_models
    from segdemo.torch import models as torch_models

    arguments = builder_arguments(torch_models.MODEL_BUILDERS[name], quick)
    torch.manual_seed(SEED)
    torch_model = torch_models.build_model(name, NUM_CLASSES, **arguments).eval()
    keras.utils.set_random_seed(SEED)
    keras_model = keras_models.build_model(name, NUM_CLASSES, **arguments)
    torch_to_keras(torch_model, keras_model)
    return torch_model, keras_model, arguments


def contenders_for(name: str, torch_model, keras_model, sizes: tuple[tuple[int, int], ...]) -> list[Contender]:
    import tensorflow as tf
    import torch

    predict = tf.function(lambda images: keras_model(images, training=False))
    contenders = []
    for size in sizes:
        images = fixed_images(size)
        torch_images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        keras_images = tf.constant(images)

        def torch_call(images: torch.Tensor = torch_images) -> np.ndarray:
            with torch.inference_mode():
                return torch_model(images).numpy()

        def keras_call(images: tf.Tensor = keras_images) -> np.ndarray:
            return predict(images).numpy()

        contenders += [Contender(name, "pytorch", size, torch_call), Contender(name, "tensorflow", size, keras_call)]
    return contenders


def parity(contenders: list[Contender], size: tuple[int, int]) -> dict:
    """Logits of both frameworks at ``size``, compared; the first call of each is kept as ``first_call_ms``."""
    logits = {}
    for contender in contenders:
        if contender.size == size:
            started = time.perf_counter()
            outputs = contender.call()
            contender.first_call_ms = 1000.0 * (time.perf_counter() - started)  # Keras traces here
            logits[contender.framework] = outputs.transpose(0, 2, 3, 1) if contender.framework == "pytorch" else outputs
    difference = float(np.abs(logits["pytorch"] - logits["tensorflow"]).max())
    largest = float(np.abs(logits["pytorch"]).max())
    return {"size": size_name(size), "max_abs_difference": difference, "max_abs_logit": largest,
            "logits_agree": bool(difference <= PARITY_TOLERANCE * largest),
            "logits_shape_nhwc": list(logits["tensorflow"].shape)}


def time_round_robin(contenders: list[Contender], *, warmup: int, repeats: int) -> None:
    """A first call of each contender not called yet (Keras traces there), ``warmup`` untimed rounds, then
    ``repeats`` timed rounds of every contender, rotated one place each round."""
    for contender in contenders:
        if contender.first_call_ms is None:  # a size the parity check did not run
            contender.first_call_ms = contender.timed_call()
    for _ in range(warmup):
        for contender in contenders:
            contender.call()
    for round_number in range(repeats):
        shift = round_number % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            contender.times_ms.append(contender.timed_call())


def summarise(contenders: list[Contender]) -> dict[str, dict]:
    """Per model and size: each framework's median, minimum and times, and the Keras / PyTorch ratios."""
    by_model: dict[str, dict] = {}
    for contender in contenders:
        entry = by_model.setdefault(contender.model, {}).setdefault(size_name(contender.size), {})
        entry[contender.framework] = {
            "median_ms": round(statistics.median(contender.times_ms), 3),
            "min_ms": round(min(contender.times_ms), 3),
            "first_call_ms": None if contender.first_call_ms is None else round(contender.first_call_ms, 3),
            "times_ms": [round(value, 3) for value in contender.times_ms],
        }
    for sizes in by_model.values():
        for entry in sizes.values():
            torch_entry, keras_entry = entry["pytorch"], entry["tensorflow"]
            entry["keras_over_pytorch"] = {
                "median": round(keras_entry["median_ms"] / torch_entry["median_ms"], 3),
                "min": round(keras_entry["min_ms"] / torch_entry["min_ms"], 3),
            }
    return by_model


def format_table(record: dict) -> str:
    """The medians, minima and ratios side by side, as printed by the script."""
    lines = [f"inference, batch {record['batch_size']}, {record['num_classes']} classes: ms per image "
             f"(median and min of {record['repeats']} rounds); ratio = Keras / PyTorch",
             f"{'model':<17}{'size':<9}{'PyTorch':>9}{'min':>9}{'Keras':>10}{'min':>9}{'ratio':>8}{'of min':>8}"
             f"  logits agree"]
    for name, entry in record["models"].items():
        for size, timing in entry["sizes"].items():
            torch_entry, keras_entry = timing["pytorch"], timing["tensorflow"]
            ratios = timing["keras_over_pytorch"]
            lines.append(f"{name:<17}{size:<9}{torch_entry['median_ms']:>9.1f}{torch_entry['min_ms']:>9.1f}"
                         f"{keras_entry['median_ms']:>10.1f}{keras_entry['min_ms']:>9.1f}{ratios['median']:>7.2f}x"
                         f"{ratios['min']:>7.2f}x  {'yes' if entry['parity']['logits_agree'] else 'NO'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=None, metavar="MODEL",
                        help=f"models of the registry (default: all, {' '.join(MODEL_NAMES)})")
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"timed rounds (default {DEFAULT_REPEATS}, quick {QUICK_REPEATS})")
    parser.add_argument("--warmup", type=int, default=None,
                        help=f"untimed rounds after each contender's first call (default {DEFAULT_WARMUP}, quick "
                             f"{QUICK_WARMUP})")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {', '.join(size_name(s) for s in QUICK_SIZES)}, width {QUICK_WIDTH} where "
                             f"the builder takes it, {QUICK_REPEATS} rounds, no warm-up round")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file (default {DEFAULT_OUTPUT})")
    parser.add_argument("--note", default=None, help="free text kept in the JSON, e.g. what else ran on the machine")
    args = parser.parse_args(argv)

    models = args.models or list(MODEL_NAMES)
    unknown = [name for name in models if name not in MODEL_NAMES]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODEL_NAMES)}")
    repeats = args.repeats if args.repeats is not None else (QUICK_REPEATS if args.quick else DEFAULT_REPEATS)
    warmup = args.warmup if args.warmup is not None else (QUICK_WARMUP if args.quick else DEFAULT_WARMUP)
    for name, value, least in (("--repeats", repeats, 1), ("--warmup", warmup, 0)):
        if value < least:
            parser.error(f"{name} must be at least {least}, got {value}")
    sizes = QUICK_SIZES if args.quick else SIZES

    # Imported after parsing, so that --help and argument errors are instant; provenance() records the versions.
    import keras  # noqa: F401
    import tensorflow as tf
    import torch  # noqa: F401

    # One tf.function per model and a trace per size: expected here, so TensorFlow's retracing warning is noise.
    tf.get_logger().setLevel("ERROR")
    started, load_before = time.perf_counter(), load_average()
    record: dict = {
        "benchmark": "CPU inference latency: one image (batch 1), evaluation mode, no gradients, logits copied "
                     "to numpy",
        "schema": 1,
        "quick": args.quick,
        "batch_size": 1,
        "num_classes": NUM_CLASSES,
        "image_sizes": [list(size) for size in sizes],
        "repeats": repeats,
        "warmup_rounds": warmup,
        "unit": "ms per image (wall time)",
        "pytorch": "model.eval(), torch.inference_mode(), NCHW contiguous float32, default threads",
        "tensorflow": "tf.function(lambda images: model(images, training=False)), NHWC float32, default threads; "
                      "traced once per size before timing (first_call_ms)",
        "order": "after the warm-up, every round calls every (model, framework, size) once, the order rotated by "
                 "one place per round",
        "ratio": "keras_over_pytorch: Keras median / PyTorch median (and the same for the minima); above 1, Keras "
                 "is slower",
        "parity": f"PyTorch weights copied into Keras (segdemo.convert.torch_to_keras); logits_agree when the "
                  f"largest difference is at most {PARITY_TOLERANCE} x the largest logit",
        "note": args.note,
        "models": {},
    }
    contenders: list[Contender] = []
    for name in models:
        print(f"building {name} ... ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        torch_model, keras_model, arguments = build_pair(name, args.quick)
        model_contenders = contenders_for(name, torch_model, keras_model, sizes)
        smallest = min(sizes, key=lambda size: size[0] * size[1])
        record["models"][name] = {
            "builder_arguments": arguments,
            "parameters": {"pytorch": sum(p.numel() for p in torch_model.parameters()),
                           "tensorflow": sum(int(np.prod(w.shape)) for w in keras_model.weights
                                             if "moving_" not in w.path)},
            "parity": parity(model_contenders, smallest),
        }
        contenders += model_contenders
    print(f"timing {len(contenders)} contenders, {repeats} rounds ... ({time.perf_counter() - started:.0f} s)",
          file=sys.stderr, flush=True)
    time_round_robin(contenders, warmup=warmup, repeats=repeats)
    for name, sizes_entry in summarise(contenders).items():
        record["models"][name]["sizes"] = sizes_entry
    record["provenance"] = provenance(started=started, load_before=load_before, argv=argv)
    record = json_safe(record)
    print(format_table(record))
    write_record(record, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
