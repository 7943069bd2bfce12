"""Scanning: what devices are around, as frozen values a device can be built from.

A scan runs bleak's ``BleakScanner`` on the runtime's event loop (the one its devices'
connections use: BlueZ's D-Bus connection and ``blerun.sim``'s air are bound to one
loop). ``Runtime.scan``/``find`` and their ``_async`` twins delegate here. A
``ScanResult`` keeps bleak's device object, so ``rt.device(result)`` connects to what the
scan heard without scanning again (macOS needs that; BlueZ saves a scan window).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import types
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any, TypedDict, Unpack

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from blerun.actors._bleak_errors import map_error
from blerun.actors._validate import check_timeout, normalize_address, normalize_uuid
from blerun.actors.errors import (
    BleRuntimeError,
    BluetoothUnavailable,
    DeviceNotFound,
    InvalidArgument,
    LinkError,
    OperationTimeout,
    RuntimeClosed,
    UsageError,
    WrongThread,
)

ScannerBackend = type[BaseBleakScanner]

# Starting and stopping a scan is a round trip to the Bluetooth stack (D-Bus on Linux);
# a blocking scan waits this long past its window before calling the stack stuck.
_START_STOP_BOUND_S = 5.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ScanResult:
    """One device heard during a scan, as of its latest advertisement.

    Pass it to ``rt.device(result)`` to manage that device: the runtime connects to the
    exact device object the scan produced.
    """

    address: str
    """The device's address as the runtime keys it (upper case; a UUID on macOS)."""
    name: str | None
    """The advertised local name, else the name the OS knows; ``None`` if neither."""
    rssi: int
    """Signal strength of the latest advertisement, in dBm."""
    service_uuids: tuple[str, ...]
    """Advertised service UUIDs, normalized 128-bit text."""
    manufacturer_data: Mapping[int, bytes] = dataclasses.field(hash=False)
    """Manufacturer-specific data by company identifier (read-only)."""
    service_data: Mapping[str, bytes] = dataclasses.field(hash=False)
    """Service data by normalized service UUID (read-only)."""
    tx_power: int | None
    """Advertised transmit power in dBm, if the device sent it."""
    adapter: str | None
    """The adapter that heard it ("hci0"), where the platform tells; ``None`` otherwise."""
    bleak_device: BLEDevice = dataclasses.field(repr=False, compare=False, hash=False)
    """bleak's device object: the target the runtime connects to."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Criteria:
    name: str | None
    address: str | None
    service: str | None

    def matches(self, result: ScanResult) -> bool:
        return (
            (self.name is None or result.name == self.name)
            and (self.address is None or result.address == self.address)
            and (self.service is None or self.service in result.service_uuids)
        )


def scan(
    loop: asyncio.AbstractEventLoop,
    timeout: float,
    **criteria: Unpack[ScanCriteria],
) -> tuple[ScanResult, ...]:
    """Blocking ``scan_async`` for a thread other than ``loop``'s; see ``Runtime.scan``."""
    window, wanted, adapter, backend = _unpack(timeout, criteria)
    return _wait(loop, window, lambda: _scan(window, wanted, adapter, backend, first=False))


async def scan_async(
    loop: asyncio.AbstractEventLoop,
    timeout: float,
    **criteria: Unpack[ScanCriteria],
) -> tuple[ScanResult, ...]:
    """Every matching device heard within ``timeout`` seconds, strongest signal first."""
    window, wanted, adapter, backend = _unpack(timeout, criteria)
    return await _await_on(loop, _scan(window, wanted, adapter, backend, first=False))


def find(
    loop: asyncio.AbstractEventLoop,
    timeout: float,
    **criteria: Unpack[ScanCriteria],
) -> ScanResult:
    """Blocking ``find_async`` for a thread other than ``loop``'s; see ``Runtime.find``."""
    window, wanted, adapter, backend = _unpack(timeout, criteria, required=True)
    found = _wait(loop, window, lambda: _scan(window, wanted, adapter, backend, first=True))
    return _first(found, wanted, window)


async def find_async(
    loop: asyncio.AbstractEventLoop,
    timeout: float,
    **criteria: Unpack[ScanCriteria],
) -> ScanResult:
    """The first device heard that matches every criterion given; see ``Runtime.find``."""
    window, wanted, adapter, backend = _unpack(timeout, criteria, required=True)
    found = await _await_on(loop, _scan(window, wanted, adapter, backend, first=True))
    return _first(found, wanted, window)


class ScanCriteria(TypedDict, total=False):
    """What a scan keeps, and how it scans (``Runtime.scan``'s keywords)."""

    name: str | None
    """Keep only devices advertising exactly this name."""
    address: str | None
    """Keep only the device with this address."""
    service: object
    """Keep only devices advertising this service UUID."""
    adapter: str | None
    """The adapter to scan with (BlueZ: ``"hci1"``; default: the OS's)."""
    backend: ScannerBackend | None
    """A bleak scanner backend class (``blerun.sim``: ``air.scanner_backend``)."""


def _unpack(
    timeout: object, given: ScanCriteria, *, required: bool = False
) -> tuple[float, _Criteria, str | None, ScannerBackend | None]:
    wanted = _criteria(
        given.get("name"), given.get("address"), given.get("service"), required=required
    )
    return check_timeout(timeout), wanted, given.get("adapter"), given.get("backend")


