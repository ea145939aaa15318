"""Shared test settings: quiet, deterministic frameworks on CPU, caches in temporary folders."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

# CI must not depend on which examples hypothesis happens to draw: there, every run draws the same ones.
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test caches resized datasets in a temporary folder, never in the user's ~/.cache/segdemo."""
    monkeypatch.setenv("SEGDEMO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "segdemo-cache"))
