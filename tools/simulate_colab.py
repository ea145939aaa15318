"""Runs every chapter the way Colab does: the notebook alone, with segdemo installed from a wheel.

Usage: ``python tools/simulate_colab.py [notebooks/05_segnet.ipynb ...]`` (``make test`` runs all chapters).

Colab has the notebook and whatever its first cell installs: no checkout, so no ``results/`` beside it, no
``../shared`` data. This script builds the project's wheel, installs it into a temporary folder (its
dependencies come from the current environment), copies each chapter alone into an empty temporary folder and
executes it there with that folder first on the path, in the quick profile, without a CamVid folder. A chapter
passes when it runs to the end and shows its committed results: no cell may print that a result file or
figure is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
MISSING_MARKERS = ("is not here", "0 of 6 runs found", "No results folder", "0 CamVid result files", "Traceback")
"""Text a chapter prints when committed results are missing; none may appear."""


def build_and_install(folder: Path) -> Path:
    """Builds the wheel (offline, no build isolation) and installs it alone into ``folder/site``."""
    wheels, site = folder / "wheel", folder / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(wheels)], check=True, cwd=folder)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", "--target",
                    str(site), *map(str, wheels.glob("*.whl"))], check=True)
    shutil.rmtree(ROOT / "build", ignore_errors=True)  # setuptools' staging folder
    return site


def colab_environment(site: Path) -> dict[str, str]:
    """The environment a Colab kernel would have here: the installed wheel first, no CamVid, quick profile."""
    environment = {key: value for key, value in os.environ.items() if key != "SEGDEMO_CAMVID_DIR"}
    environment.update(PYTHONPATH=str(site), SEGDEMO_PROFILE="quick",
                       IPYTHONDIR=str(ROOT / "tools" / "ipython"), TF_CPP_MIN_LOG_LEVEL="2")
    return environment


def run_chapter(path: Path, site: Path, folder: Path) -> float:
    """Executes one chapter alone in ``folder``; raises on an error or a missing-results message."""
    alone = folder / path.name
    shutil.copyfile(path, alone)
    notebook = nbformat.read(alone, as_version=4)
    client = NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    started = time.perf_counter()
    client.execute(env=colab_environment(site), cwd=str(folder))
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            for marker in MISSING_MARKERS:
                if marker in text:
                    raise AssertionError(f"{path.name}, cell {index}: {marker!r} in the output: {text[:300]}")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    chapters = [Path(item) for item in arguments] or [ROOT / "book" / "intro.ipynb",
                                                      *sorted((ROOT / "notebooks").glob("*.ipynb"))]
    with tempfile.TemporaryDirectory(prefix="segdemo-colab-") as temporary:
        folder = Path(temporary)
        site = build_and_install(folder)
        check = subprocess.run([sys.executable, "-c", "import segdemo, segdemo.results as r; "
                                "print(segdemo.__file__); print(r.DEFAULT_RESULTS_DIR)"],
                               env=colab_environment(site), cwd=folder, capture_output=True, text=True, check=True)
        package_file, results_dir = check.stdout.split()
        if not package_file.startswith(str(site)) or not results_dir.startswith(str(site)):
            print(f"colab simulation: segdemo came from {package_file}, results from {results_dir}, "
                  f"not from the installed wheel in {site}")
            return 1
        failures = 0
        for chapter in chapters:
            workdir = folder / chapter.stem
            workdir.mkdir()
            try:
                seconds = run_chapter(chapter, site, workdir)
            except Exception as error:  # noqa: BLE001 - report every chapter, then fail
                failures += 1
                print(f"colab simulation: {chapter.name} FAILED: {type(error).__name__}: {str(error)[:2000]}")
            else:
                print(f"colab simulation: {chapter.name} ran alone from the installed wheel in {seconds:.0f} s")
    print(f"colab simulation: {len(chapters)} chapter(s), {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
