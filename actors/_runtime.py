"""``Runtime``: owns the loop bridge, the router, the lanes, the supervisor, and shutdown.

Construction does nothing but check and store options: the loop thread (unless one is
borrowed), the callback lanes and the supervisor start on ``start()`` (called by the
context managers and by the first ``device()``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import threading
from types import TracebackType
from typing import Any, Literal, Self, TypeVar, Unpack, final

import pykka

from blerun.actors._assembly import RuntimeOptions, assemble
from blerun.actors._clock import Clock, monotonic
from blerun.actors._device import AsyncDevice, Device
from blerun.actors._device_core import DeviceCore
from blerun.actors._faults import FaultPlan
from blerun.actors._group import start_group
from blerun.actors._host_policy import HostInfo, HostPolicy
from blerun.actors._link import Backend
from blerun.actors._loop import LoopBridge, off_loop
from blerun.actors._metrics import Metrics
from blerun.actors._policy import ReconnectPolicy
from blerun.actors._scanning import Scanning
from blerun.actors._shutdown import remove_group, shut_down
from blerun.actors._targets import LinkArgs, link_options
from blerun.actors._validate import (
    check_timeout,
    teardown_timeout,
)
from blerun.actors._values import CloseReport
from blerun.actors._wiring import DeviceOptions, RuntimeParts
from blerun.actors.errors import InvalidArgument, InvalidPolicy, RuntimeClosed, UsageError
from blerun.messages import DeviceId, Poison, Role, Strategy

log = logging.getLogger(__name__)

T = TypeVar("T")

_REORDER_WINDOW = 0.25
"""Seconds a delayed notification batch is waited for (without a fault plan nothing is
ever delayed between actors; with one, the plan's longest delay is added)."""


@final
class Runtime(Scanning):
    """The blerun runtime: devices, their actors, one supervisor, bounded shutdown.

    Args:
        loop: Run bleak (and the device actors) on this event loop instead of a loop
            thread of the runtime's own: pass it inside Jupyter, FastAPI, Home Assistant
            or a simulator. The runtime never stops or closes a loop it was given.
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
        callback_threads: Worker threads that run user callbacks (each device's one at a
            time, in order); a callback that blocks holds one of them.
        callback_backlog: Notifications a device's callbacks may fall behind by; past it
            the oldest are dropped and counted (``notifications_overflow``).
        radio: ``"inprocess"`` (default): the radios and bleak run on the runtime's loop.
            ``"process"``: they run in radio host processes (one per adapter), which the
            supervisor kills and restarts when they hang, crash or leak.
        hosts: How radio host processes are supervised (``HostPolicy``); process mode.
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
        callback_threads: int = 4,
        callback_backlog: int = 10_000,
        radio: Literal["inprocess", "process"] = "inprocess",
        hosts: HostPolicy | None = None,
    ) -> None:
        self._opt = RuntimeOptions.check(
            loop=loop,
            policy=policy,
            backend=backend,
            clock=clock,
            metrics=metrics,
            faults=faults,
            seed=seed,
            default_timeout=default_timeout,
            disconnect_timeout=disconnect_timeout,
            close_timeout=close_timeout,
            strategy=strategy,
            restart_intensity=restart_intensity,
            restart_period=restart_period,
            callback_threads=callback_threads,
            callback_backlog=callback_backlog,
            radio=radio,
            hosts=hosts,
        )
        self._bridge = LoopBridge(loop)
        self._parts: RuntimeParts | None = None
        self._supervisor: pykka.ActorRef[Any] | None = None
        self._closed = False
        self._report: CloseReport | None = None
        self._devices: dict[str, DeviceCore] = {}
        self._epochs: dict[str, int] = {}
        # One-time initialization: device() may call start() from several user threads.
        self._lock = threading.Lock()

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> Self:
        """Start the loop thread (unless borrowed), the lanes and the supervisor. Idempotent."""
        with self._lock:
            if self._closed:
                raise RuntimeClosed("the runtime is closed")
            if self._parts is not None:
                return self
            self._bridge.start()
            self._parts, self._supervisor = assemble(self._opt, self._bridge)
            return self

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop bleak and the device actors run on (started if needed)."""
        self.start()
        return self._bridge.loop

    @property
    def closed(self) -> bool:
        return self._closed

    def _running(self) -> RuntimeParts:
        self.start()
        assert self._parts is not None
        return self._parts

    # --- devices ----------------------------------------------------------------------

    def device(
        self,
        target: Any,
        *,
        policy: ReconnectPolicy | None = None,
        backend: Backend | None = None,
        timeout: float | None = None,
        **link: Unpack[LinkArgs],
    ) -> Device:
        """The blocking API of the device at ``target``; starts its actors.

        Args:
            target: A Bluetooth address (``"AA:BB:CC:DD:EE:FF"``, or a platform UUID on
                macOS), or a device object from a scan (anything with ``.address``).
            policy: Its ``ReconnectPolicy`` (default: the runtime's).
            backend: Its bleak backend (default: the runtime's).
            timeout: Seconds to wait for its actors to start.
            **link: bleak's client options: ``adapter="hci1"`` (BlueZ), ``pair=True``,
                ``services=[...]`` (only discover these), ``bluez={...}``, ``winrt={...}``.

        Raises:
            UsageError: a bad argument (named), or the device is already managed with
                other options.
        """
        # The timeout is checked before the device is made: a refused call leaves nothing.
        seconds = self._opt.default_timeout if timeout is None else check_timeout(timeout)
        core = self._add(target, policy, backend, link)
        try:
            core.started.result(seconds)
        except concurrent.futures.TimeoutError:
            log.warning("the actors of %s are slow to start", core.address)
        return Device(core)

    def async_device(
        self,
        target: Any,
        *,
        policy: ReconnectPolicy | None = None,
        backend: Backend | None = None,
        **link: Unpack[LinkArgs],
    ) -> AsyncDevice:
        """The async API of the device at ``target`` (arguments as ``device()``).

        Returns at once, never blocks: the actors start in the background and calls made
        meanwhile wait for them.
        """
        return AsyncDevice(self._add(target, policy, backend, link))

    def _add(
        self, target: Any, policy: ReconnectPolicy | None, backend: Backend | None, link: LinkArgs
    ) -> DeviceCore:
        address, options = link_options(
            target,
            backend=backend if backend is not None else self._opt.backend,
            disconnect_timeout=self._opt.disconnect_timeout,
            **link,
        )
        if policy is not None and not isinstance(policy, ReconnectPolicy):
            raise InvalidArgument("policy", "a ReconnectPolicy or None", policy)
        parts = self._running()
        with self._lock:
            if self._closed:
                raise RuntimeClosed("the runtime is closed")
            existing = self._devices.get(address)
            if existing is not None and existing.alive():
                # The same device may be named by another spelling or scan object.
                same_target = dataclasses.replace(options, target=existing.options.link.target)
                if (policy or existing.policy, same_target) != (
                    existing.policy,
                    existing.options.link,
                ):
                    raise UsageError(
                        f"device {address} is already managed with other options; "
                        "use the Device you got first, or remove() it"
                    )
                return existing
            epoch = self._epochs.get(address, 0) + 1
            self._epochs[address] = epoch
            reorder = _REORDER_WINDOW + (
                self._opt.faults.max_delay * 2 if self._opt.faults else 0.0
            )
            device_options = DeviceOptions(
                device=DeviceId(address=address, epoch=epoch),
                link=options,
                policy=policy or self._opt.policy,
                rng_seed=self._opt.seed,
                reorder_window=reorder,
            )
            core = start_group(device_options, parts, self._opt.rules, self._opt.default_timeout)
            self._devices[address] = core
            return core

    def remove(self, device: Device | AsyncDevice, timeout: float = 5.0) -> list[str]:
        """Close one device: tear its link down and stop its actors, within ``timeout``.

        Its listeners hear CLOSED; its handles stay closed (``RuntimeClosed``), even if
        the address is added again. Returns what did not stop in time. Never raises for
        what the device or the radio do; a ``device`` that is not one of this runtime's is
        refused (``InvalidArgument``).
        """
        core = self._core_of(device)
        deadline = monotonic() + teardown_timeout(timeout, 5.0)
        if core.removed or self._parts is None:
            return []
        core.removed = True
        unjoined = remove_group(core.device, self._parts.router, self._bridge, deadline)
        with self._lock:
            if self._devices.get(core.address) is core:
                del self._devices[core.address]
        return unjoined

    # --- fault injection ----------------------------------------------------------------

    def crash(self, device: Device | AsyncDevice, role: Role, note: str = "") -> None:
        """Make one actor of ``device`` crash, as a bug would (fault injection).

        Raises:
            InvalidArgument: ``device`` is not this runtime's, or ``role`` not one of its
                actors (``Role.RADIO``, ``Role.RECONNECT``, ``Role.NOTIFY``).
        """
        core = self._core_of(device)
        if role not in (Role.RADIO, Role.RECONNECT, Role.NOTIFY):
            raise InvalidArgument("role", "Role.RADIO, Role.RECONNECT or Role.NOTIFY", role)
        self._running().router.slot_for(core.device, role).tell(Poison(note=str(note)))

    def _core_of(self, device: object) -> DeviceCore:
        core = getattr(device, "_core", None)
        if not isinstance(device, Device | AsyncDevice) or not isinstance(core, DeviceCore):
            raise InvalidArgument("device", "a Device or AsyncDevice of this runtime", device)
        if self._parts is not None and core.router is not self._parts.router:
            raise InvalidArgument("device", "a device of this runtime", device)
        return core

    def hosts(self) -> tuple[HostInfo, ...]:
        """The radio host processes running now (empty in-process)."""
        hosts = self._parts.hosts if self._parts is not None else None
        return hosts.info() if hosts is not None else ()

    def crash_host(
        self, how: Literal["kill", "freeze", "wedge"] = "kill", *, adapter: str | None = None
    ) -> int | None:
        """Make a radio host process fail (fault injection; process mode only).

        ``"kill"`` sends SIGKILL (a native crash); ``"freeze"`` sends SIGSTOP (the hang
        case: detected by the heartbeat, then killed); ``"wedge"`` blocks the host's event
        loop, as a native call that never returns would. Returns the host's pid, or
        ``None`` when there is no such host.
        """
        if how not in ("kill", "freeze", "wedge"):
            raise InvalidPolicy("how", "'kill', 'freeze' or 'wedge'", how)
        if adapter is not None and not isinstance(adapter, str):
            raise InvalidArgument("adapter", "an adapter name (str) or None", adapter)
        hosts = self._running().hosts
        if hosts is None:
            raise UsageError("crash_host() needs Runtime(radio='process')")
        return hosts.fault(how, adapter)

    # --- shutdown ---------------------------------------------------------------------

    def close(self, timeout: float | None = None) -> CloseReport:
        """Stop every device and actor within ``timeout`` seconds; idempotent, never raises.

        New calls get ``RuntimeClosed`` from the moment this starts; every listener hears
        its device's CLOSED. Links are torn down without waiting on them past the bound;
        what could not be joined is reported in the returned ``CloseReport``, not waited
        for. A negative or NaN ``timeout`` counts as 0 (close now, wait for nothing).
        """
        if self._report is not None:
            return self._report
        started_at = monotonic()
        deadline = started_at + teardown_timeout(timeout, self._opt.close_timeout)
        with self._lock:
            self._closed = True
        self._report = shut_down(
            parts=self._parts,
            supervisor=self._supervisor,
            bridge=self._bridge,
            started_at=started_at,
            deadline=deadline,
        )
        if not self._report.clean:
            log.warning("runtime closed with leftovers: %s", self._report)
        return self._report

    async def aclose(self, timeout: float | None = None) -> CloseReport:
        """``close()`` without blocking the caller's loop (it runs on a helper thread)."""
        return await off_loop(lambda: self.close(timeout))

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
