"""One owner per fact: a device group's identity, and one writer of its state.

Each test here is a bug a review found in the first core: a removed device's handle that
still worked, a transition replayed to a listener after a restart, escalation racing the
actors it stopped, and CLOSED never told.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from blerun.actors import ConnectionState, ReconnectPolicy, Runtime, StateChanged
from blerun.actors.errors import DeviceFailed, RuntimeClosed
from blerun.messages import Reason, Role
from blerun.testing import InMemoryMetrics

from helpers import Collector, StateRecorder, settle
from scripted import HR_MEASUREMENT, SENSOR, ScriptedWorld, heart_rate

S = ConnectionState
FAST = ReconnectPolicy(initial=0.0, cap=0.01, jitter=0.0)


class SerialListener:
    """Records events and fails the test if two calls ever overlap."""

    def __init__(self) -> None:
        self.events: list[StateChanged] = []
        self.overlaps = 0
        self._busy = False
        self._cond = threading.Condition()

    def __call__(self, event: StateChanged) -> None:
        if self._busy:
            self.overlaps += 1
        self._busy = True
        try:
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()
        finally:
            self._busy = False

    def wait(self, state: ConnectionState, timeout: float = 5.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: any(e.new is state for e in self.events), timeout)

    def versions(self) -> list[int]:
        return [e.version for e in self.events]


def test_a_removed_device_handle_stays_closed(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime(policy=FAST)
    old = rt.device(peripheral.address)
    rec = StateRecorder(old)
    old.connect(timeout=5)
    assert rt.remove(old) == []
    assert rec.wait_state(S.CLOSED).reason is Reason.CLOSED  # remove() tells its listeners
    new = rt.device(peripheral.address)  # the same address: a new group, a new epoch
    new.connect(timeout=5)
    assert new.state is S.CONNECTED
    assert old.state is S.CLOSED  # the old handle does not see the new group's state
    with pytest.raises(RuntimeClosed, match="removed"):
        old.read(SENSOR)
    old.disconnect()  # teardown never raises
    assert new.read(SENSOR) == b"\x2a\x00"
    assert rt.remove(old) == []  # idempotent


def test_close_tells_every_listener_closed(world: ScriptedWorld) -> None:
    peripherals = [heart_rate(world, f"AA:BB:CC:DD:EE:0{i}") for i in range(1, 4)]
    rt = Runtime(backend=world.backend, policy=FAST).start()
    world.loop = rt.loop
    listeners = []
    for i, peripheral in enumerate(peripherals):
        dev = rt.device(peripheral.address)
        listener = SerialListener()
        dev.on_state_change(listener)
        if i:  # one stays disconnected: it is closed all the same
            dev.connect(timeout=5)
        listeners.append(listener)
    assert rt.close(timeout=2.0).clean
    for listener in listeners:
        listener.wait(S.CLOSED)
        assert listener.events[-1].new is S.CLOSED and listener.events[-1].reason is Reason.CLOSED


def test_a_restarted_notification_actor_replays_no_transition(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    metrics = InMemoryMetrics()
    peripheral = heart_rate(world)
    rt = make_runtime(policy=FAST, metrics=metrics)
    dev = rt.device(peripheral.address)
    listener = SerialListener()
    dev.on_state_change(listener)
    got = Collector()
    dev.subscribe(HR_MEASUREMENT, got)
    dev.connect(timeout=5)
    for role in (Role.NOTIFY, Role.RECONNECT, Role.NOTIFY):
        rt.crash(dev, role)
    metrics.wait_count("supervisor.restarts", 3)
    settle(dev)
    world.run(peripheral.drop)  # a transition after the restarts, for good measure
    listener.wait(S.RECONNECTING)
    dev.wait_connected(timeout=5)
    settle(dev)
    versions = listener.versions()
    assert versions == list(range(1, dev.state_version + 1)), "every transition exactly once"
    assert listener.overlaps == 0


def test_escalation_is_published_once_in_order_by_the_radio(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    metrics = InMemoryMetrics()
    peripheral = heart_rate(world)
    rt = make_runtime(policy=FAST, metrics=metrics, restart_intensity=2)
    dev = rt.device(peripheral.address)
    listener = SerialListener()
    dev.on_state_change(listener)
    got = Collector()
    dev.subscribe(HR_MEASUREMENT, got)
    dev.connect(timeout=5)
    for n in range(1, 4):  # the third crash of the radio within the period escalates
        rt.crash(dev, Role.RADIO)
        if n < 3:
            metrics.wait_count("supervisor.restarts", n)
            dev.wait_connected(timeout=5)
    listener.wait(S.FAILED)
    last = listener.events[-1]
    assert last.new is S.FAILED and last.reason is Reason.ESCALATED
    assert isinstance(last.error, DeviceFailed)
    assert dev.state is S.FAILED
    versions = listener.versions()
    assert versions == sorted(set(versions)), "versions only grow, each seen once"
    assert listener.overlaps == 0
    with pytest.raises(DeviceFailed):
        dev.read(SENSOR)
    dev.disconnect()  # teardown never raises
    peripheral.wait_until(lambda p: p.client is None)
    report = rt.close(timeout=2.0)
    assert report.clean, report
    assert listener.events[-1].new is S.FAILED  # nothing follows a terminal state


def test_a_request_racing_a_restart_is_served_by_the_successor(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    # The mail in a crashed actor's inbox goes to its successor; a request is not left to
    # time out.
    metrics = InMemoryMetrics()
    peripheral = heart_rate(world)
    rt = make_runtime(policy=FAST, metrics=metrics, default_timeout=30.0)
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    rt.crash(dev, Role.RADIO)
    assert dev.read(SENSOR, retry=True, timeout=5.0) == b"\x2a\x00"
    assert metrics.count("supervisor.restarts") == 1
