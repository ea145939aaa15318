"""segdemo.files: a destination holds the old file or the complete new one, never a torn one."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from segdemo.files import FILE_MODE, atomic_path, atomic_write_bytes


def test_write_replaces_the_file_with_ordinary_permissions(tmp_path: Path) -> None:
    destination = tmp_path / "nested" / "result.json"
    atomic_write_bytes(destination, b"old")
    atomic_write_bytes(destination, b"new")
    assert destination.read_bytes() == b"new"
    assert stat.S_IMODE(destination.stat().st_mode) == FILE_MODE
    assert [path.name for path in destination.parent.iterdir()] == ["result.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    destination = tmp_path / "checkpoint.pt"
    destination.write_bytes(b"epoch 3")
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_path(destination) as temporary:
            temporary.write_bytes(b"half of epoch 4")
            raise RuntimeError("killed mid-write")
    assert destination.read_bytes() == b"epoch 3"
    assert [path.name for path in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_temporary_is_beside_the_destination(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "figure.png") as temporary:
        assert temporary.parent == tmp_path and temporary.name.endswith(".tmp")
        temporary.write_bytes(b"png")
    assert (tmp_path / "figure.png").read_bytes() == b"png"
