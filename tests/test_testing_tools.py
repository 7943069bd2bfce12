"""blerun.testing's own tools: every invariant of the checker can fail, and FakeClock's
autojump moves time only over idle stretches."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable

import pytest

from blerun.actors import CloseReport, ConnectionState, Notification, ReconnectPolicy, StateChanged
from blerun.actors.errors import (
    Disconnected,
    InternalError,
    InvalidTimeout,
    OperationTimeout,
    RuntimeClosed,
)
from blerun.messages import DeviceId, NotificationBatch, RawNotification, Reason, Recipient, Role
from blerun.testing import DeviceWatch, FakeClock, FaultPlan, Invariant, InvariantChecker

from helpers import Connected
from scripted import ScriptedWorld

S = ConnectionState
HR = "00002a37-0000-1000-8000-00805f9b34fb"


def _event(old: S, new: S, version: int) -> StateChanged:
    return StateChanged(
        address="AA:BB:CC:DD:EE:01",
        old=old,
        new=new,
        reason=Reason.CONNECTED,
        version=version,
        attempt=0,
    )


def _note(session: int, seq: int) -> Notification:
    return Notification(
        address="AA:BB:CC:DD:EE:01",
        uuid=HR,
        data=b"\x00",
        value=b"\x00",
        seq=seq,
        received_at=0.0,
        session=session,
    )


def _broken(checker: InvariantChecker) -> set[Invariant]:
    return {v.invariant for v in checker.violations()}


@dataclasses.dataclass
class _Counters:
    connects: int = 1
    disconnects: int = 0
    notifications_while_subscribed: int = 0
    active_subscriptions: int = 1


@dataclasses.dataclass
class _Peripheral:
    """Stands for a sim peripheral: counters the test sets."""

    now: _Counters = dataclasses.field(default_factory=_Counters)
    address: str = "AA:BB:CC:DD:EE:01"

    def counters(self, *, timeout: float = 5.0) -> _Counters:
        return dataclasses.replace(self.now)

    def pause_notifications(self, *, timeout: float = 5.0) -> None:
        pass


def _watched(
    connected_device: Callable[..., Connected], peripheral: _Peripheral | None = None, **kw: object
) -> tuple[InvariantChecker, Connected, DeviceWatch]:
    c = connected_device(**kw)
    checker = InvariantChecker(grace=0.2)
    return checker, c, checker.watch(c.device, peripheral=peripheral)


# --- each invariant can fail ----------------------------------------------------------------


def test_transitions_and_versions_are_judged(
    connected_device: Callable[..., Connected],
) -> None:
    checker, c, watch = _watched(connected_device)
    v = c.device.state_version
    watch._on_event(_event(S.CONNECTED, S.RECONNECTING, v + 1))  # fine
    watch._on_event(_event(S.RECONNECTING, S.CONNECTED, v + 2))  # not in the table
    watch._on_event(_event(S.DISCONNECTED, S.CONNECTING, v + 4))  # skips one, wrong start
    watch._on_event(_event(S.CONNECTING, S.CONNECTED, v + 4))  # seen twice
    details = [str(violation) for violation in checker.violations()]
    assert _broken(checker) == {Invariant.TRANSITIONS, Invariant.VERSIONS}
    assert any("not allowed" in d for d in details)
    assert any("skipped" in d for d in details) and any("seen twice" in d for d in details)


def test_stale_duplicate_and_out_of_order_deliveries_are_judged(
    connected_device: Callable[..., Connected],
) -> None:
    checker, c, watch = _watched(connected_device)
    record = watch.callback(HR)
    session = c.device.state_version  # the CONNECTED the listener heard
    record(_note(session, 1))
    record(_note(session, 3))
    assert checker.violations() == []
    record(_note(session, 3))  # twice
    record(_note(session, 2))  # after 3
    record(_note(session - 1, 9))  # an older session than the one announced
    assert _broken(checker) == {Invariant.DUPLICATE, Invariant.ORDER, Invariant.STALE}
    assert watch.delivered() == 4  # distinct ones


def test_a_notification_neither_delivered_nor_accounted_for_is_owed(
    connected_device: Callable[..., Connected],
) -> None:
    peripheral = _Peripheral()
    checker, c, watch = _watched(connected_device, peripheral)
    watch.callback(HR)(_note(c.device.state_version, 1))
    peripheral.now.notifications_while_subscribed = 3  # sent three ...
    checker.metrics.increment("notifications.received", 3, tags={"device": c.device.address})
    checker.settle(timeout=0.2)  # ... received three, delivered one
    [violation] = checker.violations()
    assert violation.invariant is Invariant.EXACTLY_ONCE
    assert "2 received, never delivered" in violation.detail


def _ledger(
    connected_device: Callable[..., Connected], *, stale: int, cause: bool
) -> InvariantChecker:
    """Sent 3, received 3: 2 dropped by the plan, ``stale`` counted stale by the runtime."""
    plan = FaultPlan(seed=1).drop(NotificationBatch)
    peripheral = _Peripheral()
    c = connected_device()
    checker = InvariantChecker(plan=plan)
    watch = checker.watch(c.device, peripheral=peripheral)
    watch.runtime_ended_sessions = cause
    address = c.device.address
    batch = NotificationBatch(session=1, batch=1, items=(RawNotification(HR, 1, b"", 0.0),) * 2)
    plan.decide(Recipient(device=DeviceId(address=address, epoch=1), role=Role.NOTIFY), batch)
    peripheral.now.notifications_while_subscribed = 3
    checker.metrics.increment("notifications.received", 3, tags={"device": address})
    checker.metrics.increment("notifications.stale", stale, tags={"device": address})
    checker.settle(timeout=0.2)
    return checker


def test_what_the_plan_dropped_is_not_owed(connected_device: Callable[..., Connected]) -> None:
    checker = _ledger(connected_device, stale=0, cause=False)
    [violation] = checker.violations()  # 2 dropped, 1 neither delivered nor counted
    assert "1 received, never delivered" in violation.detail


def test_a_stale_count_needs_a_cause(connected_device: Callable[..., Connected]) -> None:
    without = _ledger(connected_device, stale=1, cause=False)
    details = " ".join(v.detail for v in without.violations())
    assert "yet no session ended early" in details
    assert _ledger(connected_device, stale=1, cause=True).violations() == []


def test_settling_wants_connected_with_one_link_and_each_subscription_once(
    connected_device: Callable[..., Connected],
) -> None:
    peripheral = _Peripheral(_Counters(connects=2, disconnects=0, active_subscriptions=1))
    checker, _, watch = _watched(connected_device, peripheral)
    watch.callback(HR)
    watch.wants_connected = True
    checker.settle(timeout=0.2)
    [violation] = checker.violations()
    assert violation.invariant is Invariant.SUBSCRIPTIONS and "'links': 2" in violation.detail


def test_calls_are_judged_against_what_they_document(
    connected_device: Callable[..., Connected], caplog: pytest.LogCaptureFixture
) -> None:
    checker, _, watch = _watched(connected_device)

    def raises(error: BaseException) -> Callable[[], None]:
        def call() -> None:
            raise error

        return call

    with checker:
        assert checker.call(watch, "read", raises(Disconnected("gone")))[1] is not None
        checker.call(watch, "read", raises(OperationTimeout("slow", timeout=1, address=None)))
        assert checker.violations() == []  # documented
        checker.call(watch, "read", raises(KeyError("oops")))  # not documented
        checker.call(watch, "read", raises(InternalError("a bug")))  # a bug
        checker.call(watch, "connect", raises(RuntimeClosed("closed")))  # nobody closed it
        checker.call(watch, "disconnect", raises(Disconnected("gone")))  # teardown raised
        with caplog.at_level(logging.ERROR):
            logging.getLogger("asyncio").error("Task exception was never retrieved")
    found = [v.detail for v in checker.violations()]
    assert {v.invariant for v in checker.violations()} == {Invariant.EXCEPTIONS}
    assert len(found) == 5, found
    assert checker.outcomes["read:Disconnected"] == 1


@dataclasses.dataclass
class _Runtime:
    """Stands for a runtime at close: how long it takes is the test's to decide."""

    release: threading.Event

    def close(self, timeout: float | None = None) -> CloseReport:
        self.release.wait(0.05)  # past a zero bound, whatever the machine
        return CloseReport(clean=True, unjoined=(), pending_teardowns=0, elapsed=0.05)


