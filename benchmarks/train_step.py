"""Training-step speed on a CPU: each engine's current step against its framework's best CPU practice.

One training step is what ``fit`` does per batch: the uint8 batch converted to float, forward, weighted
cross entropy with the ignore index (``segdemo.<framework>.train.cross_entropy``), backward, an Adam
update, the loss read back and the arg-max predictions copied to numpy. Every model runs at the standard
profile's size (96x128, batch 8, CamVid's 11 classes with the SegNet tutorial's class weights) on fixed
random data (seeded, 5% ignored pixels). Variants, each beside the current step in the same run:

* PyTorch (``segdemo.torch.train.fit``: NCHW contiguous inputs, deterministic algorithms on, default threads):
  ``channels_last`` (model and inputs in NHWC memory), ``channels_last_nondeterministic`` (also
  ``torch.use_deterministic_algorithms(False)``), ``threads`` (``torch.set_num_threads`` = physical cores,
  only when that differs from torch's default), ``compiled`` (``torch.compile`` of the channels_last model,
  deterministic algorithms on, as an engine would adopt it) and ``bfloat16_autocast``.
* Keras (``segdemo.tensorflow.train.fit``: ``tf.function`` without ``jit_compile``, op determinism on):
  ``nondeterministic`` (op determinism off), ``jit_compile`` (``tf.function(jit_compile=True)``: the whole
  step compiled by XLA, op determinism on), ``jit_compile_nondeterministic`` (XLA, op determinism off:
  TensorFlow refuses max pooling's gradient under XLA with op determinism on, even on a CPU) and
  ``mixed_bfloat16`` (the model built under that Keras policy).

The two bfloat16 variants compute with 8-bit mantissas: they are measured to show what reduced precision buys
on a CPU with bfloat16 instructions (``provenance.cpu_flags``), and by construction they do not match the
current step; adopting one is a change of recipe, not a speed-up of the same arithmetic.

Correctness before speed: every variant starts from the current variant's initial weights and a fresh Adam,
takes two steps on the same batch, and records the loss of the first (identical weights: the forward and the
loss) and of the second (after one update: the backward and Adam). Adam's first update is about
``learning_rate * sign(gradient)``, so float noise in a gradient near zero flips whole updates: the loss after
it moves far more than the loss before it. The noise floor measures that: the current step again, from
weights moved by one unit in the last place. A variant ``matches_current`` when each loss is within
``RELATIVE_TOLERANCE`` (1e-4) of the current step's or within ``NOISE_MARGIN`` times the floor; one that does
not is not adoptable however fast it is. For a fast model the two steps are repeated from the same weights,
and ``reproducible`` says whether they gave bit-identical losses (the engines promise identical histories
for identical runs).
Dropout is switched off (rate 0) in every model so the check compares arithmetic, not random streams; at
96x128 the dropout layers act on maps of 3x4 (FCN) or 6x8 (SegNet-small) pixels, a negligible share of a step.

Timing: after the check and ``--warmup`` untimed rounds, ``--steps`` rounds run every variant of one model and
framework once each, in rotating order, so a slow spell of the (shared) machine falls on all of them alike.
Medians and minima of the wall time per step, and ratios of both to the current step's. A slow model (its
warm current step takes longer than ``--slow-seconds``) gets ``--slow-steps`` timed rounds, no warm-up, no
repeat of the check, and only the main candidates (``channels_last``, ``bfloat16_autocast`` and ``compiled``
if ``--compile-slow``; ``jit_compile_nondeterministic`` and ``mixed_bfloat16``). Compiling (``torch.compile``, XLA) happens in the check's first step and is
reported as ``first_step_seconds``; it is paid once per input shape (the last, smaller batch of an epoch and
every evaluation batch size compile again). Inductor keeps compiled kernels on disk, so a second run of the
script compiles in seconds.

A variant that cannot run (no C++ compiler for ``torch.compile``, an operation XLA cannot compile) is recorded
with ``status: "failed"`` and the first line of the error; the run goes on. ``xla_sizes`` records whether the
step of each model with pooling indices compiles under ``jit_compile=True`` at an odd size (90x120, batch 1),
where floor pooling leaves a row or column that unpooling must restore (the standard size is the variants'
own record).

Usage:
    python benchmarks/train_step.py            # five models, both frameworks; ~10 minutes on 2 idle CPU cores
    # the committed results/benchmarks/train_step.json (about 9 minutes):
    python benchmarks/train_step.py --steps 8 --warmup 0 --slow-seconds 1.5 --slow-steps 2
    python benchmarks/train_step.py --models segnet_basic --steps 12
    python benchmarks/train_step.py --quick --output /tmp/train_step.json   # smoke run: segnet_basic, 32x32
"""

