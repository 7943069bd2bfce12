"""Helpers for the blerun.sim tests: run a coroutine within a bound, collect values,
and the body of a child process that reaches an air from outside."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic

from blerun.sim import (
    HEART_RATE_MEASUREMENT,
    VirtualAir,
    heart_rate_monitor,
    parse_heart_rate_measurement,
)

T = TypeVar("T")

# Every test coroutine gets this long; pytest-timeout (60 s) is the outer bound.
BOUND = 20.0


def arun(coro: Coroutine[Any, Any, T], timeout: float = BOUND) -> T:
    """Run ``coro`` on a fresh loop with a bound, so a hang fails the test, not the run."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    with asyncio.Runner() as runner:
        return runner.run(bounded())


def on_air(air: VirtualAir, coro: Coroutine[Any, Any, T], timeout: float = BOUND) -> T:
    """Run a coroutine on a sync-world air's loop and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coro, air.loop).result(timeout)


class _Counted:
    """Something that counts and lets coroutines wait for a count."""

    def __init__(self) -> None:
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def _count(self) -> int:
        raise NotImplementedError

    def _wake(self) -> None:
        reached = self._count()
        for count, future in list(self._waiters):
            if reached >= count and not future.done():
                future.set_result(None)

    async def _wait_count(self, count: int) -> None:
        if self._count() >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((count, future))
        try:
            await future
        finally:
            self._waiters.remove((count, future))


class Collector(_Counted):
    """A bleak notification callback that records values and wakes waiters."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[bytes] = []

    def _count(self) -> int:
        return len(self.values)

    def __call__(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        assert isinstance(data, bytearray), type(data)
        self.values.append(bytes(data))
        self._wake()

    async def wait_for(self, count: int) -> None:
        """Wait until at least ``count`` values have arrived."""
        await self._wait_count(count)

    def sequences(self) -> list[int]:
        """The sequence numbers of the heart-rate measurements received."""
        result = []
        for value in self.values:
            _bpm, sequence = parse_heart_rate_measurement(value)
            assert sequence is not None
            result.append(sequence)
        return result


class Disconnects(_Counted):
    """A ``disconnected_callback`` that counts calls and can be awaited."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def _count(self) -> int:
        return self.count

    def __call__(self, _client: BleakClient) -> None:
        self.count += 1
        self._wake()

    async def wait(self, count: int = 1) -> None:
        """Wait until the callback has run at least ``count`` times."""
        await self._wait_count(count)


# --- a radio host in another process ----------------------------------------------------


def remote_session(
    client_backend: type[Any],
    scanner_backend: type[Any],
    address: str,
    pipe: Connection,
) -> None:
    """The body of a spawned child: scan, connect, subscribe, report, await the drop.

    Reports to ``pipe``: ("found", name), ("connected", mtu), ("values", [sequences]),
    ("disconnected", count), then ("done", None). Anything raised is sent as
    ("error", repr) so the parent's assertion shows it.
    """

    async def main() -> None:
        device = await BleakScanner.find_device_by_address(
            address, timeout=BOUND, backend=scanner_backend
        )
        pipe.send(("found", device.name if device is not None else None))
        lost = Disconnects()
        values = Collector()
        client = BleakClient(device or address, lost, backend=client_backend)
        await client.connect()
        pipe.send(("connected", client.mtu_size))
        await client.start_notify(HEART_RATE_MEASUREMENT, values)
        await values.wait_for(5)
        pipe.send(("values", values.sequences()))
        await lost.wait()  # the parent drops the link
        pipe.send(("disconnected", lost.count))

    try:
        arun(main())
    except BaseException as exc:  # reported to the parent, whatever it is
        pipe.send(("error", repr(exc)))
        raise
    pipe.send(("done", None))


def expect(pipe: Connection, tag: str, timeout: float = BOUND) -> Any:
    """The payload of the next message from a child, which must be tagged ``tag``."""
    if not pipe.poll(timeout):
        raise TimeoutError(f"no {tag!r} from the child within {timeout} s")
    got, payload = pipe.recv()
    assert got == tag, f"expected {tag!r}, got {got!r}: {payload!r}"
    return payload


def air_owner_session(pipe: Connection) -> None:
    """The body of a spawned child that owns an air: it sends ("air", (client backend,
    heart-rate monitor's address)) and serves until killed."""
    with VirtualAir.start() as air:
        hr = air.add_peripheral(heart_rate_monitor(name="HR-owned", rate_hz=100.0))
        pipe.send(("air", (air.client_backend, hr.address)))
        pipe.recv()  # never comes: the parent kills this process
