"""segdemo.torch and segdemo.tensorflow expose the same public names; every lazy name (segdemo.data too) is a
real object, not a module."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import segdemo.data
import segdemo.tensorflow
import segdemo.torch

PACKAGES = [segdemo.torch, segdemo.tensorflow, segdemo.data]


def test_both_frameworks_export_the_same_names() -> None:
    assert segdemo.torch.__all__ == segdemo.tensorflow.__all__


@pytest.mark.parametrize("package", PACKAGES, ids=lambda package: package.__name__)
def test_every_name_is_its_object_even_after_all_submodules_are_imported(package: types.ModuleType) -> None:
    # Importing a submodule sets it as a package attribute: a public name equal to a module name would be shadowed.
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    for name, module_name in package._EXPORTS.items():
        value = getattr(package, name)
        assert not isinstance(value, types.ModuleType), f"{package.__name__}.{name} resolves to a module"
        defining_module = importlib.import_module(f"{package.__name__}.{module_name}")
        assert value is getattr(defining_module, name)


@pytest.mark.parametrize("package", PACKAGES, ids=lambda package: package.__name__)
def test_unknown_names_raise_attribute_error(package: types.ModuleType) -> None:
    with pytest.raises(AttributeError, match="no attribute 'SegNet'"):
        package.SegNet  # noqa: B018


@pytest.mark.parametrize("package", PACKAGES, ids=lambda package: package.__name__)
def test_dir_lists_every_public_name(package: types.ModuleType) -> None:
    assert set(package._EXPORTS) <= set(dir(package))