from __future__ import annotations

import argparse
import gc
import inspect
import math
import os
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:  # run as a script from a checkout, the package not installed
    sys.path.insert(0, str(REPOSITORY))

from segdemo.data.camvid import CLASS_NAMES, TUTORIAL_CLASS_WEIGHTS  # noqa: E402
from segdemo.training import ADAM_BETAS, ADAM_EPSILON, IGNORE_INDEX, images_to_float  # noqa: E402
from provenance import (cpu_flags, json_safe, load_average, physical_cores, provenance,  # noqa: E402
                        write_record)

DEFAULT_OUTPUT = REPOSITORY / "results" / "benchmarks" / "train_step.json"
DEFAULT_MODELS = ("segnet_basic", "segnet_small", "segnet", "fcn8s", "resnet50_segnet")
FRAMEWORKS = ("pytorch", "tensorflow")
STANDARD_SIZE = (96, 128)  # segdemo.profiles.PROFILES["standard"]
STANDARD_BATCH = 8
ODD_SIZE = (90, 120)  # pools to 45x60, 22x30, 11x15, 5x7: every stage but the first floors
QUICK_SIZE = (32, 32)
QUICK_BATCH = 2
QUICK_ODD_SIZE = (35, 37)  # floors at every stage of a stride-16 model
QUICK_WIDTH = 4  # for the builders that take ``width`` (segnet_small, encoder_decoder)
NUM_CLASSES = len(CLASS_NAMES)  # CamVid's 11; void is the ignore index, not a class
LEARNING_RATE = 1e-3
IGNORED_FRACTION = 0.05
RELATIVE_TOLERANCE = 1e-4
NOISE_MARGIN = 4.0  # a variant may differ by up to 4x what one-ulp weight changes do to the current step
MEANINGFUL_RATIO = 1.05  # a faster variant must beat the current step by 5% in median and minimum to be "best"
SEED = 0


# ----------------------------------------------------------------------------------------------------------
# Which variants this CPU can time


BFLOAT16_VARIANTS = ("bfloat16_autocast", "mixed_bfloat16")


def bfloat16_skip_reason(flags: dict[str, bool], forced: bool) -> str | None:
    """Why the bfloat16 variants are not timed on this CPU, or ``None`` when they are.

    Without ``avx512_bf16`` or ``amx_bf16`` bfloat16 arithmetic is emulated: on a 2-core AVX2 CPU one SegNet-Basic
    step took minutes instead of about a second, so timing it would hold the benchmark for an hour.
    """
    if forced or flags.get("avx512_bf16") or flags.get("amx_bf16"):
        return None
    return ("this CPU has no bfloat16 instructions (neither avx512_bf16 nor amx_bf16 in /proc/cpuinfo), so a "
            "bfloat16 step is emulated and takes minutes; pass --bfloat16-anyway to time it")


def one_line(error: BaseException) -> str:
    """``Type: first line of the message`` (at most 300 characters), for the JSON.

    XLA's "Detected unsupported operations" message is reduced to the operations it names.
    """
    message = str(error)
    missing = sorted(set(re.findall(r"No registered '(\w+)' OpKernel for (\w+) devices", message)))
    if missing:
        operations = ", ".join(sorted({operation for operation, _ in missing}))
        devices = ", ".join(sorted({device for _, device in missing}))
        return f"{type(error).__name__}: XLA cannot compile the step: no {devices} kernel for {operations}"
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in message.splitlines()]
    lines = [line for line in lines if line]
    if lines and lines[0] == "in user code:":
        # A tf.function's error: the traced frames first, then "SomeError: ..." and its explanation.
        for index, line in enumerate(lines):
            if re.match(r"^\w+(Error|Exception): ", line):
                return " ".join(lines[index:index + 2])[:300]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


# ----------------------------------------------------------------------------------------------------------
# Data