def test_close_past_its_bound_and_what_outlives_it_are_judged() -> None:
    checker = InvariantChecker(grace=0.1)
    stop = threading.Event()
    lingering = threading.Thread(target=stop.wait, name="lingering")
    lingering.start()
    try:
        runtime = _Runtime(threading.Event())
        checker.close(runtime, timeout=0.0)  # type: ignore[arg-type]
    finally:
        stop.set()
        lingering.join()
    found = checker.violations()
    assert {v.invariant for v in found} == {Invariant.CLOSE_BOUND, Invariant.LEFTOVERS}
    assert any("lingering" in v.detail for v in found)


def test_links_left_on_the_peripheral_after_close_are_judged(
    connected_device: Callable[..., Connected],
) -> None:
    peripheral = _Peripheral(_Counters(connects=1, disconnects=0, active_subscriptions=1))
    c = connected_device()
    checker = InvariantChecker(grace=0.2)
    checker.watch(c.device, peripheral=peripheral)
    checker.close(c.runtime, timeout=5.0)
    assert {v.invariant for v in checker.violations()} == {Invariant.AFTER_CLOSE}


def test_a_clean_run_breaks_nothing(connected_device: Callable[..., Connected]) -> None:
    c = connected_device()
    with InvariantChecker() as checker:
        rt = c.runtime
        other = rt.device("AA:BB:CC:DD:EE:09")
        watch = checker.watch(other)
        checker.call(watch, "statistics", other.statistics, timeout=5)
        checker.close(rt, timeout=5.0)
    assert checker.violations() == []
    assert watch.last_event is not None and watch.last_event.new is S.CLOSED


