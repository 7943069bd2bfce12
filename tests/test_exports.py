"""The public surface: every public name is exported and listed in __all__."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

PACKAGES = ["blerun.actors", "blerun.messages", "blerun.sim", "blerun.cli"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    package = importlib.import_module(name)
    exported = set(package.__all__)
    public = {
        n
        for n in vars(package)
        if not n.startswith("_") and not inspect.ismodule(getattr(package, n))
    }
    assert public - exported == set(), f"public but not in __all__: {public - exported}"
    assert exported - public == set(), f"in __all__ but missing: {exported - public}"


@pytest.mark.parametrize("name", PACKAGES)
def test_implementation_modules_are_private(name: str) -> None:
    package = importlib.import_module(name)
    for info in pkgutil.iter_modules(package.__path__):
        if name == "blerun.messages":
            continue  # one public module per actor protocol, by design
        assert info.name.startswith("_") or info.name == "profiles", f"{name}.{info.name}"


@pytest.mark.parametrize("name", PACKAGES)
def test_no_third_party_types_reexported(name: str) -> None:
    package = importlib.import_module(name)
    for attr in package.__all__:
        module = getattr(getattr(package, attr), "__module__", "") or ""
        assert not module.startswith(("bleak", "bumble")), f"{name}.{attr} comes from {module}"
