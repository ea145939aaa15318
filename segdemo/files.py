"""Writing files so that nothing is ever half-written: the one mechanism every writer in segdemo uses.

Checkpoints, result files, figures, cached arrays and downloads are all written to a temporary file in the
destination's folder and renamed over the destination only once complete (``os.replace`` is atomic on one
file system). A reader, or a run killed mid-write, sees the old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

FILE_MODE = 0o644
"""Permissions of written files: readable by everyone, like a plain ``open(..., "w")`` under the usual umask."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path to write; on success it replaces ``path``, on any error it is removed.

    Args:
        path: the destination. Its folder is created if missing.

    Yields:
        A path in the same folder (so the final rename stays on one file system), ending in ``.tmp``.
        Writers that append their own suffix (``np.savez`` adds ``.npz`` to names) should write to an open
        file handle instead of the name.

    Example:
        >>> with atomic_path(folder / "result.json") as temporary:
        ...     temporary.write_text("{}")
    """
    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        # mkstemp creates owner-only files; results and caches are meant to be shared like any other file.
        os.chmod(temporary, FILE_MODE)
        yield temporary
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically (flushed to disk before the rename) and returns ``path``."""
    with atomic_path(path) as temporary, open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    return Path(path)
