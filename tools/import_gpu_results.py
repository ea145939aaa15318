"""Brings the files of a GPU sweep (``python -m segdemo sweep --archive ...``) into ``results/``.

Usage::

    python tools/import_gpu_results.py --commit <sha> sweep.tar [rerun.tar@camvid/segnet_basic ...] \
        [--log NAME=FILE ...]

Archives are unpacked in the order given, so a later one replaces an earlier one's file of the same name
(for example a longer re-run of one model); ``ARCHIVE@PREFIX`` takes only the members whose path starts with
``PREFIX``. ``--commit`` names the commit whose tree was sent to the device:
a copy of the working tree may carry a stale ``.git``, and then the provenance the device wrote names the
wrong commit. Such a record keeps what the device said under ``git_commit_on_device`` and
``git_dirty_on_device``, and says why it was corrected. Logs given with ``--log`` are copied to
``results/gpu/NAME``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from segdemo import results, training  # noqa: E402

KEPT = ("camvid/", "benchmarks/")
"""What of an archive belongs in results/ (the cache warmer's log goes to results/gpu/ instead)."""


def correct_provenance(record: dict, commit: str) -> bool:
    """Sets the commit sent to the device; returns whether anything changed."""
    provenance = record.get("provenance", {})
    if provenance.get("git_commit") == commit and provenance.get("git_dirty") is False:
        return False
    provenance["git_commit_on_device"] = provenance.get("git_commit")
    provenance["git_dirty_on_device"] = provenance.get("git_dirty")
    provenance["git_commit"] = commit
    provenance["git_dirty"] = False
    provenance["git_commit_note"] = (
        "the device's copy of the tree carried the .git of the session's start; the tree sent was this commit "
        "with no uncommitted changes"
    )
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("archives", nargs="+", help="tar files written by the sweep's --archive")
    parser.add_argument("--commit", required=True, help="the commit whose tree was sent to the device")
    parser.add_argument("--log", action="append", default=[], help="NAME=FILE, copied to results/gpu/NAME")
    parser.add_argument("--results-dir", default=str(ROOT / "results"))
    arguments = parser.parse_args(argv)
    destination = Path(arguments.results_dir)
    with tempfile.TemporaryDirectory() as folder:
        staging = Path(folder)
        for item in arguments.archives:
            archive, _, prefix = item.partition("@")
            with tarfile.open(archive) as tar:
                members = [m for m in tar.getmembers()
                           if m.isfile() and m.name.startswith(KEPT) and m.name.startswith(prefix)]
                tar.extractall(staging, members=members, filter="data")
            warm_log = None
            with tarfile.open(archive) as tar:
                if not prefix and "warm_cache.log" in tar.getnames():
                    warm_log = tar.extractfile("warm_cache.log").read()
            if warm_log is not None:
                training.atomic_write_bytes(destination / "gpu" / "warm_cache.log", warm_log)
        for path in sorted(staging.rglob("*")):
            if not path.is_file():
                continue
            target = destination / path.relative_to(staging)
            if path.suffix == ".json":
                record = json.loads(path.read_text(encoding="utf-8"))
                changed = correct_provenance(record, arguments.commit)
                record.pop("schema", None)
                if target.parent.name == "camvid":
                    results.write_result(target, record)
                else:
                    training.atomic_write_json(target, {"schema": results.SCHEMA_VERSION, **record})
                print(f"{target.relative_to(ROOT)}{' (commit corrected)' if changed else ''}")
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                print(target.relative_to(ROOT))
    for item in arguments.log:
        name, _, source = item.partition("=")
        training.atomic_write_bytes(destination / "gpu" / name, Path(source).read_bytes())
        print(f"results/gpu/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