def fixed_batch(batch_size: int, size: tuple[int, int], seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Random images uint8 (N, H, W, 3) and masks uint8 (N, H, W) with class ids and 5% ignored pixels."""
    generator = np.random.default_rng(seed)
    height, width = size
    images = generator.integers(0, 256, (batch_size, height, width, 3), dtype=np.uint8)
    masks = generator.integers(0, NUM_CLASSES, (batch_size, height, width), dtype=np.uint8)
    masks[generator.random((batch_size, height, width)) < IGNORED_FRACTION] = IGNORE_INDEX
    return images, masks


def builder_arguments(framework_registry: dict, model: str, quick: bool) -> dict:
    if quick and "width" in inspect.signature(framework_registry[model]).parameters:
        return {"width": QUICK_WIDTH}
    return {}


# ----------------------------------------------------------------------------------------------------------
# Variants: a step function per way of training, all of one model and framework timed together


class Variant:
    """One way to take a training step.

    ``step()`` takes one on the fixed batch and returns the loss as a float; ``step(images, masks)`` takes one
    on another batch. ``reset()`` restores the initial weights and a fresh optimizer state; ``perturb()`` (the
    current variant only) then changes every weight by about one unit in the last place, to measure how much
    float noise alone moves the losses. ``extra`` variants and those that ``compiles_for_minutes`` are left out
    for a slow model.
    """

    def __init__(self, name: str, description: str, step: Callable[..., float], reset: Callable[[], None], *,
                 perturb: Callable[[], None] | None = None, extra: bool = False,
                 compiles_for_minutes: bool = False) -> None:
        self.name = name
        self.description = description
        self.step = step
        self.reset = reset
        self.perturb = perturb
        self.extra = extra
        self.compiles_for_minutes = compiles_for_minutes
        self.record: dict = {"description": description, "status": "ok"}
        self.seconds: list[float] = []


def ulp_factors(shape: tuple[int, ...], generator: np.random.Generator) -> np.ndarray:
    """float32 factors 1 +- 2**-23 (one unit in the last place of a float32 in [1, 2)), random signs."""
    signs = generator.integers(0, 2, shape).astype(np.float32) * 2 - 1
    return (1 + np.float32(2.0**-23) * signs).astype(np.float32)


def torch_variants(model_name: str, images: np.ndarray, masks: np.ndarray, *, quick: bool,
                   compile_model: bool) -> tuple[list[Variant], dict, Callable[[], None]]:
    """The PyTorch variants of ``model_name``; returns (variants, notes for the JSON, cleanup)."""
    import torch
    from torch import nn

    from segdemo.torch import models
    from segdemo.torch.train import cross_entropy

    notes: dict = {"torch_default_threads": torch.get_num_threads(), "physical_cores": physical_cores()}
    torch.manual_seed(SEED)
    reference = models.build_model(model_name, NUM_CLASSES, **builder_arguments(models.MODEL_BUILDERS, model_name, quick))
    for module in reference.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    initial_state = {name: tensor.clone() for name, tensor in reference.state_dict().items()}
    weights = torch.from_numpy(np.asarray(TUTORIAL_CLASS_WEIGHTS, dtype=np.float32))

    def adam(model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, betas=ADAM_BETAS, eps=ADAM_EPSILON)

    def make(name: str, description: str, model: nn.Module, forward: Callable, optimizer: torch.optim.Optimizer, *,
             channels_last: bool, deterministic: bool, threads: int | None, bfloat16: bool = False,
             **options) -> Variant:
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        default_threads = notes["torch_default_threads"]

        def step(batch_images: np.ndarray = images, batch_masks: np.ndarray = masks) -> float:
            # As segdemo.torch.train.fit: its _deterministic context, _to_tensors, the loss, the update, the reads.
            torch.set_num_threads(threads or default_threads)
            torch.use_deterministic_algorithms(deterministic, warn_only=True)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*does not have a deterministic implementation")
                inputs = torch.from_numpy(images_to_float(batch_images)).permute(0, 3, 1, 2)
                inputs = inputs.contiguous(memory_format=memory_format)
                labels = torch.from_numpy(batch_masks.astype(np.int64))
                # fit's autocast: float16 on a GPU only; the bfloat16 variant uses oneDNN's bfloat16 kernels on a CPU.
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
                    logits = forward(inputs)
                numerator, denominator = cross_entropy(logits, labels, weights, IGNORE_INDEX)
                loss = numerator / denominator.clamp_min(1e-12)
                loss_value = float(loss.detach())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                float(numerator.detach()), float(denominator)
                logits.detach().argmax(dim=1).to(torch.uint8).cpu().numpy()
            return loss_value

        def reset() -> None:
            model.load_state_dict(initial_state)  # copies into the existing tensors: their memory format stays
            optimizer.state.clear()

        def perturb() -> None:
            generator = np.random.default_rng(SEED + 1)
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.mul_(torch.from_numpy(ulp_factors(tuple(parameter.shape), generator)))

        return Variant(name, description, step, reset, perturb=perturb, **options)

    nchw = reference
    nchw.train()
    channels_last = models.build_model(model_name, NUM_CLASSES, **builder_arguments(models.MODEL_BUILDERS, model_name, quick))
    for module in channels_last.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    channels_last.load_state_dict(initial_state)
    channels_last.to(memory_format=torch.channels_last)
    channels_last.train()
    nchw_optimizer, channels_last_optimizer = adam(nchw), adam(channels_last)

    variants = [
        make("current", "as fit: NCHW contiguous, deterministic algorithms on, default threads",
             nchw, nchw, nchw_optimizer, channels_last=False, deterministic=True, threads=None),
        make("channels_last", "model and inputs channels_last; deterministic algorithms on",
             channels_last, channels_last, channels_last_optimizer, channels_last=True, deterministic=True, threads=None),
        make("channels_last_nondeterministic", "channels_last and torch.use_deterministic_algorithms(False)",
             channels_last, channels_last, channels_last_optimizer, channels_last=True, deterministic=False, threads=None,
             extra=True),
    ]
    variants.append(make(
        "bfloat16_autocast", "NCHW, torch.autocast('cpu', dtype=torch.bfloat16) around the forward: changes the "
        "numerics (8-bit mantissas), so it cannot match; fast only on CPUs with bfloat16 instructions",
        nchw, nchw, nchw_optimizer, channels_last=False, deterministic=True, threads=None, bfloat16=True))
    if notes["physical_cores"] != notes["torch_default_threads"]:
        variants.append(make(
            "threads", f"channels_last, torch.set_num_threads({notes['physical_cores']}) (physical cores)",
            channels_last, channels_last, channels_last_optimizer, channels_last=True, deterministic=True,
            threads=notes["physical_cores"], extra=True))
    else:
        notes["threads_note"] = (f"torch's default threads ({notes['torch_default_threads']}) already equal the "
                                 "physical cores: no separate variant")
    compiled_description = "torch.compile(model) of the channels_last model; deterministic algorithms on"
    if compile_model:
        compiled = torch.compile(channels_last)
        variants.append(make("compiled", compiled_description, channels_last, compiled, channels_last_optimizer,
                             channels_last=True, deterministic=True, threads=None, compiles_for_minutes=True))
    else:
        skipped = Variant("compiled", compiled_description, lambda *batch: math.nan, lambda: None)
        skipped.record.update(status="skipped", reason="not asked for (--quick or --no-compile): compiling takes about "
                                                      "a minute per model and input shape on 2 cores")
        variants.append(skipped)

    def cleanup() -> None:
        torch.use_deterministic_algorithms(False)
        torch.set_num_threads(notes["torch_default_threads"])
        torch._dynamo.reset()

    return variants, notes, cleanup


def _keras_layers(model) -> list:
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found.extend(_keras_layers(layer))
    return found


def has_pooling_indices(model) -> bool:
    from segdemo.tensorflow.pooling import MaxPoolingWithArgmax2D

    return any(isinstance(layer, MaxPoolingWithArgmax2D) for layer in _keras_layers(model))


def keras_train_step(model, optimizer, weights, *, jit_compile: bool):
    """``segdemo.tensorflow.train._make_steps``'s ``train_step`` (Adam, no weight decay), ``jit_compile`` aside."""
    import tensorflow as tf

    from segdemo.tensorflow.train import cross_entropy

    variables = model.trainable_variables
    image_spec = tf.TensorSpec([None, None, None, 3], tf.float32)
    label_spec = tf.TensorSpec([None, None, None], tf.int32)

    @tf.function(input_signature=[image_spec, label_spec], reduce_retracing=True, jit_compile=jit_compile)
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            numerator, denominator = cross_entropy(logits, labels, weights, IGNORE_INDEX)
            loss = numerator / tf.maximum(denominator, 1e-12)
            objective = optimizer.scale_loss(loss)
        gradients = tape.gradient(objective, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return loss, numerator, denominator, predictions

    return train_step


def build_keras(model_name: str, quick: bool, policy: str = "float32"):
    import keras

    from segdemo.tensorflow import models

    keras.utils.set_random_seed(SEED)
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = models.build_model(model_name, NUM_CLASSES,
                                   **builder_arguments(models.MODEL_BUILDERS, model_name, quick))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    for layer in _keras_layers(model):
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    beta_1, beta_2 = ADAM_BETAS
    optimizer = keras.optimizers.Adam(learning_rate=LEARNING_RATE, beta_1=beta_1, beta_2=beta_2, epsilon=ADAM_EPSILON)
    optimizer.build(model.trainable_variables)
    return model, optimizer


def tensorflow_variants(model_name: str, images: np.ndarray, masks: np.ndarray, *,
                        quick: bool) -> tuple[list[Variant], dict, Callable[[], None]]:
    """The Keras variants of ``model_name`` (one model and optimizer, one ``tf.function`` per variant)."""
    import keras
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config  # disable_op_determinism is not public

    model, optimizer = build_keras(model_name, quick)
    # The same architecture built under the mixed_bfloat16 policy (float32 variables, bfloat16 compute),
    # given the same initial weights by reset().
    bfloat16_model, bfloat16_optimizer = build_keras(model_name, quick, policy="mixed_bfloat16")
    weights = tf.constant(np.asarray(TUTORIAL_CLASS_WEIGHTS, dtype=np.float32))
    initial_weights = [np.array(value) for value in model.get_weights()]
    initial_optimizer = [np.array(variable.numpy()) for variable in optimizer.variables]
    notes = {"pooling_indices": has_pooling_indices(model)}

    def reset() -> None:
        for each_model, each_optimizer in ((model, optimizer), (bfloat16_model, bfloat16_optimizer)):
            each_model.set_weights(initial_weights)
            for variable, value in zip(each_optimizer.variables, initial_optimizer):
                variable.assign(value)

    def perturb() -> None:
        generator = np.random.default_rng(SEED + 1)
        model.set_weights([value * ulp_factors(value.shape, generator) if value.dtype == np.float32 else value
                           for value in model.get_weights()])

    def make(name: str, description: str, *, jit_compile: bool, deterministic: bool, extra: bool = False,
             bfloat16: bool = False) -> Variant:
        train_step = (keras_train_step(bfloat16_model, bfloat16_optimizer, weights, jit_compile=jit_compile) if bfloat16
                      else keras_train_step(model, optimizer, weights, jit_compile=jit_compile))

        def step(batch_images: np.ndarray = images, batch_masks: np.ndarray = masks) -> float:
            # As segdemo.tensorflow.train.fit: _set_determinism, _tensors, train_step, the reads.
            if deterministic:
                tf.config.experimental.enable_op_determinism()
            else:
                tf_config.disable_op_determinism()
            inputs = tf.convert_to_tensor(images_to_float(batch_images))
            labels = tf.convert_to_tensor(batch_masks.astype(np.int32))
            loss, numerator, denominator, predicted = train_step(inputs, labels)
            loss_value = float(loss)
            float(numerator), float(denominator)
            predicted.numpy().astype(np.uint8)
            return loss_value

        return Variant(name, description, step, reset, perturb=perturb, extra=extra)

    variants = [
        make("current", "as fit: tf.function without jit_compile, op determinism on", jit_compile=False, deterministic=True),
        make("nondeterministic", "tf.function, op determinism off", jit_compile=False, deterministic=False, extra=True),
        make("jit_compile", "tf.function(jit_compile=True): the whole step compiled by XLA; op determinism on",
             jit_compile=True, deterministic=True, extra=True),
        make("jit_compile_nondeterministic", "tf.function(jit_compile=True), op determinism off",
             jit_compile=True, deterministic=False),
        make("mixed_bfloat16", "model built under keras.mixed_precision policy 'mixed_bfloat16': changes the numerics "
             "(8-bit mantissas), so it cannot match; fast only on CPUs with bfloat16 instructions",
             jit_compile=False, deterministic=True, bfloat16=True),
    ]

    def cleanup() -> None:
        tf.config.experimental.enable_op_determinism()  # the engines' state: fit switches it on for the process
        keras.backend.clear_session()

    return variants, notes, cleanup


def size_check(variants: list[Variant], sizes: list[tuple[int, int]]) -> dict[str, dict]:
    """Whether each variant takes a step at each size (batch 1) and agrees with the current step's loss there.

    Used for the Keras ``jit_compile`` variant of models with pooling indices: XLA compiles once per input
    shape, and odd sizes take the unpooling's padding path.
    """
    current = next(variant for variant in variants if variant.name == "current")
    checks: dict[str, dict] = {}
    for size in sizes:
        images, masks = fixed_batch(1, size)
        current.reset()
        reference = current.step(images, masks)
        for variant in variants:
            if variant is current or variant.record["status"] == "skipped":
                continue
            entry: dict = {"size": list(size)}
            variant.reset()
            try:
                loss = variant.step(images, masks)
            except Exception as error:  # noqa: BLE001 - any failure is the finding
                entry.update(runs=False, reason=one_line(error))
            else:
                relative = abs(loss - reference) / abs(reference)
                entry.update(runs=True, relative_loss_difference=relative, matches_current=relative <= RELATIVE_TOLERANCE)
            checks.setdefault(variant.name, {})[f"{size[0]}x{size[1]}"] = entry
    return checks


# ----------------------------------------------------------------------------------------------------------
# The procedure: check, warm up, time


def relative_differences(losses: tuple[float, float], reference: tuple[float, float]) -> dict[str, float]:
    return {"before_step": abs(losses[0] - reference[0]) / abs(reference[0]),
            "after_one_step": abs(losses[1] - reference[1]) / abs(reference[1])}


def check_variants(variants: list[Variant], *, slow_seconds: float, compile_slow: bool) -> tuple[bool, dict | None]:
    """Two steps from the initial weights per variant, compared with the current step's.

    The current variant goes first: its second (warm) step decides whether the model is slow (longer than
    ``slow_seconds``), and the same two steps from weights moved by one unit in the last place give the noise
    floor. A variant matches when each loss is within ``RELATIVE_TOLERANCE`` of the current one's, or within
    ``NOISE_MARGIN`` times the noise floor (Adam's first update is about ``learning_rate * sign(gradient)``,
    so the loss after it moves with float noise far more than the loss before it). For a fast model each
    variant repeats its two steps from the same weights, to see whether they are bit-reproducible; a slow
    model skips the repeat, the ``extra`` variants and, unless ``compile_slow``, those that compile for minutes.

    Returns:
        ``(slow, noise floor)``; the floor is ``{"before_step": float, "after_one_step": float}`` or ``None``.
    """
    reference: tuple[float, float] | None = None
    floor: dict[str, float] | None = None
    slow = False
    for variant in variants:
        if variant.record["status"] != "ok":
            continue
        if slow and variant.extra:
            variant.record.update(status="skipped", reason=f"slow model (a step takes over {slow_seconds} s): only the "
                                                           "current step and the main candidates run")
            continue
        if slow and variant.compiles_for_minutes and not compile_slow:
            variant.record.update(status="skipped", reason=f"slow model (a step takes over {slow_seconds} s): compiling "
                                                           "would take minutes; pass --compile-slow to include it")
            continue
        try:
            variant.reset()
            started = time.perf_counter()
            first = variant.step()
            variant.record["first_step_seconds"] = round(time.perf_counter() - started, 3)
            started = time.perf_counter()
            losses = (first, variant.step())
            if reference is None:
                slow = time.perf_counter() - started > slow_seconds
                reference = losses
                if variant.perturb is not None:
                    variant.reset()
                    variant.perturb()
                    floor = relative_differences((variant.step(), variant.step()), reference)
            repeated = None
            if not slow:
                variant.reset()
                repeated = (variant.step(), variant.step())
        except Exception as error:  # noqa: BLE001 - a variant that cannot run is recorded, not fatal
            variant.record.update(status="failed", reason=one_line(error))
            continue
        relative = relative_differences(losses, reference)
        bounds = {key: max(RELATIVE_TOLERANCE, NOISE_MARGIN * (floor or {}).get(key, 0.0)) for key in relative}
        variant.record.update(
            loss_before_step=losses[0], loss_after_one_step=losses[1], relative_loss_difference=relative,
            within_relative_tolerance=all(value <= RELATIVE_TOLERANCE for value in relative.values()),
            matches_current=all(relative[key] <= bounds[key] for key in relative),
            reproducible=None if repeated is None else repeated == losses,
        )
    return slow, floor


def time_variants(variants: list[Variant], *, warmup: int, rounds: int) -> None:
    """``warmup`` untimed, then ``rounds`` timed rounds of every variant that ran, in rotating order."""
    alive = [variant for variant in variants if variant.record["status"] == "ok"]
    for _ in range(warmup):
        for variant in alive:
            variant.step()
    for round_number in range(rounds):
        shift = round_number % len(alive) if alive else 0
        for variant in alive[shift:] + alive[:shift]:
            started = time.perf_counter()
            variant.step()
            variant.seconds.append(time.perf_counter() - started)


def summarise(variants: list[Variant], batch_size: int) -> dict[str, dict]:
    current = next((v for v in variants if v.name == "current" and v.seconds), None)
    summary = {}
    for variant in variants:
        record = dict(variant.record)
        if variant.seconds:
            median = statistics.median(variant.seconds)
            record.update(
                seconds_per_step_median=round(median, 4),
                seconds_per_step_min=round(min(variant.seconds), 4),
                images_per_second_median=round(batch_size / median, 3),
                step_seconds=[round(value, 4) for value in variant.seconds],
            )
            if current is not None:
                record["ratio_vs_current"] = round(statistics.median(current.seconds) / median, 3)
                record["ratio_of_minima_vs_current"] = round(min(current.seconds) / min(variant.seconds), 3)
        summary[variant.name] = record
    return summary


def best_adoptable(summary: dict[str, dict]) -> str | None:
    """The fastest variant that matches the current step's losses and beats it by ``MEANINGFUL_RATIO`` in both
    the median and the minimum (else ``"current"``; ``None`` if the current step did not run)."""
    if "ratio_vs_current" not in summary.get("current", {}):
        return None
    candidates = [(record["ratio_vs_current"], name) for name, record in summary.items()
                  if record.get("matches_current") and record.get("ratio_vs_current", 0) >= MEANINGFUL_RATIO
                  and record.get("ratio_of_minima_vs_current", 0) >= MEANINGFUL_RATIO]
    return max(candidates)[1] if candidates else "current"


def benchmark_model(model_name: str, framework: str, *, size: tuple[int, int], batch_size: int, quick: bool,
                    compile_model: bool, warmup: int, steps: int, slow_seconds: float, slow_steps: int,
                    odd_size: tuple[int, int], compile_slow: bool, bfloat16_skip: str | None = None) -> dict:
    images, masks = fixed_batch(batch_size, size)
    load_before, started = load_average(), time.perf_counter()
    if framework == "pytorch":
        variants, notes, cleanup = torch_variants(model_name, images, masks, quick=quick, compile_model=compile_model)
    else:
        variants, notes, cleanup = tensorflow_variants(model_name, images, masks, quick=quick)
    for variant in variants:
        if bfloat16_skip and variant.name in BFLOAT16_VARIANTS:
            variant.record.update(status="skipped", reason=bfloat16_skip)
    try:
        slow, floor = check_variants(variants, slow_seconds=slow_seconds, compile_slow=compile_slow)
        rounds = slow_steps if slow else steps
        time_variants(variants, warmup=0 if slow else warmup, rounds=rounds)
        summary = summarise(variants, batch_size)
        if notes.get("pooling_indices"):
            # The jit_compile variants at an odd size (batch 1), after the timing; this size is their own record.
            notes["sizes"] = size_check([v for v in variants if v.name == "current" or v.name.startswith("jit_compile")],
                                        [odd_size])
    finally:
        del variants
        cleanup()
        gc.collect()
    return {"slow": slow, "timed_steps": rounds, "noise_floor": floor, **notes, "variants": summary,
            "best_adoptable": best_adoptable(summary), "load_average_before": load_before,
            "load_average_after": load_average(), "wall_seconds": round(time.perf_counter() - started, 1)}


# ----------------------------------------------------------------------------------------------------------
# Report


def format_table(record: dict) -> str:
    """Medians, ratios and the correctness check side by side, as printed by the script."""
    height, width = record["image_size"]
    lines = [f"one training step, {height}x{width}, batch {record['batch_size']}, {record['num_classes']} classes "
             f"(median of the timed steps; ratio = images/s over the current step's)",
             f"{'model':<16}{'framework':<11}{'variant':<32}{'s/step':>8}{'min':>8}{'img/s':>8}{'ratio':>7}"
             f"{'loss rel. diff':>16}  ok"]
    for model_name, frameworks in record["models"].items():
        for framework, result in frameworks.items():
            for name, variant in result["variants"].items():
                prefix = f"{model_name:<16}{framework:<11}{name:<32}"
                if variant["status"] != "ok":
                    lines.append(f"{prefix}{variant['status']}: {variant.get('reason', '')}"[:200])
                    continue
                difference = variant.get("relative_loss_difference", {})
                largest = max(difference.values()) if difference else math.nan
                lines.append(
                    f"{prefix}{variant.get('seconds_per_step_median', math.nan):>8.3f}"
                    f"{variant.get('seconds_per_step_min', math.nan):>8.3f}"
                    f"{variant.get('images_per_second_median', math.nan):>8.2f}"
                    f"{variant.get('ratio_vs_current', math.nan):>6.2f}x{largest:>16.1e}  "
                    f"{'yes' if variant.get('matches_current') else 'NO'}"
                    f"{' (not bit-reproducible)' if variant.get('reproducible') is False else ''}")
            floor = result.get("noise_floor") or {}
            lines.append(f"{'':<27}best adoptable: {result['best_adoptable']}; {result['timed_steps']} timed steps"
                         f"{' (slow model)' if result['slow'] else ''}; noise floor {floor.get('before_step', math.nan):.1e}"
                         f" before, {floor.get('after_one_step', math.nan):.1e} after one step")
    if record.get("xla_sizes"):
        lines.append("\nKeras step under jit_compile=True, models with pooling indices (batch 1):")
        for model_name, variants in record["xla_sizes"].items():
            for name, sizes in variants.items():
                for size, entry in sizes.items():
                    verdict = ("runs, loss matches" if entry.get("matches_current") else "runs, loss DIFFERS") \
                        if entry["runs"] else f"fails: {entry['reason']}"
                    lines.append(f"  {model_name:<16}{name:<30}{size:<9}{verdict}"[:220])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=None, metavar="MODEL",
                        help=f"models of the registry (default: {' '.join(DEFAULT_MODELS)}; quick: segnet_basic)")
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--steps", type=int, default=None, help="timed rounds per model (default 8, quick 2)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed rounds per model after the correctness check's steps, none for a slow model "
                             "(default 1, quick 0)")
    parser.add_argument("--slow-seconds", type=float, default=2.5,
                        help="a model whose warm step takes longer gets --slow-steps timed rounds (default 2.5)")
    parser.add_argument("--slow-steps", type=int, default=3, help="timed rounds of a slow model (default 3)")
    parser.add_argument("--compile", dest="compile_model", action=argparse.BooleanOptionalAction, default=None,
                        help="include torch.compile (default: yes, except with --quick)")
    parser.add_argument("--compile-slow", action="store_true",
                        help="also compile slow models (minutes each), which are otherwise skipped")
    parser.add_argument("--bfloat16-anyway", action="store_true",
                        help="time the bfloat16 variants even on a CPU without bfloat16 instructions (minutes a step)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK_SIZE[0]}x{QUICK_SIZE[1]}, batch {QUICK_BATCH}, width {QUICK_WIDTH}, 2 steps")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file (default {DEFAULT_OUTPUT})")
    parser.add_argument("--note", default=None, help="free text kept in the JSON, e.g. what else ran on the machine")
    args = parser.parse_args(argv)

    from segdemo.torch.models import MODEL_BUILDERS as TORCH_BUILDERS  # imports torch; after parsing --help

    models = args.models or (["segnet_basic"] if args.quick else list(DEFAULT_MODELS))
    unknown = [name for name in models if name not in TORCH_BUILDERS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(sorted(TORCH_BUILDERS))}")
    steps = args.steps if args.steps is not None else (2 if args.quick else 8)
    warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)
    for name, value, least in (("--steps", steps, 1), ("--warmup", warmup, 0), ("--slow-steps", args.slow_steps, 1)):
        if value < least:
            parser.error(f"{name} must be at least {least}, got {value}")
    compile_model = args.compile_model if args.compile_model is not None else not args.quick
    size, batch_size = (QUICK_SIZE, QUICK_BATCH) if args.quick else (STANDARD_SIZE, STANDARD_BATCH)

    # Both frameworks are imported even for one of them, so that provenance() records both versions.
    import keras  # noqa: F401
    import tensorflow as tf
    import torch  # noqa: F401

    started = time.perf_counter()
    load_before = load_average()
    tf.config.experimental.enable_op_determinism()  # what fit leaves switched on; variants toggle it per step
    record: dict = {
        "benchmark": "one training step: uint8 batch to float, forward, weighted cross entropy, backward, Adam, "
                     "loss and predictions read back",
        "schema": 1,
        "quick": args.quick,
        "image_size": list(size),
        "batch_size": batch_size,
        "num_classes": NUM_CLASSES,
        "class_weights": "segdemo.data.camvid.TUTORIAL_CLASS_WEIGHTS",
        "ignored_pixels": IGNORED_FRACTION,
        "optimizer": {"name": "adam", "learning_rate": LEARNING_RATE},
        "dropout": "rate 0 in every model, so that losses compare arithmetic rather than random streams",
        "relative_tolerance": RELATIVE_TOLERANCE,
        "noise_margin": NOISE_MARGIN,
        "matches_current_rule": "each loss (before the step, after one update) within relative_tolerance of the "
                                "current step's, or within noise_margin times the noise floor: the difference the "
                                "current step itself shows from weights moved by one unit in the last place",
        "warmup_rounds": warmup,
        "steps": steps,
        "slow_seconds": args.slow_seconds,
        "slow_steps": args.slow_steps,
        "note": args.note,
        "models": {},
        "xla_sizes": {},
        "xla_sizes_note": "the Keras jit_compile steps of each model with pooling indices at an odd size (batch 1), "
                          "their loss against the current step's from the same weights; the benchmark's size is in "
                          "the variants' own records",
    }
    for model_name in models:
        record["models"][model_name] = {}
        for framework in args.frameworks:
            print(f"{model_name} / {framework} ... ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
            result = benchmark_model(
                model_name, framework, size=size, batch_size=batch_size, quick=args.quick, compile_model=compile_model,
                warmup=warmup, steps=steps, slow_seconds=args.slow_seconds, slow_steps=args.slow_steps,
                odd_size=QUICK_ODD_SIZE if args.quick else ODD_SIZE, compile_slow=args.compile_slow,
                bfloat16_skip=bfloat16_skip_reason(cpu_flags(), args.bfloat16_anyway))
            if "sizes" in result:
                record["xla_sizes"][model_name] = result.pop("sizes")
            record["models"][model_name][framework] = result
    record["provenance"] = provenance(started=started, load_before=load_before, argv=argv)
    record = json_safe(record)
    print(format_table(record))
    write_record(record, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
