"""The public surface: every public name is exported and listed in __all__."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import blerun.actors
from blerun.testing import FaultPlan

PACKAGES = [
    "blerun.actors",
    "blerun.messages",
    "blerun.sim",
    "blerun.gatt",
    "blerun.testing",
    "blerun.cli",
]

# Public modules inside a package, by design: the exception tree (as bleak.exc), and the
# emulator's ready-made profiles.
PUBLIC_MODULES = {"blerun.actors": {"errors"}, "blerun.sim": {"profiles"}}


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    package = importlib.import_module(name)
    exported = set(package.__all__)
    public = {
        n
        for n in vars(package)
        if not n.startswith("_")
        and (not inspect.ismodule(getattr(package, n)) or n in package.__all__)
    }
    assert public - exported == set(), f"public but not in __all__: {public - exported}"
    assert exported - public == set(), f"in __all__ but missing: {exported - public}"


@pytest.mark.parametrize("name", PACKAGES)
def test_implementation_modules_are_private(name: str) -> None:
    package = importlib.import_module(name)
    for info in pkgutil.iter_modules(package.__path__):
        if name == "blerun.messages":
            continue  # one public module per actor protocol, by design
        allowed = PUBLIC_MODULES.get(name, set())
        assert info.name.startswith("_") or info.name in allowed, f"{name}.{info.name}"


@pytest.mark.parametrize("name", PACKAGES)
def test_no_third_party_types_reexported(name: str) -> None:
    package = importlib.import_module(name)
    for attr in package.__all__:
        module = getattr(getattr(package, attr), "__module__", "") or ""
        assert not module.startswith(("bleak", "bumble")), f"{name}.{attr} comes from {module}"


# The runtime's public surface, spelled out: adding or removing a name is a decision.
ACTORS_SURFACE = {
    "AsyncDevice",
    "AsyncSubscription",
    "AttemptInfo",
    "Clock",
    "CloseReport",
    "ConnectionState",
    "Device",
    "DeviceStatistics",
    "HostInfo",
    "HostPolicy",
    "Jitter",
    "Metrics",
    "Notification",
    "NotificationStream",
    "Reason",
    "ReconnectPolicy",
    "Runtime",
    "ScanResult",
    "ServicesSnapshot",
    "StateChanged",
    "Strategy",
    "Subscription",
    "Timer",
    "UNDECODABLE",
    "errors",
}


def test_the_runtime_surface_is_the_documented_one() -> None:
    assert set(blerun.actors.__all__) == ACTORS_SURFACE


def test_classes_not_meant_for_subclassing_are_final() -> None:
    for name in ("Runtime", "Device", "AsyncDevice", "Subscription", "AsyncSubscription"):
        assert getattr(getattr(blerun.actors, name), "__final__", False), name


def test_names_the_readme_imported_from_the_runtime_still_work_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="blerun.testing"):
        assert blerun.actors.FaultPlan is FaultPlan
    with pytest.raises(AttributeError):
        blerun.actors.NoSuchName  # noqa: B018
