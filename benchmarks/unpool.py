"""Max-unpooling speed: the SegNet articles' scatter_nd layer vs segdemo's TensorFlow layer vs PyTorch.

All contenders unpool the same pooled map, (8, 90, 120, 64) -> (8, 180, 240, 64) by default:

* ``article``: the articles' ``MaxUnpooling2D`` (float indices, ``tf.scatter_nd``), Keras 3 port in
  ``segdemo.tensorflow.article_layers``;
* ``segdemo``: ``segdemo.tensorflow.MaxUnpooling2D`` (one dense XLA pass for 2x2/2 windows, forward and
  backward, with the check that every index lies in its own window included);
* ``torch_nchw`` / ``torch_channels_last``: ``torch.nn.functional.max_unpool2d`` (2 threads).

Modes: ``forward`` (eager), ``forward_graph`` (inside ``tf.function``, after warm-up; torch has no graph
mode here, so its eager numbers are repeated) and ``forward_backward`` (output and the gradient with
respect to the values for a fixed upstream gradient; TensorFlow inside ``tf.function``). Before timing,
the script checks that every contender returns the identical unpooled tensor and identical gradients.

Each timed call ends by reading one element of every result, which waits for the result to exist (on a
GPU too) without copying it. Copying the results into numpy arrays is not part of unpooling, but it
would add the same time to every TensorFlow contender and pull their ratios towards 1; the script
measures that copy on its own (``copy_to_numpy_ms``) so it can be compared.

Usage:
    python benchmarks/unpool.py                  # ~1 minute on 2 CPU cores; writes results/benchmarks/unpool.json
    python benchmarks/unpool.py --quick --output /tmp/unpool.json   # tiny smoke run
    python benchmarks/unpool.py --shape 1 90 120 256 --output /tmp/unpool.json   # another shape
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from provenance import REPOSITORY, json_safe, load_average, provenance, write_record  # noqa: E402

DEFAULT_OUTPUT = REPOSITORY / "results" / "benchmarks" / "unpool.json"
FULL_SHAPE = (8, 90, 120, 64)  # pooled (N, h, w, C); a SegNet decoder level at a quarter of 360x480
QUICK_SHAPE = (2, 6, 8, 4)


def interleaved_medians_ms(functions: dict[str, Callable[[], object]], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median wall time of each ``function()`` in milliseconds, timed round-robin.

    Every repetition runs each function once, in turn, so a slow spell of a shared machine falls on all of
    them alike instead of on whichever happened to be timed then. Each function must block until done.
    """
    for _ in range(warmup):
        for function in functions.values():
            function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: 1000.0 * statistics.median(values) for name, values in times.items()}


