"""The book's frame: table of contents, chapters' first cells, citations, committed outputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Every executable page: the chapters and the intro (a notebook, so that its Colab button opens in Colab).
EXECUTABLE_PAGES = [ROOT / "book" / "intro.ipynb", *NOTEBOOKS]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _code_cells(path: Path) -> list[dict]:
    return [cell for cell in _cells(path) if cell["cell_type"] == "code"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def test_every_toc_entry_exists_and_every_chapter_is_listed() -> None:
    listed = _toc_files()
    for entry in listed:
        matches = [ROOT / f"{entry}{suffix}" for suffix in (".md", ".ipynb")]
        assert any(path.exists() for path in matches), f"_toc.yml lists {entry!r}, which does not exist"
    for notebook in NOTEBOOKS:
        assert f"notebooks/{notebook.stem}" in listed, f"{notebook.name} is not in _toc.yml"


def test_there_are_chapters() -> None:
    assert NOTEBOOKS, "no notebook in notebooks/"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_chapter_opens_with_its_title(notebook: Path) -> None:
    first = _cells(notebook)[0]
    assert first["cell_type"] == "markdown" and _source(first).startswith("# "), "a chapter opens with its title"


@pytest.mark.parametrize("notebook", EXECUTABLE_PAGES, ids=lambda path: path.stem)
def test_first_cell_installs_segdemo_in_colab_only(notebook: Path) -> None:
    first = _code_cells(notebook)[0]
    source = _source(first)
    assert "remove-cell" in first["metadata"].get("tags", []), "the Colab cell must be hidden in the book"
    assert 'if "google.colab" in sys.modules:' in source
    assert CONFIG["repository"]["url"] in source, "the Colab cell must install from the book's repository"
    assert not first["outputs"], "outside Colab the install cell does nothing"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_chapter_prints_its_profile(notebook: Path) -> None:
    second = _code_cells(notebook)[1]
    text = "".join("".join(output.get("text", "")) for output in second["outputs"])
    assert "segdemo.profiles.describe" in _source(second)
    assert "Profile 'quick'" in text, "chapters are committed executed in the quick profile"


@pytest.mark.parametrize("notebook", EXECUTABLE_PAGES, ids=lambda path: path.stem)
def test_committed_outputs_are_clean(notebook: Path) -> None:
    metadata = json.loads(notebook.read_text())["metadata"]
    assert metadata["kernelspec"]["name"] == "python3"
    for index, cell in enumerate(_code_cells(notebook)):
        assert cell.get("execution_count"), f"code cell {index} was not executed"
        for output in cell["outputs"]:
            assert output.get("name") != "stderr", f"code cell {index} wrote to stderr: {''.join(output['text'])[:200]}"
            assert output["output_type"] != "error", f"code cell {index} raised"
            text = "".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))
            assert not re.search(r"at 0x[0-9a-f]{6,}", text), f"code cell {index} prints a memory address"
            assert not re.search(r"\d+ms/step|\d+s/step", text), f"code cell {index} prints a timing"


PAGE_WIDTH = 88
"""Characters of code or printed text the book's theme shows at 1280 px without a horizontal scroll bar."""


@pytest.mark.parametrize("notebook", EXECUTABLE_PAGES, ids=lambda path: path.stem)
def test_code_and_printed_lines_fit_the_page(notebook: Path) -> None:
    for index, cell in enumerate(_code_cells(notebook)):
        if index == 0:
            continue  # the Colab install cell, hidden in the book
        for line in _source(cell).splitlines():
            assert len(line) <= PAGE_WIDTH, f"code cell {index}: {len(line)} characters: {line}"
        for output in cell["outputs"]:
            text = "".join(output.get("text", ""))
            if "image/png" not in output.get("data", {}) and "text/markdown" not in output.get("data", {}):
                text += "".join(output.get("data", {}).get("text/plain", ""))
            for line in text.splitlines():
                assert len(line) <= PAGE_WIDTH, f"output of code cell {index}: {len(line)} characters: {line}"


def _bibliography_keys() -> set[str]:
    return set(re.findall(r"@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text()))


def _cited_keys(text: str) -> set[str]:
    keys = set()
    for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text):
        keys.update(key.strip() for key in group.split(","))
    return keys


def test_every_citation_is_in_the_bibliography() -> None:
    texts = [path.read_text() for path in (ROOT / "book").glob("*.md")]
    texts += [
        "".join(_source(cell) for cell in _cells(path) if cell["cell_type"] == "markdown") for path in EXECUTABLE_PAGES
    ]
    cited = set().union(*(_cited_keys(text) for text in texts))
    assert cited, "the book cites nothing"
    missing = cited - _bibliography_keys()
    assert not missing, f"cited but not in book/references.bib: {sorted(missing)}"


def test_every_page_with_code_is_a_notebook_colab_can_open() -> None:
    # The theme gives every executable page a Colab button that links to the page's source file; Colab opens
    # .ipynb only, so a MyST-Markdown notebook (a .md page with code cells) would get a broken button.
    for entry in _toc_files():
        markdown = ROOT / f"{entry}.md"
        if markdown.exists():
            text = markdown.read_text()
            assert "{code-cell}" not in text and "kernelspec" not in text, (
                f"{markdown.name} has code cells: make it an .ipynb so its Colab button works"
            )
        else:
            assert (ROOT / f"{entry}.ipynb") in EXECUTABLE_PAGES, f"{entry}.ipynb is not checked by these tests"


def test_launch_buttons_point_at_the_repository() -> None:
    assert CONFIG["repository"]["url"].startswith("https://github.com/")
    assert CONFIG["repository"]["branch"] == "main"
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["execute"]["execute_notebooks"] == "force"