# --- FakeClock --------------------------------------------------------------------------------


def test_autojump_fires_what_is_due_and_jumps_idle_stretches() -> None:
    clock = FakeClock(autojump_threshold=0.01)
    fired: list[tuple[str, float]] = []
    done = threading.Event()

    def at(label: str) -> Callable[[], None]:
        def fire() -> None:
            fired.append((label, clock.now()))
            if label == "late":
                done.set()

        return fire

    clock.call_later(0.0, at("now"), label="now")
    clock.call_later(3600.0, at("late"), label="late")
    clock.call_later(60.0, at("cancelled"), label="cancelled").cancel()
    assert done.wait(5)  # an hour of fake time, no hour of real time
    assert fired == [("now", 0.0), ("late", 3600.0)]
    assert clock.now() == 3600.0


def test_without_autojump_only_the_test_moves_time() -> None:
    clock = FakeClock()
    fired: list[float] = []
    clock.call_later(1.0, lambda: fired.append(clock.now()), label="x")
    assert clock.pending("x") and fired == []
    assert clock.advance(1.0) == 1 and fired == [1.0]


def test_fake_clock_refuses_a_bad_step() -> None:
    with pytest.raises(InvalidTimeout, match="seconds"):
        FakeClock().advance(-1)
    with pytest.raises(InvalidTimeout, match="autojump_threshold"):
        FakeClock(autojump_threshold=-0.5)


def test_autojump_runs_a_reconnect_without_waiting_its_delay(
    world: ScriptedWorld, connected_device: Callable[..., Connected]
) -> None:
    clock = FakeClock(autojump_threshold=0.05)
    policy = ReconnectPolicy(initial=600.0, cap=600.0, jitter=0.0)
    c = connected_device(clock=clock, policy=policy)
    world.run(c.peripheral.drop)
    c.events.wait_state(S.CONNECTED, count=2)  # ten minutes of backoff, in a moment
    assert clock.now() >= 600.0
