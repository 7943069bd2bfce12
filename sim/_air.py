"""The virtual air: one Bumble link, its adapters (centrals), any number of peripherals.

Bumble is single-loop and not thread-safe, and it reads the running loop in its
constructors, so everything (link, controllers, devices, bleak's calls into the
backends) lives on one asyncio loop. Two ways to get one:

* **Sync world.** :meth:`VirtualAir.start` starts a daemon thread that runs a new loop
  and builds the air on it. ``air.loop`` is that loop: run bleak on it with
  :meth:`VirtualAir.run` or ``asyncio.run_coroutine_threadsafe``. :meth:`VirtualAir.close`
  stops it within a bound.
* **Async world.** ``await VirtualAir.create()`` builds the air on the running loop;
  ``async with`` (or :meth:`VirtualAir.aclose`) tears it down, leaving the loop running.

The air's state lives in a :class:`~._world.World` on the loop; this class is its
thread-safe public face, and owns what crosses threads and processes: the loop thread,
the backend classes, and the socket other processes reach the air through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import uuid
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Literal, Self, TypeVar, overload

from ._adapter import Adapter
from ._binding import BackendKind, bind, register_air
from ._bridge import LoopBridge
from ._central import Central
from ._client import SimBleakClient
from ._node import Node
from ._peripheral import Peripheral
from ._port import BackendRef
from ._realism import Realism, RealismName, realism_from
from ._remote import ControllerServer
from ._scanner import SimBleakScanner
from ._spec import PeripheralSpec
from ._world import World

__all__ = ["VirtualAir"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_SETUP_TIMEOUT = 10.0
_RUN_TIMEOUT = 30.0


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

        air.run(main())
        air.close()
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        thread_id: int,
        thread: threading.Thread | None,
        *,
        quiet: bool,
        realism: Realism,
        _private: object = None,
    ) -> None:
        if _private is not _TOKEN:
            raise TypeError("use VirtualAir.start() or await VirtualAir.create()")
        self._bridge = LoopBridge(loop, thread_id)
        self._thread = thread
        self._world = World(self._bridge, realism=realism, quiet=quiet)
        self._server = ControllerServer(self._world, self._bridge)
        self._close_lock = threading.Lock()
        self._id = uuid.uuid4().hex
        self._pid = os.getpid()
        self._peripherals: list[Peripheral] = []
        self._adapters: dict[str, Adapter] = {}
        self._client_backend: type[SimBleakClient] = self._bind("client", None)
        self._scanner_backend: type[SimBleakScanner] = self._bind("scanner", None)
        register_air(self._id, self._backend_class)

    # -- construction --------------------------------------------------------------

    @classmethod
    def start(
        cls,
        *,
        quiet: bool = True,
        realism: RealismName | Realism = "default",
        timeout: float = _SETUP_TIMEOUT,
    ) -> VirtualAir:
        """Start a loop thread and build the air on it.

        Args:
            quiet: Use the quiet HCI paths (``False`` keeps Bumble's per-packet log
                formatting; only useful to measure what it costs).
            realism: ``"default"``, ``"bluez"`` (BlueZ's D-Bus errors, connection
                slots, MTU reporting), or a :class:`Realism`.
            timeout: Bound on building the air.

        Returns:
            The running air. Close it with :meth:`close`.
        """
        profile = realism_from(realism)
        loop = asyncio.new_event_loop()
        started = threading.Event()
        thread = threading.Thread(
            target=_run_loop, args=(loop, started), name="blerun-sim-air", daemon=True
        )
        thread.start()
        started.wait(timeout)
        if thread.ident is None:
            raise RuntimeError("the air's loop thread did not start")
        air = cls(loop, thread.ident, thread, quiet=quiet, realism=profile, _private=_TOKEN)
        try:
            air._bridge.run(air._build(), timeout)
        except Exception:
            air.close(timeout=timeout)
            raise
        return air

    @classmethod
    async def create(
        cls, *, quiet: bool = True, realism: RealismName | Realism = "default"
    ) -> VirtualAir:
        """Build the air on the running loop (use ``async with`` or :meth:`aclose`).

        Args:
            quiet: As for :meth:`start`.
            realism: As for :meth:`start`.

        Returns:
            The air, on the running loop.
        """
        profile = realism_from(realism)
        loop = asyncio.get_running_loop()
        air = cls(loop, threading.get_ident(), None, quiet=quiet, realism=profile, _private=_TOKEN)
        try:
            await air._build()
        except (Exception, asyncio.CancelledError):
            await air.aclose()
            raise
        return air

    async def _build(self) -> None:
        await self._world.build()
        self._register_adapter(self._world.centrals[0])

    def _register_adapter(self, central: Central) -> Adapter:
        adapter = Adapter(
            central.name,
            central.address.to_string(with_type_qualifier=False),
            self._bind("client", central.name),
            self._bind("scanner", central.name),
        )
        self._adapters[central.name] = adapter
        return adapter

    # -- what users reach ----------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop bumble and bleak run on; run every bleak call on it."""
        return self._bridge.loop

    @property
    def client_backend(self) -> type[SimBleakClient]:
        """``BleakClient(address, backend=air.client_backend)`` reaches this air.

        It connects through ``hci0``, or the adapter ``bluez={"adapter": ...}`` names.
        It pickles (also for multiprocessing's spawn start method): unpickled in
        another process it reaches this same air, as a central of its own.
        """
        return self._client_backend

    @property
    def scanner_backend(self) -> type[SimBleakScanner]:
        """``BleakScanner(backend=air.scanner_backend)`` scans this air (pickles too)."""
        return self._scanner_backend

    @property
    def realism(self) -> Realism:
        """The platform profile this air imitates."""
        return self._world.realism

    @property
    def peripherals(self) -> tuple[Peripheral, ...]:
        """Every peripheral added so far, in order."""
        return tuple(self._peripherals)

    @property
    def adapters(self) -> tuple[Adapter, ...]:
        """This process's adapters on the air, ``hci0`` first."""
        return tuple(self._adapters.values())

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` or :meth:`aclose` has been called."""
        return self._world.closed

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float = _RUN_TIMEOUT) -> T:
        """Run ``coro`` on the air's loop from another thread; return its result.

        Raises:
            TimeoutError: It did not finish within ``timeout`` seconds (it is cancelled).
            RuntimeError: Called on the loop thread (await the coroutine there).
        """
        return self._bridge.run(coro, timeout)

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
        if not isinstance(spec, PeripheralSpec):
            raise TypeError(f"expected a PeripheralSpec, got {type(spec).__name__}")
        world = self._world
        address = world.allocate(spec.address)
        peripheral = Peripheral(spec, address, self._bridge)
        node = Node(
            spec, address, peripheral, link=world.link, quiet=world.quiet, spawn=world.spawn
        )
        world.add_node(node, peripheral.address)
        try:
            await node.start()
        except (Exception, asyncio.CancelledError):
            world.remove_node(node, peripheral.address)
            raise
        peripheral._attach(node)
        self._peripherals.append(peripheral)
        return peripheral

    def add_adapter(self, *, timeout: float = _SETUP_TIMEOUT) -> Adapter:
        """Add an adapter (``hci1``, ``hci2``, ...): another central on the same air.

        Blocks; on the loop thread use :meth:`add_adapter_async`.

        Raises:
            RuntimeError: Called on the loop thread, or the air is closed.
        """
        if self._bridge.on_loop_thread():
            raise RuntimeError("add_adapter blocks; on the loop thread await add_adapter_async")
        return self._bridge.run(self.add_adapter_async(), timeout)

    async def add_adapter_async(self) -> Adapter:
        """Add an adapter on the loop; returns once it is powered on."""
        self._require_loop()
        return self._register_adapter(await self._world.add_central())

    def _require_loop(self) -> None:
        if not self._bridge.on_loop_thread():
            raise RuntimeError("this runs on the air's loop; from other threads use its twin")
        if self._world.closed:
            raise RuntimeError("the air is closed")

    # -- backend classes -----------------------------------------------------------

    @overload
    def _bind(self, kind: Literal["client"], adapter: str | None) -> type[SimBleakClient]: ...
    @overload
    def _bind(self, kind: Literal["scanner"], adapter: str | None) -> type[SimBleakScanner]: ...

    def _bind(self, kind: BackendKind, adapter: str | None) -> type[Any]:
        def describe() -> BackendRef:
            return BackendRef(
                kind=kind,
                air_id=self._id,
                pid=self._pid,
                endpoint=self._server.endpoint(),
                adapter=adapter,
                realism=self._world.realism,
            )

        return bind(kind, self._world, adapter, describe)

    def _backend_class(self, kind: str, adapter: str | None) -> type[Any]:
        """The class a pickled reference to this air's backend stands for here."""
        if adapter is not None and adapter in self._adapters:
            found = self._adapters[adapter]
            return found.client_backend if kind == "client" else found.scanner_backend
        return self._client_backend if kind == "client" else self._scanner_backend

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
            if not self._world.mark_closed():
                return
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
            if not self._world.mark_closed():
                return
        await self._teardown(owns_loop=False)

    async def _teardown(self, *, owns_loop: bool) -> None:
        await self._world.teardown(owns_loop=owns_loop)
        await self._server.aclose()

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
