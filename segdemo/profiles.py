"""Run profiles: how much data, how large, how long.

Every chapter and the experiment runner read one profile, chosen by the ``SEGDEMO_PROFILE`` environment
variable:

* ``quick``: synthetic shapes at 64x64, a few epochs. Seconds to two minutes per chapter on a CPU; CI and nbval.
* ``standard``: CamVid at 96x128 (a quarter of the paper's side), minutes per model on a CPU.
* ``full``: CamVid at the paper's 360x480; meant for a GPU.
* ``auto``: ``full`` when a CUDA GPU is visible, else ``quick``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

ENVIRONMENT_VARIABLE = "SEGDEMO_PROFILE"


@dataclasses.dataclass(frozen=True)
class Profile:
    """What one profile trains on and for how long.

    Attributes:
        name: ``"quick"``, ``"standard"`` or ``"full"``.
        dataset: ``"synthetic"`` or ``"camvid"``.
        image_size: ``(height, width)`` every image is resized to. The book's models take any size
            (odd sizes after pooling included), so the full profile keeps the paper's 360x480.
        batch_size: images per training step.
        epochs: passes over the training set.
        max_train_images: cap on training images (``None``: the whole split).
        max_val_images: cap on validation images (``None``: the whole split).
        description: one sentence for readers.
        augment: the training recipe's augmentation (``segdemo.augmentation``), ``"none"`` or e.g.
            ``"flip,scale,color"``.
        schedule: the learning-rate schedule, ``"constant"`` or ``"cosine"``.
        precision: arithmetic of the training steps on a CPU, ``"float32"`` or ``"bfloat16"`` (mixed
            precision; see ``segdemo.training.PRECISIONS``).
    """

    name: str
    dataset: str
    image_size: tuple[int, int]
    batch_size: int
    epochs: int
    max_train_images: int | None
    max_val_images: int | None
    description: str
    augment: str = "none"
    schedule: str = "constant"
    precision: str = "float32"


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        dataset="synthetic",
        image_size=(64, 64),
        batch_size=8,
        epochs=3,
        max_train_images=96,
        max_val_images=32,
        description="synthetic shapes at 64x64, up to two minutes per chapter on a CPU",
    ),
    "standard": Profile(
        name="standard",
        dataset="camvid",
        image_size=(96, 128),
        batch_size=8,
        # The recipe that generalised best to the unseen test drive in chapter 5's ablation (SegNet-Basic,
        # results/ablation/camvid): joint augmentation and a cosine decay over 40 epochs, ~40 CPU minutes.
        epochs=40,
        max_train_images=None,
        max_val_images=None,
        description="CamVid at 96x128, flips, scale and colour jitter, cosine decay; CPU minutes per model",
        augment="flip,scale,color",
        schedule="cosine",
    ),
    "full": Profile(
        name="full",
        dataset="camvid",
        image_size=(360, 480),
        batch_size=4,
        epochs=100,
        max_train_images=None,
        max_val_images=None,
        description="CamVid at the paper's 360x480, for a GPU",
    ),
}


def cuda_available() -> bool:
    """Whether an NVIDIA GPU is visible, checked without importing a framework."""
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def get_profile(name: str | None = None) -> Profile:
    """Returns the profile called ``name``, or the one ``SEGDEMO_PROFILE`` names (default ``quick``).

    Args:
        name: ``"quick"``, ``"standard"``, ``"full"`` or ``"auto"``; ``None`` reads the environment.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    requested = name if name is not None else os.environ.get(ENVIRONMENT_VARIABLE, "quick")
    requested = requested.strip().lower()
    if requested == "auto":
        requested = "full" if cuda_available() else "quick"
    if requested not in PROFILES:
        valid = ", ".join([*PROFILES, "auto"])
        raise ValueError(
            f"Unknown profile {requested!r} (from {'argument' if name is not None else ENVIRONMENT_VARIABLE}); "
            f"choose one of: {valid}."
        )
    return PROFILES[requested]


def describe(profile: Profile) -> str:
    """Two lines (at most 88 characters) a chapter prints so readers know what runs and how to change it."""
    height, width = profile.image_size
    return (
        f"Profile {profile.name!r}: {profile.description}\n"
        f"({profile.dataset}, {height}x{width}, batch {profile.batch_size}, {profile.epochs} epochs; "
        f"{ENVIRONMENT_VARIABLE}=quick|standard|full)"
    )
