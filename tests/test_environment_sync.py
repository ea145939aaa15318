"""environment.yml (conda/Binder) and constraints.txt (CI) must describe the same versions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[_normalise(name)] = version
    return pins


def _environment_pins() -> dict[str, str]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    pins = {}
    for requirement in pip_section:
        if "==" in requirement:
            name, version = requirement.split("==")
            pins[_normalise(name)] = version
    return pins


def test_every_environment_pin_matches_constraints() -> None:
    constraints = _constraints()
    pins = _environment_pins()
    assert pins, "environment.yml pins no package"
    mismatches = {name: (version, constraints.get(name)) for name, version in pins.items() if constraints.get(name) != version}
    assert not mismatches, f"environment.yml vs constraints.txt (name: (environment, constraints)): {mismatches}"


@pytest.mark.parametrize("package", ["torch", "tensorflow-cpu", "jupyter-book", "numpy", "nbval"])
def test_core_packages_are_pinned_in_both(package: str) -> None:
    assert package in _constraints()
    assert package in _environment_pins()


def test_constraints_pin_the_versions_the_book_is_built_with() -> None:
    constraints = _constraints()
    assert constraints["torch"] == "2.13.0"
    assert constraints["tensorflow-cpu"].startswith("2.21.")
    major, minor, *_ = constraints["jupyter-book"].split(".")
    assert (int(major), int(minor)) >= (1, 0) and int(major) < 2


def test_every_subpackage_is_listed_in_pyproject():
    # pyproject lists the packages explicitly (to map segdemo._results onto results/): a new one must be added.
    import tomllib

    root = Path(__file__).resolve().parent.parent
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(path.parent.relative_to(root).parts) for path in (root / "segdemo").rglob("__init__.py")}
    assert found | {"segdemo._results"} == listed
