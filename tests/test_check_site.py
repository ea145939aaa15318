"""The browser check's reading of a page (tools/check_site.py), without a browser."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("check_site", ROOT / "tools" / "check_site.py")
check_site = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_site)

PAGE = """<html><head><script>var x = "| a |\\n|---|";</script></head><body>
<h1>SegNet: indices<a class="headerlink" href="#segnet" title="Link to this heading">#</a></h1>
<p>| model | G |</p><p>|---|---|</p>
<div class="output stderr"><pre>warning</pre></div>
<img src="data:image/png;base64,AAAA"><img src="missing.png"><img src="https://example.org/a.png">
<a href="notebooks/01_semantic_segmentation.html#top">1</a></body></html>"""


def test_page_parser_reads_title_text_images_and_stderr():
    page = check_site.Page()
    page.feed(PAGE)
    assert page.title == "SegNet: indices"  # the permalink "#" is not part of it
    text = "".join(page.text)
    assert check_site.RAW_TABLE.search(text) and "var x" not in text
    assert page.stderr_blocks == 1
    assert page.images[0].startswith("data:") and len(page.images) == 3
    assert page.links == ["#segnet", "notebooks/01_semantic_segmentation.html#top"]


def test_image_problems(tmp_path):
    page = tmp_path / "page.html"
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    assert check_site.image_problem("good.png", page) is None
    assert check_site.image_problem("data:image/png;base64,AAAA", page) is None
    assert "missing image" in check_site.image_problem("gone.png", page)
    assert "unreadable image" in check_site.image_problem("broken.png", page)
    assert "remote image" in check_site.image_problem("https://example.org/a.png", page)


def test_every_chapter_of_the_toc_has_a_title():
    files = check_site.chapter_files(ROOT / "_toc.yml")
    assert files[0] == "book/intro" and "notebooks/05_segnet" in files
    titles = [check_site.source_title(stem) for stem in files]
    assert all(titles) and "`" not in "".join(titles)


def test_without_a_browser_it_says_so(monkeypatch, capsys):
    monkeypatch.setattr(check_site, "find_browser", lambda: None)
    monkeypatch.delenv("SEGDEMO_REQUIRE_BROWSER", raising=False)
    assert check_site.main([]) == 0
    assert "did NOT run" in capsys.readouterr().out
    monkeypatch.setenv("SEGDEMO_REQUIRE_BROWSER", "1")
    assert check_site.main([]) == 1
