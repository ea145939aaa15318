"""Checks of public arguments: the one mechanism every entry point of segdemo uses for bad input.

``fit``, ``evaluate``, the loaders, the runner and the command line call these small validators instead of
writing their own tests, so the same mistake gets the same message everywhere: it names the argument, the value
received and what is accepted. They raise ``ValueError`` (or ``FileNotFoundError`` / ``NotADirectoryError``
for paths); the command line prints such errors as one line. Numpy only: importing it loads no framework.

Example:
    >>> check_integer(3, "epochs", minimum=1)
    3
    >>> check_integer(-1, "seed", minimum=0)
    Traceback (most recent call last):
    ...
    ValueError: seed must be an integer of at least 0, got -1.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MAX_SEED = 2**32 - 1
"""Largest seed numpy's generators and both frameworks accept."""


def check_integer(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Returns ``value`` as an int when it is an integer (not a bool) within ``[minimum, maximum]``.

    Raises:
        ValueError: naming ``name``, the value and the accepted range.
    """
    limits = []
    if minimum is not None:
        limits.append(f"at least {minimum}")
    if maximum is not None:
        limits.append(f"at most {maximum}")
    accepted = f"an integer{' of ' + ' and '.join(limits) if limits else ''}"
    is_integer = isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not is_integer:
        raise ValueError(f"{name} must be {accepted}, got {value!r}.")
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueError(f"{name} must be {accepted}, got {value!r}.")
    return number


def check_seed(value: Any, name: str = "seed") -> int:
    """A seed: an integer in ``0..2**32 - 1`` (what numpy's generators accept).

    Raises:
        ValueError: naming ``name`` and the value.
    """
    return check_integer(value, name, minimum=0, maximum=MAX_SEED)


def check_positive_number(value: Any, name: str) -> float:
    """A finite number above zero (a learning rate, a time budget).

    Raises:
        ValueError: for zero, a negative number, NaN, an infinity or a non-number, naming ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number above 0, got {value!r}.")
    return float(value)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """One of ``choices``.

    Raises:
        ValueError: naming ``name``, the value and the choices.
    """
    if value not in choices:
        raise ValueError(f"Unknown {name} {value!r}; choose one of: {', '.join(choices)}.")
    return str(value)


def check_writable_folder(path: str | os.PathLike[str], name: str) -> Path:
    """Checks, without creating anything, that a folder ``path`` exists or could be created, and is writable.

    Walks up to the nearest existing ancestor: it must be a folder, not a regular file, and writable.

    Args:
        path: the folder the caller will write into.
        name: what the folder is called in messages (``"--output-dir"``).

    Returns:
        ``path`` as a Path.

    Raises:
        NotADirectoryError: ``path`` or one of its ancestors is a regular file.
        PermissionError: the folder (or the ancestor it would be created in) is not writable.
    """
    folder = Path(path).expanduser()
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise NotADirectoryError(
            f"{name} {folder} cannot be a folder: {existing} is a file. Choose another folder or move the file."
        )
    if existing.exists() and not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{name} {folder} is not writable ({existing} is read-only). Choose another folder.")
    return folder
