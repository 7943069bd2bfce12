"""``Runtime``: owns the loop bridge, the router, the supervisor, and bounded shutdown.

Construction does nothing but store options: the loop thread and the actors start on
``start()`` (called by the context managers and by the first ``device()``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import random
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import pykka

from blerun.actors import _scan
from blerun.actors._clock import Clock, LoopClock, monotonic
from blerun.actors._device import AsyncDevice, Device
from blerun.actors._device_core import DeviceCore
from blerun.actors._errors import InvalidPolicy, RuntimeClosed, UsageError
from blerun.actors._faults import FaultPlan
from blerun.actors._link import Backend
from blerun.actors._loop import LoopBridge
from blerun.actors._metrics import Metrics, NoopMetrics
from blerun.actors._notify import NotificationActor, NotifyCheckpoint
from blerun.actors._options import DeviceOptions
from blerun.actors._policy import ReconnectPolicy
from blerun.actors._radio import RadioActor, RadioCheckpoint
from blerun.actors._reconnect import ReconnectActor
from blerun.actors._router import Router
from blerun.actors._scan import ScannerBackend, ScanResult
from blerun.actors._supervisor import Stopping, SupervisorActor
from blerun.actors._validate import check_timeout, normalize_address
from blerun.messages import (
    Address,
    ChildSpec,
    Close,
    GroupSpec,
    Poison,
    Role,
    Shutdown,
    StartGroup,
    StopGroup,
    Strategy,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CloseReport:
    """What ``close()`` achieved within its bound."""

    clean: bool
    """True if every actor stopped and every teardown finished in time."""
    unjoined: tuple[str, ...]
    """Actors that did not stop in time ("device/role"); their threads are daemons."""
    pending_teardowns: int
    """Disconnects still running on the loop when the bound expired."""
    elapsed: float
    """Seconds ``close()`` took."""


def _wait_stopped(stoppings: list[Stopping], deadline: float) -> list[str]:
    """Tell each RadioActor to close, ask every child to stop, join against one deadline."""
    for stopping in stoppings:
        if stopping.role is Role.RADIO:
            with contextlib.suppress(pykka.ActorDeadError):
                stopping.ref.tell(Close(request_id=None))
    pending = [(s, s.ref.stop(block=False)) for s in stoppings]
    unjoined: list[str] = []
    for stopping, future in pending:
        remaining = min(deadline - monotonic(), stopping.timeout)
        try:
            future.get(timeout=max(0.0, remaining))
        except pykka.Timeout:
            unjoined.append(f"{stopping.device}/{stopping.role.value}")
        except pykka.ActorDeadError:
            pass
    return unjoined


class Runtime:
    """The blerun runtime: devices, their actors, one supervisor, bounded shutdown.

    Args:
        loop: Run bleak on this (running) event loop instead of a loop thread of the
            runtime's own: pass it inside Jupyter, FastAPI, Home Assistant or a
            simulator. The runtime never stops or closes a loop it was given.
        policy: Default ``ReconnectPolicy`` for devices.
        backend: Default bleak backend class (``None``: the platform's).
        clock: Time source for every timer (``FakeClock`` in tests).
        metrics: Where counters and observations go (default: nowhere).
        faults: A ``FaultPlan`` applied to every message between actors.
        seed: Seeds the reconnect jitter of every device (reproducible delays).
        default_timeout: Seconds a call waits when it is not given ``timeout=``.
        disconnect_timeout: Bound on one disconnect (teardown).
        close_timeout: Bound used by the context managers' ``close()``.
        strategy: Restart strategy within a device group.
        restart_intensity: Restarts allowed per device within ``restart_period``.
        restart_period: Seconds of the restart-intensity window.
    """

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        policy: ReconnectPolicy | None = None,
        backend: Backend | None = None,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        faults: FaultPlan | None = None,
        seed: int | None = None,
        default_timeout: float = 10.0,
        disconnect_timeout: float = 5.0,
        close_timeout: float = 5.0,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        restart_intensity: int = 5,
        restart_period: float = 60.0,
    ) -> None:
        self._default_timeout = check_timeout(default_timeout, name="default_timeout")
        self._disconnect_timeout = check_timeout(disconnect_timeout, name="disconnect_timeout")
        self._close_timeout = check_timeout(close_timeout, name="close_timeout")
        if restart_intensity < 0:
            raise InvalidPolicy("Runtime.restart_intensity", ">= 0", restart_intensity)
        check_timeout(restart_period, name="restart_period")
        self._policy = policy or ReconnectPolicy()
        self._backend = backend
        self._clock_given = clock
        self._metrics: Metrics = metrics or NoopMetrics()
        self._faults = faults
        self._seed = seed
        self._strategy = strategy
        self._intensity = restart_intensity
        self._period = restart_period
        self._bridge = LoopBridge(loop)
        self._clock: Clock | None = None
        self._router: Router | None = None
        self._supervisor: pykka.ActorRef[Any] | None = None
        self._closed = False
        self._report: CloseReport | None = None
        self._devices: dict[str, DeviceCore] = {}
        # One-time initialization: device() may call start() from several user threads.
        self._starting = threading.Lock()

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> Self:
        """Start the loop thread (unless borrowed) and the supervisor. Idempotent."""
        with self._starting:
            if self._closed:
                raise RuntimeClosed("the runtime is closed")
            if self._router is not None:
                return self
            self._bridge.start()
            clock = self._clock_given or LoopClock(self._bridge.loop)
            router = Router(clock=clock, metrics=self._metrics, faults=self._faults)
            supervisor = SupervisorActor.start(router=router, clock=clock, metrics=self._metrics)
            router.register(Address(device="", role=Role.SUPERVISOR), supervisor)
            self._clock, self._router, self._supervisor = clock, router, supervisor
            return self

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop bleak runs on (started if needed)."""
        self.start()
        return self._bridge.loop

    @property
    def closed(self) -> bool:
        return self._closed

    def _parts(self) -> tuple[Router, Clock]:
        self.start()
        assert self._router is not None and self._clock is not None
        return self._router, self._clock

    # --- devices ----------------------------------------------------------------------

    def device(
        self,
        target: Any,
        *,
        policy: ReconnectPolicy | None = None,
        backend: Backend | None = None,
        timeout: float | None = None,
    ) -> Device:
        """The blocking API of the device at ``target``; starts its actors.

        Args:
            target: A Bluetooth address (``"AA:BB:CC:DD:EE:FF"``, or a platform UUID on
                macOS), or a device object from a bleak scan (anything with ``.address``).
            policy: Its ``ReconnectPolicy`` (default: the runtime's).
            backend: Its bleak backend (default: the runtime's).
            timeout: Seconds to wait for its actors to start.
        """
        core = self._add(target, policy, backend)
        core.wait_started(self._default_timeout if timeout is None else check_timeout(timeout))
        core.started.result()
        return Device(core)

    def async_device(
        self,
        target: Any,
        *,
        policy: ReconnectPolicy | None = None,
        backend: Backend | None = None,
    ) -> AsyncDevice:
        """The async API of the device at ``target``; returns at once, never blocks.

        Its actors start in the background; the first awaited call waits for them.
        """
        return AsyncDevice(self._add(target, policy, backend))

    def _add(
        self, target: Any, policy: ReconnectPolicy | None, backend: Backend | None
    ) -> DeviceCore:
        target = _scan.connect_target(target)
        raw = target if isinstance(target, str) else getattr(target, "address", target)
        device = normalize_address(raw)
        if policy is not None and not isinstance(policy, ReconnectPolicy):
            raise UsageError(f"policy must be a ReconnectPolicy, not {type(policy).__name__}")
        router, clock = self._parts()
        with self._starting:
            existing = self._devices.get(device)
            if existing is not None and existing.alive():
                if (policy is not None and policy != existing.policy) or (
                    backend is not None and backend is not existing.backend
                ):
                    raise UsageError(
                        f"device {device} is already managed with other options; "
                        "use the Device you got first, or remove() it"
                    )
                return existing
            core = self._start_group(
                device=device,
                target=target,
                policy=policy,
                backend=backend,
                router=router,
                clock=clock,
            )
            self._devices[device] = core
            return core

    def _start_group(
        self,
        *,
        device: str,
        target: Any,
        policy: ReconnectPolicy | None,
        backend: Backend | None,
        router: Router,
        clock: Clock,
    ) -> DeviceCore:
        options = DeviceOptions(
            device=device,
            target=target,
            backend=backend if backend is not None else self._backend,
            policy=policy or self._policy,
            disconnect_timeout=self._disconnect_timeout,
            rng_seed=self._seed,
        )
        request_id, started = router.request()
        router.tell(
            Address(device="", role=Role.SUPERVISOR),
            StartGroup(request_id=request_id, spec=self._group_spec(options, router, clock)),
        )
        return DeviceCore(
            device=device,
            router=router,
            bridge=self._bridge,
            started=started,
            default_timeout=self._default_timeout,
            policy=options.policy,
            backend=options.backend,
        )

    def _group_spec(self, options: DeviceOptions, router: Router, clock: Clock) -> GroupSpec:
        device, metrics, bridge = options.device, self._metrics, self._bridge
        seed = options.rng_seed

        def notify(checkpoint: object | None, generation: int) -> Any:
            return NotificationActor.start(
                device=device,
                router=router,
                metrics=metrics,
                checkpoint=checkpoint if isinstance(checkpoint, NotifyCheckpoint) else None,
                generation=generation,
            )

        def reconnect(_checkpoint: object | None, generation: int) -> Any:
            rng = (
                random.Random(f"{seed}:{device}:{generation}")
                if seed is not None
                else random.Random()
            )
            return ReconnectActor.start(
                device=device,
                policy=options.policy,
                router=router,
                clock=clock,
                metrics=metrics,
                rng=rng,
                generation=generation,
            )

        def radio(checkpoint: object | None, generation: int) -> Any:
            return RadioActor.start(
                options=options,
                router=router,
                bridge=bridge,
                clock=clock,
                metrics=metrics,
                checkpoint=checkpoint if isinstance(checkpoint, RadioCheckpoint) else None,
                generation=generation,
            )

        # Started in this order, stopped in reverse: the radio goes first at shutdown, so
        # its teardown starts while its peers can still take its last events.
        return GroupSpec(
            device=device,
            children=(
                ChildSpec(role=Role.NOTIFY, factory=notify),
                ChildSpec(role=Role.RECONNECT, factory=reconnect),
                ChildSpec(role=Role.RADIO, factory=radio),
            ),
            strategy=self._strategy,
            intensity=self._intensity,
            period=self._period,
        )

    def remove(self, device: Device | AsyncDevice, timeout: float = 5.0) -> list[str]:
        """Close one device: tear its link down and stop its actors, within ``timeout``.

        Returns the actors that did not stop in time. Never raises for a device that is
        already gone.
        """
        router, _ = self._parts()
        deadline = monotonic() + check_timeout(timeout)
        request_id, future = router.request()
        router.tell(
            Address(device="", role=Role.SUPERVISOR),
            StopGroup(request_id=request_id, device=device.address),
        )
        try:
            stoppings = future.result(max(0.0, deadline - monotonic()))
        except concurrent.futures.TimeoutError:
            router.forget(request_id)
            return ["supervisor"]
        assert isinstance(stoppings, list)
        return _wait_stopped(stoppings, deadline)

    # --- scanning ---------------------------------------------------------------------

    def scan(
        self,
        timeout: float = 5.0,
        *,
        name: str | None = None,
        address: str | None = None,
        service: object = None,
        adapter: str | None = None,
        backend: ScannerBackend | None = None,
    ) -> tuple[ScanResult, ...]:
        """Scan for ``timeout`` seconds; every matching device heard, strongest first.

        Args:
            timeout: The scan window in seconds.
            name: Keep only devices advertising exactly this name.
            address: Keep only the device with this address.
            service: Keep only devices advertising this service UUID.
            adapter: The adapter to scan with (BlueZ: ``"hci1"``; default: the OS's).
            backend: A bleak scanner backend class (``blerun.sim``: ``air.scanner_backend``).

        Returns:
            One ``ScanResult`` per device (its latest advertisement); pass one to
            ``device()`` to connect to it.

        Raises:
            LinkError: Bluetooth is unavailable (no stack, adapter off, permission denied).
            WrongThread: called on the runtime's event loop (use ``scan_async``).
            UsageError: a malformed address or service UUID.
            RuntimeClosed: the runtime is closed.
        """
        return _scan.scan(
            self.loop,
            timeout,
            name=name,
            address=address,
            service=service,
            adapter=adapter,
            backend=backend,
        )

    async def scan_async(
        self,
        timeout: float = 5.0,
        *,
        name: str | None = None,
        address: str | None = None,
        service: object = None,
        adapter: str | None = None,
        backend: ScannerBackend | None = None,
    ) -> tuple[ScanResult, ...]:
        """``scan()`` without blocking the caller's loop; same arguments and errors."""
        return await _scan.scan_async(
            self.loop,
            timeout,
            name=name,
            address=address,
            service=service,
            adapter=adapter,
            backend=backend,
        )

    def find(
        self,
        timeout: float = 10.0,
        *,
        name: str | None = None,
        address: str | None = None,
        service: object = None,
        adapter: str | None = None,
        backend: ScannerBackend | None = None,
    ) -> ScanResult:
        """Scan until a device matching every criterion given is heard, and return it.

        Args:
            timeout: Give up after this many seconds.
            name: The exact advertised name.
            address: The device's address.
            service: A service UUID it advertises.
            adapter: The adapter to scan with (BlueZ: ``"hci1"``; default: the OS's).
            backend: A bleak scanner backend class (``blerun.sim``: ``air.scanner_backend``).

        Returns:
            The first match heard; ``rt.device(result)`` connects to it.

        Raises:
            DeviceNotFound: nothing matching was heard within ``timeout``.
            UsageError: no criterion given, or a malformed one.
            LinkError, WrongThread, RuntimeClosed: as for ``scan()``.
        """
        return _scan.find(
            self.loop,
            timeout,
            name=name,
            address=address,
            service=service,
            adapter=adapter,
            backend=backend,
        )

    async def find_async(
        self,
        timeout: float = 10.0,
        *,
        name: str | None = None,
        address: str | None = None,
        service: object = None,
        adapter: str | None = None,
        backend: ScannerBackend | None = None,
    ) -> ScanResult:
        """``find()`` without blocking the caller's loop; same arguments and errors."""
        return await _scan.find_async(
            self.loop,
            timeout,
            name=name,
            address=address,
            service=service,
            adapter=adapter,
            backend=backend,
        )

    # --- fault injection ----------------------------------------------------------------

    def crash(self, device: Device | AsyncDevice, role: Role, note: str = "") -> None:
        """Make one actor of ``device`` crash, as a bug would (fault injection)."""
        router, _ = self._parts()
        router.tell(Address(device=device.address, role=role), Poison(note=note))

    # --- shutdown ---------------------------------------------------------------------

    def close(self, timeout: float | None = None) -> CloseReport:
        """Stop every device and actor within ``timeout`` seconds; idempotent, never raises.

        New calls get ``RuntimeClosed`` from the moment this starts. Links are torn down
        without waiting on them past the bound; what could not be joined is reported in
        the returned ``CloseReport``, not waited for.
        """
        if self._report is not None:
            return self._report
        seconds = self._close_timeout if timeout is None else check_timeout(timeout)
        started_at = monotonic()
        deadline = started_at + seconds
        self._closed = True
        router, supervisor = self._router, self._supervisor
        unjoined: list[str] = []
        pending_teardowns = 0
        if router is not None and supervisor is not None:
            router.closed = True
            unjoined = self._stop_actors(router, supervisor, deadline)
            router.fail_pending(RuntimeClosed("the runtime is closed"))
            pending_teardowns = self._drain(deadline)
        if not self._bridge.close(max(0.0, deadline - monotonic())):
            unjoined.append("loop")
        self._report = CloseReport(
            clean=not unjoined and not pending_teardowns,
            unjoined=tuple(unjoined),
            pending_teardowns=pending_teardowns,
            elapsed=monotonic() - started_at,
        )
        if not self._report.clean:
            log.warning("runtime closed with leftovers: %s", self._report)
        return self._report

    def _stop_actors(
        self, router: Router, supervisor: pykka.ActorRef[Any], deadline: float
    ) -> list[str]:
        request_id, future = router.request()
        router.tell(Address(device="", role=Role.SUPERVISOR), Shutdown(request_id=request_id))
        stoppings: list[Stopping] = []
        unjoined: list[str] = []
        try:
            result = future.result(max(0.0, deadline - monotonic()))
            assert isinstance(result, list)
            stoppings = result
        except concurrent.futures.TimeoutError:
            unjoined.append("supervisor")
        unjoined += _wait_stopped(stoppings, deadline)
        stop = supervisor.stop(block=False)
        try:
            stop.get(timeout=max(0.0, deadline - monotonic()))
        except pykka.Timeout:
            if "supervisor" not in unjoined:
                unjoined.append("supervisor")
        return unjoined

    def _drain(self, deadline: float) -> int:
        """Give the links' teardowns most of the rest of the bound; returns how many still run.

        A tenth of the bound (at most 0.1 s) is kept for stopping the loop thread.
        """
        if self._bridge.in_loop_thread():
            return 0  # the caller's loop runs them once we return
        reserve = min(0.1, 0.1 * max(0.0, deadline - monotonic()))
        remaining = max(0.0, deadline - monotonic() - reserve)
        done: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._bridge.submit(lambda: self._bridge.drain(remaining), lambda f: _copy(f, done))
        try:
            return done.result(remaining + 0.05)
        except (concurrent.futures.TimeoutError, RuntimeClosed, concurrent.futures.CancelledError):
            return 1

    async def aclose(self, timeout: float | None = None) -> CloseReport:
        """``close()`` without blocking the caller's loop (it runs on a helper thread)."""
        return await _off_loop(lambda: self.close(timeout))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _copy(source: concurrent.futures.Future[int], target: concurrent.futures.Future[int]) -> None:
    if source.cancelled():
        target.cancel()
    elif (error := source.exception()) is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())


async def _off_loop(fn: Callable[[], T]) -> T:
    """Run a bounded blocking call on a daemon thread and await its result."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if result.done():
            return
        if error is not None:
            result.set_exception(error)
        else:
            result.set_result(value)  # type: ignore[arg-type]

    def run() -> None:
        try:
            value = fn()
        except Exception as exc:  # noqa: BLE001 -- handed back to the awaiting coroutine
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, value, None)

    threading.Thread(target=run, name="blerun-close", daemon=True).start()
    return await result
