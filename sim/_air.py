"""The virtual air: one Bumble link, one central, any number of emulated peripherals.

Bumble is single-loop and not thread-safe, and it reads the running loop in its
constructors, so everything (link, controllers, devices, bleak's calls into the
backends) lives on one asyncio loop. Two ways to get one:

* **Sync world.** :meth:`VirtualAir.start` starts a daemon thread that runs a new loop
  and builds the air on it. ``air.loop`` is that loop: run bleak on it with
  ``asyncio.run_coroutine_threadsafe``. :meth:`VirtualAir.close` stops it within a bound.
* **Async world.** ``await VirtualAir.create()`` builds the air on the running loop;
  ``async with`` (or :meth:`VirtualAir.aclose`) tears it down, leaving the loop running.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self

from bleak.exc import BleakDeviceNotFoundError, BleakError
from bumble import hci

from ._bridge import LoopBridge
from ._central import Central
from ._client import SimBleakClient, bind_client
from ._hci import PROCEED, Admission, SimLink
from ._node import Node
from ._peripheral import Peripheral
from ._scanner import SimBleakScanner, bind_scanner
from ._spec import PeripheralSpec

__all__ = ["VirtualAir"]

logger = logging.getLogger(__name__)

_CENTRAL_ADDRESS = "C0:00:00:00:00:01"
_SETUP_TIMEOUT = 10.0


def _random_static(text: str) -> hci.Address:
    try:
        address = hci.Address(text, hci.Address.RANDOM_DEVICE_ADDRESS)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{text!r} is not a Bluetooth address") from exc
    if address.address_bytes[5] & 0xC0 != 0xC0:
        raise ValueError(f"{text} is not a random static address (top two bits must be 1)")
    return address


class _Policy:
    """The central controller's questions, answered by the addressed peripheral."""

    def __init__(self, nodes: dict[hci.Address, Node]) -> None:
        self._nodes = nodes

    def admit_connect(self, peer: hci.Address) -> Admission:
        node = self._nodes.get(peer)
        return node.admit("connect") if node is not None else PROCEED

    def admit_disconnect(self, peer: hci.Address) -> Admission:
        node = self._nodes.get(peer)
        return node.admit("disconnect") if node is not None else PROCEED

    def rssi_of(self, advertiser: hci.Address) -> int:
        node = self._nodes.get(advertiser)
        return node.spec.rssi if node is not None else -60


