"""Executes chapters in place (quick profile) and strips volatile metadata, ready to commit.

Usage: python tools/execute_notebooks.py notebooks/01_semantic_segmentation.ipynb [...]
(``make notebooks`` runs it over every chapter with the environment the tests use.)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

KERNEL_NAME = "python3"


def coalesce_streams(outputs: list) -> list:
    """Merges consecutive stdout (or stderr) chunks: how the kernel split them depends on timing, not content."""
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (output.get("output_type") == "stream" and previous is not None
                and previous.get("output_type") == "stream" and previous.get("name") == output.get("name")):
            previous["text"] = "".join(previous["text"]) + "".join(output["text"])
        else:
            merged.append(output)
    return merged


def strip_volatile_metadata(notebook: nbformat.NotebookNode) -> None:
    """Removes what changes from run to run without changing the chapter (timings, stream chunking, widgets)."""
    notebook.metadata.pop("widgets", None)
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": KERNEL_NAME}
    notebook.metadata["language_info"] = {"name": "python"}
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
            for output in cell.get("outputs", []):
                output.get("metadata", {}).pop("execution", None)


def execute(path: Path, timeout: int) -> float:
    """Executes ``path`` in place from its own folder; returns the wall time in seconds."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    strip_volatile_metadata(notebook)
    nbformat.write(notebook, path)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell (default 900)")
    args = parser.parse_args()
    if os.environ.get("SEGDEMO_PROFILE", "quick") != "quick":
        print("Committed outputs must come from the quick profile: unset SEGDEMO_PROFILE.", file=sys.stderr)
        return 2
    for path in args.notebooks:
        seconds = execute(path, args.timeout)
        print(f"{path}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
