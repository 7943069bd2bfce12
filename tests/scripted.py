"""A scripted bleak backend: the runtime's production path runs through real bleak.

Tests swap bleak's *backend* (``BleakClient(..., backend=...)``), never blerun's own
code. A ``ScriptedWorld`` holds scripted peripherals; ``world.backend`` is a
``BaseBleakClient`` subclass bound to it. Everything a peripheral does happens on the
runtime's event loop; tests drive it from their own thread with ``world.run(fn)``.

Backend operations take no time unless a test holds them at their gate
(``peripheral.hold("read")``): a held operation has started (``peripheral.started``
counts it) and waits until ``release()``, so a test controls exactly when I/O completes,
without guessing at durations.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError

HR_SERVICE = "0000180d-0000-1000-8000-00805f9b34fb"
HR_MEASUREMENT = "00002a37-0000-1000-8000-00805f9b34fb"
CONTROL = "00002a39-0000-1000-8000-00805f9b34fb"
SENSOR = "00002a6e-0000-1000-8000-00805f9b34fb"


@dataclasses.dataclass
class Char:
    uuid: str
    properties: list[str]
    value: bytes = b""


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


HANG = "hang"
"""A connect outcome: wait forever (cancellable)."""
STUBBORN = "stubborn"
"""A connect outcome: wait forever and swallow cancellation, like a wedged driver."""


async def _forever(stubborn: bool) -> None:
    while True:
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            if not stubborn:
                raise


@dataclasses.dataclass
class ScriptedPeripheral:
    """One scripted device. Mutate only on the loop (``world.run``)."""

    address: str
    chars: list[Char]
    mtu: int = 247
    held: set[str] = dataclasses.field(default_factory=set)
    """Operations held at their gate: "connect", "disconnect", "read", "write",
    "start_notify", "stop_notify" (see ``hold``)."""
    started: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    """Backend operations started, by kind (held ones included)."""
    connect_script: collections.deque[object] = dataclasses.field(default_factory=collections.deque)
    """Outcomes of the next connects: an exception to raise, or HANG; then success."""
    hang_disconnect: bool | str = False
    """True: disconnect() waits forever; STUBBORN: and swallows cancellation."""
    fail_next: dict[str, BaseException] = dataclasses.field(default_factory=dict)
    handlers: dict[str, NotifyCallback] = dataclasses.field(default_factory=dict)
    start_notify_calls: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )
    writes: list[tuple[str, bytes, bool]] = dataclasses.field(default_factory=list)
    connects: int = 0
    client: ScriptedClient | None = None
    notifications_sent: int = 0
    changed: threading.Condition = dataclasses.field(default_factory=threading.Condition)
    """Notified on every connect and start/stop notify, for tests to wait on."""

    _gate_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = dataclasses.field(
        default_factory=list
    )
    _releases: int = 0

    def bump(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def hold(self, *ops: str) -> None:
        """From now on, operations of these kinds wait at their gate (any thread)."""
        with self.changed:
            self.held.update(ops)

    def release(self, *ops: str) -> None:
        """Let every held operation through, and stop holding these kinds (default: all)."""
        with self.changed:
            self.held.difference_update(ops or set(self.held))
            self._releases += 1
            waiters, self._gate_waiters = self._gate_waiters, []
        for loop, future in waiters:
            loop.call_soon_threadsafe(_wake, future)

    async def gate(self, op: str) -> None:
        """On the loop: count the operation as started, then wait while it is held."""
        loop = asyncio.get_running_loop()
        with self.changed:
            self.started[op] += 1
            releases = self._releases
            self.changed.notify_all()
        while True:
            with self.changed:
                if op not in self.held or self._releases != releases:
                    return
                future: asyncio.Future[None] = loop.create_future()
                self._gate_waiters.append((loop, future))
            await future

    def wait_until(
        self, predicate: Callable[[ScriptedPeripheral], bool], timeout: float = 5.0
    ) -> None:
        """Block a test thread until ``predicate(self)`` holds (checked on each change)."""
        with self.changed:
            if not self.changed.wait_for(lambda: predicate(self), timeout):
                raise AssertionError(f"peripheral condition not met: {self}")

    def char(self, uuid: str) -> Char:
        return next(c for c in self.chars if c.uuid == uuid)

    def notify(self, uuid: str, data: bytes) -> bool:
        """On the loop: deliver one notification if a handler is registered."""
        handler = self.handlers.get(uuid)
        if handler is None:
            return False
        self.notifications_sent += 1
        handler(bytearray(data))
        return True

    def drop(self) -> None:
        """On the loop: the peripheral drops the link (supervision timeout)."""
        client = self.client
        if client is not None:
            client.lost()


class ScriptedWorld:
    """The peripherals a ``world.backend`` client can reach, and the loop they live on."""

    def __init__(self) -> None:
        self.peripherals: dict[str, ScriptedPeripheral] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        world = self

        class Bound(ScriptedClient):
            pass

        Bound.world = world
        self.backend: type[BaseBleakClient] = Bound

    def add(self, address: str, chars: list[Char], **kw: Any) -> ScriptedPeripheral:
        peripheral = ScriptedPeripheral(address=address, chars=chars, **kw)
        self.peripherals[address.upper()] = peripheral
        return peripheral

    def run(self, fn: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Run ``fn`` on the loop from a test thread and return its result."""
        assert self.loop is not None, "bind the world to the runtime's loop first"
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def call() -> None:
            try:
                done.set_result(fn())
            except Exception as exc:
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(call)
        return done.result(timeout)