def _criteria(
    name: object, address: object, service: object, *, required: bool = False
) -> _Criteria:
    if name is not None and not isinstance(name, str):
        raise InvalidArgument("name", "a str or None", name)
    criteria = _Criteria(
        name=name,
        address=None if address is None else normalize_address(address),
        service=None if service is None else normalize_uuid(service, name="service"),
    )
    if required and criteria == _Criteria(None, None, None):
        raise UsageError("find() needs at least one of name=, address= or service=")
    return criteria


def _first(found: tuple[ScanResult, ...], criteria: _Criteria, window: float) -> ScanResult:
    if found:
        return found[0]
    wanted = ", ".join(
        f"{key}={value!r}" for key, value in dataclasses.asdict(criteria).items() if value
    )
    raise DeviceNotFound(
        f"no device with {wanted} was heard within {window:g} s", address=criteria.address
    )


async def _scan(
    window: float,
    criteria: _Criteria,
    adapter: str | None,
    backend: ScannerBackend | None,
    *,
    first: bool,
) -> tuple[ScanResult, ...]:
    heard: dict[str, ScanResult] = {}
    matched = asyncio.get_running_loop().create_future()

    def on_advertisement(device: BLEDevice, advertisement: AdvertisementData) -> None:
        result = _result(device, advertisement, adapter)
        if not criteria.matches(result):
            return
        heard[result.address] = result
        if first and not matched.done():
            matched.set_result(None)

    options: dict[str, Any] = {"bluez": {"adapter": adapter}} if adapter else {}
    scanner = BleakScanner(
        detection_callback=on_advertisement,
        # Backends that filter in the radio or the OS save work; the criteria still apply
        # to what comes back, since not every backend filters.
        service_uuids=[criteria.service] if criteria.service else None,
        backend=backend,
        **options,
    )
    with _scan_errors(adapter):
        async with scanner:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(window):
                    # The window itself when scanning for everything; the first match, or
                    # the window, when finding one device.
                    await (matched if first else asyncio.get_running_loop().create_future())
    return tuple(sorted(heard.values(), key=lambda r: (-r.rssi, r.address)))


def _result(device: BLEDevice, advertisement: AdvertisementData, adapter: str | None) -> ScanResult:
    return ScanResult(
        address=normalize_address(device.address),
        name=advertisement.local_name or device.name,
        rssi=advertisement.rssi,
        service_uuids=tuple(dict.fromkeys(normalize_uuid(u) for u in advertisement.service_uuids)),
        manufacturer_data=types.MappingProxyType(dict(advertisement.manufacturer_data)),
        service_data=types.MappingProxyType(
            {normalize_uuid(k): bytes(v) for k, v in advertisement.service_data.items()}
        ),
        tx_power=advertisement.tx_power,
        adapter=_adapter_of(device) or adapter,
        bleak_device=device,
    )


def _adapter_of(device: BLEDevice) -> str | None:
    # BlueZ reports the D-Bus path of the adapter that heard the device
    # ("/org/bluez/hci0"); other platforms have one adapter and do not say.
    details = device.details
    if isinstance(details, dict):
        props = details.get("props")
        if isinstance(props, dict) and isinstance(props.get("Adapter"), str):
            return str(props["Adapter"]).rsplit("/", 1)[-1]
    return None


@contextlib.contextmanager
def _scan_errors(adapter: str | None) -> Iterator[None]:
    try:
        yield
    except BleRuntimeError:
        raise
    except Exception as exc:
        # The connect classifier knows every way Bluetooth can be missing (no stack, no
        # adapter, powered off, permission denied, wrong loop): a scan meets the same.
        mapped = map_error(exc, address="", connecting=True)
        if isinstance(mapped, BluetoothUnavailable):
            mapped.address = None
            raise mapped from exc
        where = f" on adapter {adapter}" if adapter else ""
        raise LinkError(f"cannot scan{where}: {exc!r}") from exc


def _wait(
    loop: asyncio.AbstractEventLoop,
    window: float,
    make: Callable[[], Coroutine[Any, Any, tuple[ScanResult, ...]]],
) -> tuple[ScanResult, ...]:
    if _running_loop() is loop:
        raise WrongThread("a blocking scan on the runtime's own loop; await scan_async() there")
    future = _submit(make(), loop)
    try:
        return future.result(window + _START_STOP_BOUND_S)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise OperationTimeout(
            f"the Bluetooth stack did not start and stop a {window:g} s scan within "
            f"{window + _START_STOP_BOUND_S:g} s",
            timeout=window + _START_STOP_BOUND_S,
            address=None,
        ) from None


async def _await_on(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, tuple[ScanResult, ...]]
) -> tuple[ScanResult, ...]:
    if _running_loop() is loop:
        return await coro
    # Another loop (the caller's, while the runtime owns a loop thread): run there and
    # wait here without blocking; cancelling the caller cancels the scan.
    return await asyncio.wrap_future(_submit(coro, loop))


def _submit(
    coro: Coroutine[Any, Any, tuple[ScanResult, ...]], loop: asyncio.AbstractEventLoop
) -> concurrent.futures.Future[tuple[ScanResult, ...]]:
    try:
        return asyncio.run_coroutine_threadsafe(coro, loop)
    except RuntimeError:  # the loop closed under us: the runtime is closing
        coro.close()
        raise RuntimeClosed("the runtime is closed") from None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
