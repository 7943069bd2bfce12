"""What a device is, from the caller's arguments: its address and what bleak connects to.

``rt.device(target, adapter=..., pair=..., services=..., bluez=..., winrt=...)``: every
argument is checked here, with an error naming it, and becomes one frozen
``LinkOptions``; bleak gets the options as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict, Unpack

from bleak.backends.client import BaseBleakClient

from blerun.actors._link import Backend, LinkOptions
from blerun.actors._scan import ScanResult
from blerun.actors._validate import normalize_address, normalize_uuid
from blerun.actors.errors import InvalidArgument, InvalidPolicy


class LinkArgs(TypedDict, total=False):
    """bleak's client options, as ``rt.device()`` takes them."""

    adapter: str | None
    """The local adapter to connect through ("hci1"; BlueZ)."""
    pair: bool
    """Pair before connecting."""
    services: Iterable[object] | None
    """Only discover these service UUIDs (faster connects)."""
    bluez: Mapping[str, Any] | None
    """More BlueZ options, passed to bleak as is."""
    winrt: Mapping[str, Any] | None
    """WinRT options, passed to bleak as is."""


def link_options(
    target: Any, *, backend: Backend | None, disconnect_timeout: float, **args: Unpack[LinkArgs]
) -> tuple[str, LinkOptions]:
    """The device's normalized address and its link options.

    Raises:
        InvalidAddress / InvalidUUID / InvalidArgument / InvalidPolicy: naming the argument.
    """
    check_backend(backend)
    address, bleak_target = _resolve_target(target)
    adapter, services = args.get("adapter"), args.get("services")
    adapter_option = {"adapter": _adapter(adapter)} if adapter is not None else {}
    return address, LinkOptions(
        target=bleak_target,
        backend=backend,
        disconnect_timeout=disconnect_timeout,
        services=None if services is None else _uuids(services),
        pair=_flag(args.get("pair", False), "pair"),
        bluez={**_options(args.get("bluez"), "bluez"), **adapter_option},
        winrt=_options(args.get("winrt"), "winrt"),
    )


def check_backend(backend: object) -> None:
    """Raises ``InvalidArgument`` unless ``backend`` is a bleak backend class or None."""
    if backend is not None and not (
        isinstance(backend, type) and issubclass(backend, BaseBleakClient)
    ):
        raise InvalidArgument(
            "backend", "a bleak backend class (a BaseBleakClient subclass) or None", backend
        )


def _resolve_target(target: Any) -> tuple[str, Any]:
    """The normalized address, and what bleak connects to (the address or a scan result)."""
    if isinstance(target, str):
        return normalize_address(target, name="target"), target.strip()
    if isinstance(target, ScanResult):  # connect to exactly the device the scan heard
        return normalize_address(target.address, name="target"), target.bleak_device
    address = getattr(target, "address", None)
    if address is None:
        raise InvalidArgument("target", "an address or a device from a scan", target)
    return normalize_address(address, name="target.address"), target


def _uuids(values: Iterable[object]) -> tuple[str, ...]:
    if not isinstance(values, Iterable) or isinstance(values, str | bytes | Mapping):
        raise InvalidArgument("services", "an iterable of service UUIDs", values)
    return tuple(normalize_uuid(v, name="services") for v in values)


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(name, "True or False", value)
    return value


def _options(value: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidArgument(name, "a mapping of option names to values", value)
    return dict(value)


def _adapter(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidPolicy("adapter", "a non-empty adapter name like 'hci0'", value)
    return value.strip()