def heart_rate(
    world: ScriptedWorld, address: str = "AA:BB:CC:DD:EE:01", **kw: Any
) -> ScriptedPeripheral:
    return world.add(
        address,
        [
            Char(HR_MEASUREMENT, ["notify"]),
            Char(CONTROL, ["write", "write-without-response"]),
            Char(SENSOR, ["read"], b"\x2a\x00"),
        ],
        **kw,
    )


class ScriptedClient(BaseBleakClient):
    world: ScriptedWorld

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
        self._connected = False
        self._peripheral: ScriptedPeripheral | None = None

    @property
    def name(self) -> str:
        return self.address

    @property
    def mtu_size(self) -> int:
        return self._peripheral.mtu if self._peripheral else 23

    @property
    def is_connected(self) -> bool:
        return self._connected

    def _p(self) -> ScriptedPeripheral:
        if not self._connected or self._peripheral is None:
            raise BleakError("Not connected")
        return self._peripheral

    async def _gate(self, op: str) -> None:
        if self._peripheral is not None:
            await self._peripheral.gate(op)

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        peripheral = self.world.peripherals.get(self.address.upper())
        if peripheral is None:
            raise BleakDeviceNotFoundError(self.address, f"Device {self.address} not found")
        self._peripheral = peripheral
        await self._gate("connect")
        if peripheral.connect_script:
            outcome = peripheral.connect_script.popleft()
            peripheral.bump()
            if outcome in (HANG, STUBBORN):
                await _forever(outcome == STUBBORN)
            assert isinstance(outcome, BaseException)
            raise outcome
        self.services = self._collection(peripheral)
        self._connected = True
        peripheral.connects += 1
        peripheral.client = self
        peripheral.bump()

    def _collection(self, peripheral: ScriptedPeripheral) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        service = BleakGATTService(None, 1, HR_SERVICE)
        collection.add_service(service)
        for i, char in enumerate(peripheral.chars):
            collection.add_characteristic(
                BleakGATTCharacteristic(
                    None,
                    3 + 3 * i,
                    char.uuid,
                    list(char.properties),  # type: ignore[arg-type]
                    lambda: peripheral.mtu - 3,
                    service,
                )
            )
        return collection

    def lost(self) -> None:
        if not self._connected:
            return
        self._connected = False
        if self._peripheral is not None:
            self._peripheral.handlers.clear()
            self._peripheral.client = None
            self._peripheral.bump()
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        peripheral = self._peripheral
        if peripheral is not None and peripheral.hang_disconnect:
            await _forever(peripheral.hang_disconnect == STUBBORN)
        await self._gate("disconnect")
        self._connected = False
        if peripheral is not None:
            peripheral.handlers.clear()
            if peripheral.client is self:
                peripheral.client = None
            peripheral.bump()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def unpair(self) -> None:
        raise NotImplementedError

    def _maybe_fail(self, op: str) -> None:
        peripheral = self._p()
        error = peripheral.fail_next.pop(op, None)
        if error is not None:
            raise error

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        await self._gate("read")
        self._maybe_fail("read")
        return bytearray(self._p().char(characteristic.uuid).value)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        raise NotImplementedError

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        await self._gate("write")
        self._maybe_fail("write")
        self._p().writes.append((characteristic.uuid, bytes(data), response))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        raise NotImplementedError

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        await self._gate("start_notify")
        self._maybe_fail("start_notify")
        peripheral = self._p()
        peripheral.handlers[characteristic.uuid] = callback
        peripheral.start_notify_calls[characteristic.uuid] += 1
        peripheral.bump()

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        await self._gate("stop_notify")
        peripheral = self._p()
        peripheral.handlers.pop(characteristic.uuid, None)
        peripheral.bump()
