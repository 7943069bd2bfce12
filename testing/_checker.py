"""``InvariantChecker``: record a run of the runtime, then say which promises it broke.

It records through public seams only: each device's state listener and recording
subscriber callbacks (``DeviceWatch``), the calls a test makes through ``call()``, the
metrics the runtime reports, the fault plan's own account of what it dropped, the
peripheral's counters (on ``blerun.sim``), the errors logged by the runtime's libraries,
and the threads, actors and processes alive before and after ``close()``. What each
invariant means is in ``Invariant``'s docstrings.
"""

from __future__ import annotations

import collections
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self

import pykka

from blerun.actors import AsyncDevice, CloseReport, ConnectionState, Device, Runtime
from blerun.actors._clock import monotonic
from blerun.actors._faults import FaultPlan
from blerun.actors._metrics import InMemoryMetrics
from blerun.actors.errors import DeviceFailed, RuntimeClosed

from ._documented import DOCUMENTED, TEARDOWN
from ._errorlog import ErrorLog
from ._invariants import Invariant, Violation
from ._watch import CountedPeripheral, DeviceWatch

S = ConnectionState

_QUIET_STEP = 0.05
"""Longest wait on the checker's condition between two looks at counters it is not told
about (the peripheral's, the runtime's metrics)."""


class InvariantChecker:
    """Records a run and reports every invariant it broke (see ``Invariant``).

    Use it as a context manager around the runtime's whole life::

        plan = FaultPlan(seed=7).drop(NotificationBatch, probability=0.1)
        with InvariantChecker(plan=plan) as checker:
            rt = Runtime(faults=plan, metrics=checker.metrics, ...).start()
            dev = rt.device(hr.address)
            watch = checker.watch(dev, peripheral=hr)       # before the device is used
            dev.subscribe(HEART_RATE_MEASUREMENT, watch.callback(HEART_RATE_MEASUREMENT))
            checker.call(watch, "connect", dev.connect, timeout=5)
            ...                                             # faults, calls, crashes
            checker.settle(timeout=5)                       # once the faults healed
            checker.close(rt, timeout=2)
        assert not checker.violations(), checker.violations()

    Args:
        plan: The runtime's fault plan, if any: what it dropped is not owed.
        metrics: The runtime's metrics sink (default: a new one, ``checker.metrics``;
            pass it to the ``Runtime``).
        close_slack: How far past its bound ``close()`` may return, as a fraction.
        grace: Real seconds a thread, process or peripheral link gets to go away after
            ``close()`` returned.
    """

    def __init__(
        self,
        *,
        plan: FaultPlan | None = None,
        metrics: InMemoryMetrics | None = None,
        close_slack: float = 0.10,
        grace: float = 2.0,
    ) -> None:
        self.plan = plan
        self.metrics = metrics if metrics is not None else InMemoryMetrics()
        self._slack = close_slack
        self._grace = grace
        self._errors = ErrorLog()
        self._lock = threading.Condition()
        self._violations: list[Violation] = []
        self._watches: list[DeviceWatch] = []
        self._failed_calls: list[tuple[DeviceWatch | None, str, BaseException]] = []
        self.outcomes: collections.Counter[str] = collections.Counter()
        """``"read:ok"``, ``"read:Disconnected"``, ...: what the recorded calls returned."""
        self.close_report: CloseReport | None = None
        self.close_elapsed: float | None = None
        """Real seconds ``close()`` took."""
        self._closing = False
        self._threads = set(threading.enumerate())
        self._actors = {ref.actor_urn for ref in pykka.ActorRegistry.get_all()}
        self._processes = {p.pid for p in multiprocessing.active_children()}

    # --- recording --------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._errors.install()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._errors.uninstall()

    def report(self, violation: Violation) -> None:
        """Record a violation (the watches call this; so may a test's own checks)."""
        with self._lock:
            self._violations.append(violation)
            self._lock.notify_all()

    def allow_error(self, fragment: str) -> None:
        """Errors logged with ``fragment`` in their message are provoked on purpose."""
        self._errors.allow(fragment)

    def watch(
        self, device: Device | AsyncDevice, *, peripheral: CountedPeripheral | None = None
    ) -> DeviceWatch:
        """Start recording ``device``: its state events now, its deliveries through
        ``watch.callback(uuid)``.

        Args:
            device: The device, before it is used (the first transition it records must
                follow the state it was in when watched).
            peripheral: Its emulation on ``blerun.sim``, if any: its counters are the
                ground truth of what was sent, and of what a link and a subscription are.

        Returns:
            The device's recording.
        """
        watch = DeviceWatch(device, peripheral, self._on_watch_violation, self._events_delayed)
        with self._lock:
            self._watches.append(watch)
        return watch

    def _events_delayed(self) -> bool:
        applied = self.plan.applied() if self.plan is not None else {}
        return any(applied.get(f"{kind}:StateChanged", 0) for kind in ("delay", "reorder"))

    def _on_watch_violation(self, violation: Violation) -> None:
        self.report(violation)

    def call(
        self, watch: DeviceWatch | None, api: str, fn: Callable[..., Any], *args: Any, **kw: Any
    ) -> tuple[Any, BaseException | None]:
        """Make a public call and judge what it raised against what ``api`` documents.

        Args:
            watch: The device's recording (``None`` for the runtime's own calls).
            api: Which call: ``"connect"``, ``"read"``, ``"disconnect"``, ``"remove"``...
                (the keys of ``DOCUMENTED``); connect, disconnect and remove also update
                what the watch expects (the wish, a session ended by the runtime).
            fn: The call, with ``*args`` and ``**kw``.

        Returns:
            ``(value, None)``, or ``(None, error)`` when it raised: an error it does not
            document (teardown documents none) is recorded as a violation, never raised.

        Raises:
            KeyError: ``api`` is not a call the checker knows.
        """
        if api not in DOCUMENTED:
            raise KeyError(f"unknown api {api!r}; one of {sorted(DOCUMENTED)}")
        if watch is not None:
            if api == "connect":
                watch.wants_connected = True
            elif api == "disconnect":
                watch.wants_connected = False
                watch.runtime_ended_sessions = True
            elif api == "remove":
                watch.removed = watch.lossy = watch.runtime_ended_sessions = True
        try:
            value = fn(*args, **kw)
        except Exception as error:  # noqa: BLE001 -- judged below, never lost
            self._judge(watch, api, error)
            return None, error
        self.outcomes[f"{api}:ok"] += 1
        return value, None

    def _judge(self, watch: DeviceWatch | None, api: str, error: BaseException) -> None:
        self.outcomes[f"{api}:{type(error).__name__}"] += 1
        address = watch.address if watch is not None else None
        if api in TEARDOWN:
            self.report(Violation(Invariant.EXCEPTIONS, address, f"{api}() raised {error!r}"))
            return
        if isinstance(error, DOCUMENTED[api]):
            return
        if isinstance(error, RuntimeClosed) and (
            self._closing or (watch is not None and watch.removed)
        ):
            return
        if isinstance(error, RuntimeClosed | DeviceFailed):
            # Documented once the device was stopped by escalation; judged at the end,
            # when its listeners have heard whether it was.
            with self._lock:
                self._failed_calls.append((watch, api, error))
            return
        self.report(Violation(Invariant.EXCEPTIONS, address, f"{api}() raised {error!r}"))

    # --- checks at quiet moments -----------------------------------------------------

    def _wait(self, ready: Callable[[], bool], timeout: float) -> bool:
        deadline = monotonic() + timeout
        while not ready():
            remaining = deadline - monotonic()
            if remaining <= 0:
                return False
            with self._lock:
                self._lock.wait(min(remaining, _QUIET_STEP))
        return True

    def settle(self, *, timeout: float = 10.0) -> None:
        """Check the quiet state, once the faults healed and every wish was restated.

        Each watched device that is wanted connected must become CONNECTED with one link
        and each wanted characteristic subscribed once on its peripheral; then each
        peripheral's notifications are paused and everything it sent must be delivered
        or accounted for (dropped by the plan, or counted lost by the runtime for a
        documented reason). Without a peripheral, what the runtime received is checked.
        """
        for watch in self._live_watches():
            if watch.wants_connected:
                self._check_connected(watch, timeout)
        for watch in self._live_watches():
            self._check_ledger(watch, timeout)

    def _live_watches(self) -> Iterable[DeviceWatch]:
        with self._lock:
            watches = list(self._watches)
        return [w for w in watches if not w.removed and not w.escalated]

    def _check_connected(self, watch: DeviceWatch, timeout: float) -> None:
        peripheral = watch.peripheral
        last: dict[str, object] = {}

        def ready() -> bool:
            if watch.escalated or watch.removed:
                return True  # stopped meanwhile: nothing to settle
            last["state"] = watch.device.state
            if watch.device.state is not S.CONNECTED:
                return False
            if peripheral is None:
                return True
            counters = peripheral.counters()
            links = counters.connects - counters.disconnects
            last["links"], last["subscribed"] = links, counters.active_subscriptions
            return bool(links == 1 and counters.active_subscriptions == len(watch.wanted_uuids()))

        if not self._wait(ready, timeout):
            wanted = len(watch.wanted_uuids())
            self.report(
                Violation(
                    Invariant.SUBSCRIPTIONS,
                    watch.address,
                    f"not settled within {timeout:g} s: {last} (want CONNECTED, 1 link, "
                    f"{wanted} subscribed)",
                )
            )

    def ledger(self, watch: DeviceWatch) -> dict[str, int]:
        """Where the notifications of ``watch``'s device went: ``sent`` by the peripheral
        while subscribed, ``received`` by the runtime from bleak (plus the copies the plan
        ``duplicated``), ``delivered`` to the recording subscriptions, ``dropped`` by the
        fault plan, or counted by the runtime: ``stale`` (their session had ended),
        ``out_of_order`` (a copy of one already delivered), ``unsubscribed`` (nobody
        wanted them any more). Each copy is counted where it ended."""
        # Read downstream first: whatever is counted further down was counted upstream
        # before, so a reading taken while notifications flow never shows more delivered
        # than received, nor more received than sent.
        address = watch.address
        plan, count = self.plan, self.metrics.count
        account = {
            "delivered": watch.delivered(),
            "dropped": plan.dropped_notifications(address) if plan else 0,
            "stale": count("notifications.stale", device=address),
            "unsubscribed": count("notifications.unsubscribed", device=address),
            "out_of_order": count("notifications.out_of_order", device=address),
            "duplicated": plan.duplicated_notifications(address) if plan else 0,
            "received": count("notifications.received", device=address),
            "sent": -1,
        }
        peripheral = watch.peripheral
        if peripheral is not None and watch.baseline is not None:
            counters = peripheral.counters()
            account["sent"] = (
                counters.notifications_while_subscribed
                - watch.baseline.notifications_while_subscribed
            )
        return account

    def _stale_excused(self, watch: DeviceWatch) -> bool:
        """Whether a notification can have reached an ended session for a documented
        reason: the runtime itself ended a session while notifications were on their way
        (a disconnect, a radio restart), or the plan delayed batches past a session's end.
        A peripheral that drops the link sends everything before the drop."""
        if watch.runtime_ended_sessions:
            return True
        applied = self.plan.applied() if self.plan is not None else {}
        return any(applied.get(f"{kind}:NotificationBatch", 0) for kind in ("delay", "reorder"))

    def _check_ledger(self, watch: DeviceWatch, timeout: float) -> None:
        peripheral = watch.peripheral
        if peripheral is not None:
            peripheral.pause_notifications()
        account: dict[str, int] = {}
        stale_ok = self._stale_excused(watch)
        unsubscribed_ok = watch.unwanted_uuids()

        def owed() -> int:
            """What the runtime received and neither delivered nor accounted for."""
            accounted = account["dropped"] + account["delivered"] + account["out_of_order"]
            accounted += account["stale"] if stale_ok else 0
            accounted += account["unsubscribed"] if unsubscribed_ok else 0
            return account["received"] + account["duplicated"] - accounted

        def in_flight() -> int:
            """What the peripheral sent while subscribed and bleak did not hand over."""
            return account["sent"] - account["received"] if peripheral is not None else 0

        def lossy() -> bool:
            return watch.lossy or watch.escalated  # stopped with notifications on their way

        def balanced() -> bool:
            account.update(self.ledger(watch))
            if lossy():
                return True
            return owed() <= 0 and (in_flight() <= 0 or watch.runtime_ended_sessions)

        # Judged on the first reading that balanced (or the last one): what arrives after it
        # is what a runtime-ended session lost on the air, and is not owed.
        settled = self._wait(balanced, timeout)
        if lossy():
            if owed() < 0:
                self._ledger_violation(watch, account, "more delivered than received")
            return
        if owed() > 0:
            self._ledger_violation(watch, account, f"{owed()} received, never delivered")
        elif owed() < 0:
            self._ledger_violation(watch, account, f"{-owed()} more delivered than received")
        if account["out_of_order"] > account["duplicated"]:
            self._ledger_violation(watch, account, "discarded as out of order, not duplicated")
        if not stale_ok and account["stale"]:
            self._ledger_violation(watch, account, "dropped as stale, yet no session ended early")
        if not unsubscribed_ok and account["unsubscribed"]:
            self._ledger_violation(watch, account, "dropped as unwanted while still wanted")
        if not settled and in_flight() > 0:
            self._ledger_violation(watch, account, f"{in_flight()} sent, never received")
        elif in_flight() < 0:
            self._ledger_violation(watch, account, f"{-in_flight()} received, never sent")

    def _ledger_violation(self, watch: DeviceWatch, account: dict[str, int], what: str) -> None:
        self.report(Violation(Invariant.EXACTLY_ONCE, watch.address, f"{what}: {account}"))

    # --- close and after ---------------------------------------------------------------

    def close(self, runtime: Runtime, timeout: float) -> CloseReport | None:
        """``runtime.close(timeout)``, timed and judged; then what it must leave behind.

        Checks the close bound, then (after ``grace``) threads, actors and processes
        started since the checker was made, and each watched peripheral's links and
        subscriptions.

        Returns:
            The close report, or ``None`` if ``close()`` raised (a violation).
        """
        self._closing = True
        started = time.perf_counter()
        report, error = self.call(None, "close", runtime.close, timeout)
        self.close_elapsed = elapsed = time.perf_counter() - started
        bound = max(0.0, timeout) * (1.0 + self._slack)
        if elapsed > bound:
            self.report(
                Violation(
                    Invariant.CLOSE_BOUND,
                    None,
                    f"close({timeout:g}) took {elapsed:.3f} s (bound {bound:.3f} s)",
                )
            )
        if error is not None or not isinstance(report, CloseReport):
            return None
        self.close_report = report
        self._check_leftovers()
        for watch in self._watches_with_peripherals():
            self._check_after_close(watch, report)
        return report

    def _watches_with_peripherals(self) -> list[DeviceWatch]:
        with self._lock:
            return [w for w in self._watches if w.peripheral is not None]

    def _check_leftovers(self) -> None:
        deadline = monotonic() + self._grace
        for thread in threading.enumerate():
            if thread in self._threads or thread is threading.current_thread():
                continue
            thread.join(max(0.0, deadline - monotonic()))
            if thread.is_alive():
                self.report(Violation(Invariant.LEFTOVERS, None, f"thread {thread.name}"))
        for ref in pykka.ActorRegistry.get_all():
            if ref.actor_urn not in self._actors:
                self.report(Violation(Invariant.LEFTOVERS, None, f"actor {ref}"))
        for process in multiprocessing.active_children():
            if process.pid in self._processes:
                continue
            process.join(max(0.0, deadline - monotonic()))
            if process.is_alive():
                self.report(Violation(Invariant.LEFTOVERS, None, f"process {process.name}"))

    def _check_after_close(self, watch: DeviceWatch, report: CloseReport) -> None:
        peripheral = watch.peripheral
        assert peripheral is not None
        if report.pending_teardowns:
            return  # admitted: a link teardown did not finish within the bound
        last: dict[str, int] = {}

        def gone() -> bool:
            counters = peripheral.counters()
            last["links"] = counters.connects - counters.disconnects
            last["subscribed"] = counters.active_subscriptions
            return last["links"] == 0 and last["subscribed"] == 0

        if not self._wait(gone, self._grace):
            self.report(Violation(Invariant.AFTER_CLOSE, watch.address, f"left behind: {last}"))

    # --- the verdict -------------------------------------------------------------------

    def violations(self) -> list[Violation]:
        """Everything broken so far, the end-of-run checks included.

        Returns:
            The violations, each naming its invariant, device and what was seen; an
            empty list for a run that kept every promise.
        """
        found: list[Violation] = []
        for text in self._errors.found():
            found.append(Violation(Invariant.EXCEPTIONS, None, f"logged: {text}"))
        with self._lock:
            failed_calls = list(self._failed_calls)
            watches = list(self._watches)
        for watch, api, error in failed_calls:
            if watch is None or not watch.escalated:
                address = watch.address if watch is not None else None
                found.append(Violation(Invariant.EXCEPTIONS, address, f"{api}() raised {error!r}"))
        if self.close_report is not None:
            for watch in watches:
                last = watch.last_event
                terminal = last is not None and (
                    last.new is S.CLOSED or (last.new is S.FAILED and watch.escalated)
                )
                if not terminal:
                    seen = f"{last.new.value} v{last.version}" if last else "nothing"
                    found.append(
                        Violation(
                            Invariant.TRANSITIONS,
                            watch.address,
                            f"after close the last transition heard was {seen}",
                        )
                    )
        with self._lock:
            return [*self._violations, *found]