def run(shape: tuple[int, int, int, int], repeats: int) -> dict:
    """Checks that all contenders agree, times them, and returns the JSON record (``main`` adds the provenance)."""
    import keras
    import tensorflow as tf
    import torch
    import torch.nn.functional as F

    from segdemo.tensorflow import article_layers
    from segdemo.tensorflow.pooling import MaxPoolingWithArgmax2D, MaxUnpooling2D

    torch.set_num_threads(2)
    batch, pooled_height, pooled_width, channels = shape
    height, width = 2 * pooled_height, 2 * pooled_width
    generator = np.random.default_rng(0)
    # Distinct values (a permutation) so that no window has ties: every contender must pick the same argmax.
    features = generator.permutation(batch * height * width * channels).astype(np.float32)
    features = features.reshape(batch, height, width, channels) / features.size
    upstream_numpy = generator.standard_normal((batch, height, width, channels)).astype(np.float32)

    # Pool once per layout; the article's SAME padding equals VALID here because the sizes are even.
    values, indices = MaxPoolingWithArgmax2D()(tf.constant(features))
    article_values, article_indices = article_layers.MaxPoolingWithArgmax2D()(tf.constant(features))
    torch_values, torch_indices = F.max_pool2d(torch.from_numpy(features).permute(0, 3, 1, 2).contiguous(), 2, 2, return_indices=True)
    upstream = tf.constant(upstream_numpy)
    torch_upstream = torch.from_numpy(upstream_numpy).permute(0, 3, 1, 2).contiguous()

    article_layer = article_layers.MaxUnpooling2D()
    segdemo_layer = MaxUnpooling2D()

    def article_forward(v: tf.Tensor) -> tf.Tensor:
        return article_layer([v, article_indices])

    def segdemo_forward(v: tf.Tensor) -> tf.Tensor:
        return segdemo_layer(v, indices, output_size=(height, width))

    def tf_forward_backward(forward: Callable[[tf.Tensor], tf.Tensor]) -> Callable[[tf.Tensor], tuple]:
        def step(v: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                tape.watch(v)
                outputs = forward(v)
            return outputs, tape.gradient(outputs, v, output_gradients=upstream)
        return step

    contenders_tf = {"article": (article_forward, article_values), "segdemo": (segdemo_forward, values)}
    graph_forward = {name: tf.function(forward) for name, (forward, _) in contenders_tf.items()}
    graph_step = {name: tf.function(tf_forward_backward(forward)) for name, (forward, _) in contenders_tf.items()}

    def torch_step(memory_format: torch.memory_format) -> Callable[[], tuple]:
        source = torch_values.contiguous(memory_format=memory_format)
        index = torch_indices.contiguous(memory_format=memory_format)
        gradient = torch_upstream.contiguous(memory_format=memory_format)

        def forward() -> torch.Tensor:
            with torch.no_grad():
                return F.max_unpool2d(source, index, 2, 2, output_size=(height, width))

        def forward_backward() -> tuple[torch.Tensor, torch.Tensor]:
            leaf = source.detach().requires_grad_(True)
            outputs = F.max_unpool2d(leaf, index, 2, 2, output_size=(height, width))
            outputs.backward(gradient)
            return outputs.detach(), leaf.grad

        return forward, forward_backward

    torch_contenders = {
        "torch_nchw": torch_step(torch.contiguous_format),
        "torch_channels_last": torch_step(torch.channels_last),
    }

    # 1. Identical outputs and gradients before any timing.
    reference_outputs, reference_gradient = (t.numpy() for t in graph_step["segdemo"](values))
    checks = {}
    for name, (forward, pooled) in contenders_tf.items():
        eager_outputs = forward(pooled).numpy()
        outputs, gradient = (t.numpy() for t in graph_step[name](pooled))
        checks[name] = bool(np.array_equal(eager_outputs, reference_outputs) and np.array_equal(outputs, reference_outputs)
                            and np.array_equal(gradient, reference_gradient))
    for name, (forward, forward_backward) in torch_contenders.items():
        outputs, gradient = forward_backward()
        checks[name] = bool(
            np.array_equal(forward().permute(0, 2, 3, 1).numpy(), reference_outputs)
            and np.array_equal(outputs.permute(0, 2, 3, 1).numpy(), reference_outputs)
            and np.array_equal(gradient.permute(0, 2, 3, 1).numpy(), reference_gradient)
        )
    if not all(checks.values()):
        raise RuntimeError(f"Contenders disagree before timing: {checks}")

    # 2. Timings, interleaved. Reading one element of each result blocks until it exists; the returned CPU
    # tensors of PyTorch exist when the call returns.
    def first_elements(*tensors: tf.Tensor) -> list[float]:
        return [float(tensor[(0,) * len(tensor.shape)]) for tensor in tensors]

    functions: dict[tuple[str, str], Callable[[], object]] = {}
    for name, (forward, pooled) in contenders_tf.items():
        functions[name, "forward"] = lambda forward=forward, pooled=pooled: first_elements(forward(pooled))
        functions[name, "forward_graph"] = lambda name=name, pooled=pooled: first_elements(graph_forward[name](pooled))
        functions[name, "forward_backward"] = lambda name=name, pooled=pooled: first_elements(*graph_step[name](pooled))
    results_to_copy = graph_step["segdemo"](values)
    functions["copy_to_numpy", "forward_backward"] = lambda: [tensor.numpy() for tensor in results_to_copy]
    for name, (forward, forward_backward) in torch_contenders.items():
        functions[name, "forward"] = forward
        functions[name, "forward_backward"] = forward_backward
    timed = interleaved_medians_ms(functions, repeats)
    copy_ms = timed.pop(("copy_to_numpy", "forward_backward"))
    medians: dict[str, dict[str, float]] = {}
    for (name, mode), value in timed.items():
        medians.setdefault(name, {})[mode] = value
    for name in torch_contenders:  # PyTorch has no graph mode here: its eager time stands in that column
        medians[name]["forward_graph"] = medians[name]["forward"]

    modes = ("forward", "forward_graph", "forward_backward")
    ratios = {
        f"article_over_segdemo_{mode}": medians["article"][mode] / medians["segdemo"][mode] for mode in modes
    }
    ratios.update({
        f"segdemo_over_{name}_{mode}": medians["segdemo"][mode] / medians[name][mode]
        for name in torch_contenders for mode in modes
    })
    return {
        "benchmark": "max unpooling 2x2/2",
        "pooled_shape_nhwc": list(shape),
        "output_shape_nhwc": [batch, height, width, channels],
        "repeats": repeats,
        "unit": "ms (median wall time)",
        "identical_outputs": checks,
        "medians_ms": {name: {mode: round(value, 3) for mode, value in row.items()} for name, row in medians.items()},
        "ratios": {name: round(value, 2) for name, value in ratios.items()},
        "copy_to_numpy_ms": round(copy_ms, 3),
        "copy_to_numpy_note": "numpy copies of one forward_backward result (output and gradient); not in the medians",
    }


def format_table(record: dict) -> str:
    """The medians and ratios side by side, as printed by the script."""
    lines = [f"{'contender':<22}{'forward':>12}{'fwd (graph)':>14}{'fwd+bwd':>12}   (ms, median of {record['repeats']})"]
    for name, row in record["medians_ms"].items():
        lines.append(f"{name:<22}{row['forward']:>12.2f}{row['forward_graph']:>14.2f}{row['forward_backward']:>12.2f}")
    lines.append("")
    for name, value in record["ratios"].items():
        lines.append(f"{name:<48}{value:>8.2f}x")
    lines.append(f"\n(copying one fwd+bwd result to numpy, not timed above: {record['copy_to_numpy_ms']:.2f} ms)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"tiny smoke run on {QUICK_SHAPE}")
    parser.add_argument("--shape", type=int, nargs=4, metavar=("N", "h", "w", "C"), default=None,
                        help=f"pooled NHWC shape to unpool (default {FULL_SHAPE}; the output is twice h and w)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds, each calling every contender once in turn (default 21, quick 3)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file (default {DEFAULT_OUTPUT})")
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 21)
    if repeats < 1:
        parser.error(f"--repeats must be at least 1, got {repeats}")
    if args.shape is not None and min(args.shape) < 1:
        parser.error(f"--shape needs four positive sizes, got {args.shape}")
    shape = tuple(args.shape) if args.shape is not None else (QUICK_SHAPE if args.quick else FULL_SHAPE)
    started, load_before = time.perf_counter(), load_average()
    record = run(shape, repeats)
    record["quick"] = args.quick
    record["provenance"] = provenance(started=started, load_before=load_before, argv=argv)
    record = json_safe(record)
    print(format_table(record))
    write_record(record, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