class VirtualAir:
    """An in-process BLE world: Bumble's virtual controllers reached through bleak.

    Build one with :meth:`start` (it owns a loop thread) or :meth:`create` (it uses the
    running loop); the constructor is private.

    Example (sync world)::

        air = VirtualAir.start()
        hr = air.add_peripheral(heart_rate_monitor(name="HR-1"))

        async def main() -> None:
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                print(await client.read_gatt_char(BODY_SENSOR_LOCATION))

        asyncio.run_coroutine_threadsafe(main(), air.loop).result(10)
        air.close()
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        thread_id: int,
        thread: threading.Thread | None,
        *,
        quiet: bool,
        _private: object = None,
    ) -> None:
        if _private is not _TOKEN:
            raise TypeError("use VirtualAir.start() or await VirtualAir.create()")
        self._bridge = LoopBridge(loop, thread_id)
        self._thread = thread
        self._quiet = quiet
        self._close_lock = threading.Lock()
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._nodes: dict[hci.Address, Node] = {}
        self._by_text: dict[str, hci.Address] = {}
        self._peripherals: list[Peripheral] = []
        self._numbers = itertools.count(1)
        self._link: SimLink | None = None
        self._central_or_none: Central | None = None
        self._client_backend = bind_client(self)
        self._scanner_backend = bind_scanner(self)

    # -- construction --------------------------------------------------------------

    @classmethod
    def start(cls, *, quiet: bool = True, timeout: float = _SETUP_TIMEOUT) -> VirtualAir:
        """Start a loop thread and build the air on it.

        Args:
            quiet: Use the quiet HCI paths (``False`` keeps Bumble's per-packet log
                formatting; only useful to measure what it costs).
            timeout: Bound on building the air.

        Returns:
            The running air. Close it with :meth:`close`.
        """
        loop = asyncio.new_event_loop()
        started = threading.Event()
        thread = threading.Thread(
            target=_run_loop, args=(loop, started), name="blerun-sim-air", daemon=True
        )
        thread.start()
        started.wait(timeout)
        if thread.ident is None:
            raise RuntimeError("the air's loop thread did not start")
        air = cls(loop, thread.ident, thread, quiet=quiet, _private=_TOKEN)
        try:
            air._bridge.run(air._build(), timeout)
        except Exception:
            air.close(timeout=timeout)
            raise
        return air

    @classmethod
    async def create(cls, *, quiet: bool = True) -> VirtualAir:
        """Build the air on the running loop (use ``async with`` or :meth:`aclose`)."""
        loop = asyncio.get_running_loop()
        air = cls(loop, threading.get_ident(), None, quiet=quiet, _private=_TOKEN)
        try:
            await air._build()
        except (Exception, asyncio.CancelledError):
            await air.aclose()
            raise
        return air

    async def _build(self) -> None:
        self._link = SimLink()
        central = Central(
            link=self._link,
            quiet=self._quiet,
            address=_random_static(_CENTRAL_ADDRESS),
            spawn=self._spawn,
        )
        central.controller.policy = _Policy(self._nodes)
        self._central_or_none = central
        await central.start()

    # -- what users reach ----------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop bumble and bleak run on; run every bleak call on it."""
        return self._bridge.loop

    @property
    def client_backend(self) -> type[SimBleakClient]:
        """``BleakClient(address, backend=air.client_backend)`` reaches this air."""
        return self._client_backend

    @property
    def scanner_backend(self) -> type[SimBleakScanner]:
        """``BleakScanner(backend=air.scanner_backend)`` scans this air."""
        return self._scanner_backend

    @property
    def peripherals(self) -> tuple[Peripheral, ...]:
        """Every peripheral added so far, in order."""
        return tuple(self._peripherals)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` or :meth:`aclose` has been called."""
        return self._closed

    def add_peripheral(
        self, spec: PeripheralSpec, *, timeout: float = _SETUP_TIMEOUT
    ) -> Peripheral:
        """Bring ``spec`` to life; returns once it advertises.

        Blocks, so it refuses to run on the loop thread: there, use
        :meth:`add_peripheral_async`.

        Raises:
            ValueError: The spec's address is taken or not random static.
            RuntimeError: Called on the loop thread, or the air is closed.
            TimeoutError: Not advertising within ``timeout`` seconds.
        """
        if self._bridge.on_loop_thread():
            raise RuntimeError(
                "add_peripheral blocks; on the loop thread await add_peripheral_async"
            )
        return self._bridge.run(self.add_peripheral_async(spec), timeout)

    async def add_peripheral_async(self, spec: PeripheralSpec) -> Peripheral:
        """Bring ``spec`` to life on the loop; returns once it advertises."""
        self._require_loop()
        if self._closed:
            raise RuntimeError("the air is closed")
        if not isinstance(spec, PeripheralSpec):
            raise TypeError(f"expected a PeripheralSpec, got {type(spec).__name__}")
        address = self._allocate(spec)
        link = self._link
        assert link is not None, "air used before it was built"
        peripheral = Peripheral(spec, address, self._bridge)
        node = Node(spec, address, peripheral, link=link, quiet=self._quiet)
        self._nodes[address] = node
        self._by_text[peripheral.address] = address
        try:
            await node.start()
        except (Exception, asyncio.CancelledError):
            del self._nodes[address]
            del self._by_text[peripheral.address]
            node.close()
            link.remove_controller(node.controller)
            raise
        peripheral._attach(node)
        self._peripherals.append(peripheral)
        return peripheral

    def _allocate(self, spec: PeripheralSpec) -> hci.Address:
        if spec.address is not None:
            address = _random_static(spec.address)
            if address in self._nodes:
                raise ValueError(f"address {spec.address} is already on this air")
            return address
        while True:
            n = next(self._numbers)
            address = _random_static(f"F0:00:00:00:{n >> 8 & 0xFF:02X}:{n & 0xFF:02X}")
            if address not in self._nodes:
                return address

    # -- used by the backends (loop thread) ----------------------------------------

    @property
    def _central(self) -> Central:
        central = self._central_or_none
        if central is None:
            raise BleakError("the air is not built")
        return central

    def _require_loop(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self._bridge.loop:
            raise BleakError(
                "blerun.sim: run bleak on air.loop (Bumble is single-loop); "
                "from another thread use asyncio.run_coroutine_threadsafe(..., air.loop)"
            )
        if self._closed:
            raise BleakError("the air is closed")

    def _resolve(self, address: str) -> hci.Address:
        typed = self._by_text.get(address.upper())
        if typed is None:
            raise BleakDeviceNotFoundError(address, f"no emulated peripheral has address {address}")
        return typed

    def _name_of(self, address: hci.Address) -> str | None:
        node = self._nodes.get(address)
        return node.spec.name if node is not None else None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run background work the air owns; closing the air cancels it."""
        if self._closed:
            coro.close()
            return
        task = self._bridge.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("blerun.sim background task failed", exc_info=task.exception())

    # -- closing -------------------------------------------------------------------

    def close(self, timeout: float = 2.0) -> None:
        """Tear the air down and, for an air from :meth:`start`, stop its thread.

        Idempotent; returns within about ``timeout`` seconds whatever the emulated
        links are doing (pending bleak calls on the loop are cancelled). Not callable on
        the loop thread (use :meth:`aclose`).
        """
        if self._bridge.on_loop_thread():
            raise RuntimeError("close() blocks; on the loop thread await aclose()")
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        loop = self._bridge.loop
        deadline = _Deadline(loop, timeout)
        if not loop.is_closed():
            try:
                # Most of the bound for the teardown, the rest for joining the thread.
                self._bridge.run(
                    self._teardown(owns_loop=self._thread is not None), deadline.left() * 0.75
                )
            except (TimeoutError, RuntimeError) as exc:
                logger.warning("blerun.sim: air teardown incomplete: %r", exc)
        thread = self._thread
        if thread is None:
            return
        if not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                loop.call_soon_threadsafe(loop.stop)
        thread.join(deadline.left())
        if thread.is_alive():
            logger.warning("blerun.sim: the air's loop thread did not stop within %ss", timeout)
        elif not loop.is_closed():
            loop.close()

    async def aclose(self) -> None:
        """Tear the air down from the loop thread (an air from :meth:`create`).

        Drops every link and fails a pending connect, so bleak calls into the air end
        with ``BleakError``, and cancels the air's own background work.
        """
        if not self._bridge.on_loop_thread():
            raise RuntimeError("aclose() runs on the air's loop; from other threads use close()")
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        await self._teardown(owns_loop=False)

    async def _teardown(self, *, owns_loop: bool) -> None:
        # Radio off first, so nothing still waiting on the air can hang: links drop
        # (pending operations fail with BleakError) and a pending connect fails.
        central = self._central_or_none
        if central is not None:
            central.controller.abandon_pending()
        for node in self._nodes.values():
            node.close()
        current = asyncio.current_task()
        if owns_loop:
            # Nobody else runs on this loop: every task is ours or Bumble's.
            doomed = {t for t in asyncio.all_tasks() if t is not current}
        else:
            doomed = set(self._tasks)
        for task in doomed:
            task.cancel()
        if doomed:
            await asyncio.wait(doomed)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


_TOKEN = object()


class _Deadline:
    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        # loop.time() is a plain monotonic clock, safe to read from any thread.
        self._loop = loop
        self._end = loop.time() + timeout

    def left(self) -> float:
        return max(self._end - self._loop.time(), 0.001)


def _run_loop(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(started.set)
    try:
        loop.run_forever()
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
