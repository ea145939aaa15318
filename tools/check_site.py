"""Opens every page of the built book in headless Chromium and checks what a reader would see.

Usage: ``python tools/check_site.py [_build/html]`` (``make test`` runs it after building the book).

For each page of ``_toc.yml`` it loads the page as a reader's browser does (scripts run), keeps a screenshot
under ``_build/screenshots/`` for people to look at, and checks the rendered document:

* the page exists and its title (first heading) is the chapter's title;
* no Markdown table left as text (``| a | b |`` over ``|---|``): tables must render as tables;
* no ``Traceback`` and no stderr output block;
* every image is a data URI or a file of the site that Pillow can open (no broken or remote image);
* the navigation of the first page links every chapter.

Without Chromium it says plainly that the browser check did not run, and exits 0, unless
``SEGDEMO_REQUIRE_BROWSER=1`` (set by ``.ci/run``), when that is a failure.
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
RAW_TABLE = re.compile(r"\|\s*:?-{3,}:?\s*\|")
WINDOW = "1280,2400"


class Page(html.parser.HTMLParser):
    """Collects a page's first heading, its visible text, image sources, links and stderr blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title_parts: list[str] = []
        self.title_done = False
        self.in_title = 0
        self.skip = 0
        self.text: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.stderr_blocks = 0

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        values = dict(attributes)
        classes = (values.get("class") or "").split()
        if tag in ("script", "style"):
            self.skip += 1
        if tag == "h1" and not self.title_done:
            self.in_title = 1
        elif self.in_title and tag == "a" and "headerlink" in classes:
            self.skip += 1
            self.in_title += 1  # remember to leave the skipped permalink
        if tag == "img":
            self.images.append(values.get("src") or "")
        if tag == "a" and values.get("href"):
            self.links.append(values["href"])
        if "stderr" in classes:
            self.stderr_blocks += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        if self.in_title > 1 and tag == "a":
            self.skip = max(0, self.skip - 1)
            self.in_title -= 1
        elif self.in_title and tag == "h1":
            self.in_title = 0
            self.title_done = True

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        self.text.append(data)
        if self.in_title == 1:
            self.title_parts.append(data)

    @property
    def title(self) -> str:
        return " ".join("".join(self.title_parts).split())


def chapter_files(toc: Path) -> list[str]:
    """The book's pages in ``_toc.yml`` order, without suffix (``book/intro``, ``notebooks/01_...``)."""
    spec = yaml.safe_load(toc.read_text(encoding="utf-8"))
    files = [spec["root"]]
    for part in spec.get("parts", []):
        files.extend(chapter["file"] for chapter in part.get("chapters", []))
    return files


def source_title(stem: str) -> str:
    """The first ``# `` heading of a chapter's source (notebook or Markdown), as plain text."""
    notebook, markdown = ROOT / f"{stem}.ipynb", ROOT / f"{stem}.md"
    if notebook.is_file():
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        lines = [line for cell in cells if cell["cell_type"] == "markdown" for line in "".join(cell["source"]).splitlines()]
    else:
        lines = markdown.read_text(encoding="utf-8").splitlines()
    heading = next(line for line in lines if line.startswith("# "))
    return " ".join(re.sub(r"[`*]|\{cite\}`[^`]*`", "", heading[2:]).split())


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def render(browser: str, page: Path, screenshot: Path) -> str:
    """The page's DOM after its scripts ran; also writes a screenshot."""
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--window-size={WINDOW}", "--virtual-time-budget=8000"]
    url = page.resolve().as_uri()
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True)
    subprocess.run([*common, f"--screenshot={screenshot}", url], capture_output=True, timeout=120, check=True)
    return dom.stdout


def image_problem(source: str, page: Path) -> str | None:
    """Why an image would not show, or ``None`` when it loads."""
    if source.startswith("data:image/"):
        return None
    if re.match(r"^[a-z]+://", source):
        return f"remote image {source} (offline readers see nothing)"
    path = (page.parent / source.split("#")[0].split("?")[0]).resolve()
    if not path.is_file() or path.stat().st_size == 0:
        return f"missing image {source}"
    if path.suffix.lower() == ".svg":
        return None if "<svg" in path.read_text(encoding="utf-8", errors="replace")[:2000] else f"bad SVG {source}"
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError) as error:
        return f"unreadable image {source} ({error})"
    return None


def check(site: Path, browser: str) -> list[str]:
    """Every problem found, one line each (empty when the site is fine)."""
    problems = []
    shots = site.parent / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    files = chapter_files(ROOT / "_toc.yml")
    first_page_links: list[str] = []
    for number, stem in enumerate(files):
        page = site / f"{stem}.html"
        if not page.is_file():
            problems.append(f"{stem}: no page {page} (is it in _toc.yml and did the build run?)")
            continue
        parsed = Page()
        parsed.feed(render(browser, page, shots / f"{number:02d}_{Path(stem).name}.png"))
        text = "".join(parsed.text)
        expected = source_title(stem)
        if parsed.title != expected:
            problems.append(f"{stem}: title {parsed.title!r}, expected {expected!r}")
        raw = RAW_TABLE.search(text)
        if raw:
            context = text[max(0, raw.start() - 60): raw.end() + 20].replace("\n", " ")
            problems.append(f"{stem}: a Markdown table shows as text: ...{context}...")
        if "Traceback" in text:
            problems.append(f"{stem}: a Traceback is shown")
        if parsed.stderr_blocks:
            problems.append(f"{stem}: {parsed.stderr_blocks} stderr output block(s)")
        for source in parsed.images:
            problem = image_problem(source, page)
            if problem:
                problems.append(f"{stem}: {problem}")
        if number == 0:
            first_page_links = parsed.links
    for stem in files[1:]:
        name = f"{Path(stem).name}.html"
        if not any(link.split("#")[0].endswith(name) for link in first_page_links):
            problems.append(f"{stem}: not linked from the navigation of the first page")
    return problems


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    site = Path(arguments[0]) if arguments else ROOT / "_build" / "html"
    browser = find_browser()
    if browser is None:
        message = ("The browser check did NOT run: no Chromium found (Debian: apt-get install chromium). "
                   "The built pages were not looked at.")
        print(message)
        return 1 if os.environ.get("SEGDEMO_REQUIRE_BROWSER") == "1" else 0
    problems = check(site, browser)
    for problem in problems:
        print(f"site check: {problem}")
    pages = len(chapter_files(ROOT / "_toc.yml"))
    print(f"site check: {pages} pages opened in {Path(browser).name}, {len(problems)} problem(s); "
          f"screenshots in {site.parent / 'screenshots'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
