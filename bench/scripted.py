"""A minimal bleak backend for the "no radio" figures, and the pushers that drive it.

``Hub`` holds scripted peripherals; ``hub.backend`` is a ``BaseBleakClient`` subclass
bound to it, passed as ``BleakClient(..., backend=hub.backend)`` or
``Runtime(backend=hub.backend)``, so the production path through bleak runs: the
backend hands each notification to the callback bleak registered, as a platform backend
does when its radio delivers one. There is no radio: the bench produces every
notification itself, on the loop bleak runs on, at a rate it controls (``paced``) or as
fast as it can (``flood``).

A peripheral can also be told to hang in one operation (connect, disconnect or write),
either cancellably or swallowing cancellation like a wedged driver, for the shutdown
figures.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError

from bench.common import Mark, stamp

SERVICE = "0000be00-0000-1000-8000-00805f9b34fb"
NOTIFY = "0000be01-0000-1000-8000-00805f9b34fb"
"""Notify-only characteristic: the stream the bench produces."""
READ = "0000be02-0000-1000-8000-00805f9b34fb"
"""Read-only characteristic."""
WRITE = "0000be03-0000-1000-8000-00805f9b34fb"
"""Writable characteristic (with and without response)."""
_MTU = 247


class Hang(enum.Enum):
    """How a scripted operation that never completes treats cancellation."""

    CANCELLABLE = "cancellable"
    """Ends with ``CancelledError`` when cancelled."""
    STUBBORN = "stubborn"
    """Swallows every cancellation and keeps waiting (a wedged driver)."""


async def _never(hang: Hang) -> None:
    while True:
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            if hang is Hang.CANCELLABLE:
                raise


@dataclasses.dataclass(eq=False)
class ScriptedPeripheral:
    """One scripted device. Its notification handler is called on bleak's loop only."""

    address: str
    hang_in: str | None = None
    """"connect", "disconnect" or "write": that operation never completes."""
    hang: Hang = Hang.CANCELLABLE
    hung: threading.Event = dataclasses.field(default_factory=threading.Event)
    """Set when a hanging operation has reached the backend."""
    handler: Callable[[bytearray], None] | None = None
    """The callback bleak registered for ``NOTIFY``; None when not subscribed."""
    value: bytes = b"\x2a"
    writes: int = 0

    async def _maybe_hang(self, operation: str) -> None:
        if self.hang_in == operation:
            self.hung.set()
            await _never(self.hang)


class Hub:
    """The scripted peripherals a client of ``hub.backend`` can reach."""

    def __init__(self) -> None:
        self.peripherals: dict[str, ScriptedPeripheral] = {}
        hub = self

        class Bound(ScriptedClient):
            pass

        Bound.hub = hub
        self.backend: type[BaseBleakClient] = Bound

    def add(
        self, address: str, *, hang_in: str | None = None, hang: Hang = Hang.CANCELLABLE
    ) -> ScriptedPeripheral:
        peripheral = ScriptedPeripheral(address=address.upper(), hang_in=hang_in, hang=hang)
        self.peripherals[peripheral.address] = peripheral
        return peripheral

    def add_many(self, count: int) -> list[ScriptedPeripheral]:
        return [self.add(address_of(i)) for i in range(count)]


def address_of(index: int) -> str:
    """A distinct Bluetooth address per index (up to 2**32 of them)."""
    octets = [0xF0, 0x00, *index.to_bytes(4, "big")]
    return ":".join(f"{octet:02X}" for octet in octets)


class ScriptedClient(BaseBleakClient):
    """bleak's client backend over a ``Hub``; use the subclass bound to one, ``hub.backend``."""

    hub: ClassVar[Hub]

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._peripheral: ScriptedPeripheral | None = None
        self._connected = False

    @property
    def name(self) -> str:
        return self.address

    @property
    def mtu_size(self) -> int:
        return _MTU

    @property
    def is_connected(self) -> bool:
        return self._connected

    def _linked(self) -> ScriptedPeripheral:
        if not self._connected or self._peripheral is None:
            raise BleakError("Not connected")
        return self._peripheral

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        peripheral = self.hub.peripherals.get(self.address.upper())
        if peripheral is None:
            raise BleakDeviceNotFoundError(self.address, f"Device {self.address} not found")
        self._peripheral = peripheral
        await peripheral._maybe_hang("connect")
        self.services = _services()
        self._connected = True

    async def disconnect(self) -> None:
        peripheral = self._peripheral
        if peripheral is None:
            return
        await peripheral._maybe_hang("disconnect")
        self._connected = False
        peripheral.handler = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def unpair(self) -> None:
        raise NotImplementedError

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(self._linked().value)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        raise NotImplementedError

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        peripheral = self._linked()
        await peripheral._maybe_hang("write")
        peripheral.writes += 1

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        raise NotImplementedError

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        self._linked().handler = callback

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._linked().handler = None


def _services() -> BleakGATTServiceCollection:
    collection = BleakGATTServiceCollection()
    service = BleakGATTService(None, 1, SERVICE)
    collection.add_service(service)
    chars = (
        (NOTIFY, ["notify"]),
        (READ, ["read"]),
        (WRITE, ["write", "write-without-response"]),
    )
    for i, (uuid, properties) in enumerate(chars):
        collection.add_characteristic(
            BleakGATTCharacteristic(
                None,
                2 + 2 * i,
                uuid,
                properties,  # type: ignore[arg-type]
                lambda: _MTU - 3,
                service,
            )
        )
    return collection


# --- pushers: run on the loop bleak runs on --------------------------------------------


async def flood(peripheral: ScriptedPeripheral, count: int, *, chunk: int = 64) -> float:
    """Deliver ``count`` stamped notifications as fast as the loop can, ``chunk`` per
    loop iteration (a radio hands over what arrived in one go). Returns the start time.
    """
    handler = peripheral.handler
    if handler is None:
        raise RuntimeError(f"nobody subscribed to {peripheral.address}")
    started = time.perf_counter()
    for first in range(0, count, chunk):
        for seq in range(first, min(count, first + chunk)):
            handler(stamp(seq))
        await asyncio.sleep(0)
    return started


async def paced(
    peripherals: Sequence[ScriptedPeripheral],
    rate: float,
    seconds: float,
    *,
    window: tuple[float, float],
    count: Callable[[], int],
    tick: float = 0.001,
) -> tuple[Mark, Mark, int]:
    """Deliver ``rate`` stamped notifications per second for ``seconds``, round-robin over
    ``peripherals``, on a ``tick`` clock (what is due each tick goes in one iteration).

    Returns ``Mark``s taken at ``window`` (seconds from the start), with ``count()`` as
    their count, and the number produced.
    """
    handlers = [p.handler for p in peripherals]
    if any(h is None for h in handlers):
        raise RuntimeError("a peripheral has nobody subscribed")
    started = time.perf_counter()
    sent = 0
    marks: list[Mark] = []
    while True:
        elapsed = time.perf_counter() - started
        if len(marks) < 2 and elapsed >= window[len(marks)]:
            marks.append(Mark.now(count()))
        if elapsed >= seconds:
            break
        due = min(int(elapsed * rate), int(seconds * rate))
        while sent < due:
            handler = handlers[sent % len(handlers)]
            assert handler is not None
            handler(stamp(sent))
            sent += 1
        await asyncio.sleep(tick)
    if len(marks) < 2:
        raise ValueError(f"window {window} does not fit in {seconds} s")
    return marks[0], marks[1], sent
