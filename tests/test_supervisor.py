"""Supervision: crashed actors come back with their device's wishes; too many escalate."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from bleak.exc import BleakError

from blerun.actors import ConnectionState, Jitter, ReconnectPolicy, Runtime, Strategy
from blerun.actors.errors import DeviceFailed
from blerun.messages import Reason, Role
from blerun.testing import FakeClock, InMemoryMetrics

from helpers import Collector, StateRecorder, settle
from scripted import HR_MEASUREMENT, ScriptedWorld, heart_rate

S = ConnectionState
FAST = ReconnectPolicy(initial=0.0, cap=0.01, jitter=0.0)


def _ping(world: ScriptedWorld, peripheral: object, data: bytes) -> bool:
    return bool(world.run(lambda: peripheral.notify(HR_MEASUREMENT, data)))  # type: ignore[attr-defined]


@pytest.mark.parametrize("role", [Role.NOTIFY, Role.RADIO, Role.RECONNECT])
def test_crashed_actor_is_restarted_and_subscriptions_survive(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime], role: Role
) -> None:
    metrics = InMemoryMetrics()
    peripheral = heart_rate(world)
    rt = make_runtime(policy=FAST, metrics=metrics)
    dev = rt.device(peripheral.address)
    got = Collector()
    rec = StateRecorder(dev)
    dev.subscribe(HR_MEASUREMENT, got)
    dev.connect(timeout=5)
    peripheral.wait_until(lambda p: HR_MEASUREMENT in p.handlers)
    assert _ping(world, peripheral, b"\x01")
    got.wait_count(1)

    rt.crash(dev, role, note="test")
    metrics.wait_count("supervisor.restarts", 1, role=role.value)
    dev.wait_connected(timeout=5)
    settle(dev)
    peripheral.wait_until(lambda p: HR_MEASUREMENT in p.handlers)
    if role is Role.RADIO:
        # A new radio makes a new connection; the old one was torn down.
        rec.wait_state(S.CONNECTED, count=2)
        assert rec.events[-1].reason in (Reason.CONNECTED,)
    assert _ping(world, peripheral, b"\x02")
    assert [n.data for n in got.wait_count(2)] == [b"\x01", b"\x02"]
    # Still exactly one backend subscription per connection.
    assert peripheral.start_notify_calls[HR_MEASUREMENT] == peripheral.connects
    assert dev.statistics().subscriptions == 1


def test_past_the_intensity_the_device_fails_and_others_carry_on(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    metrics = InMemoryMetrics()
    sick, healthy = heart_rate(world, "AA:BB:CC:DD:EE:01"), heart_rate(world, "AA:BB:CC:DD:EE:02")
    rt = make_runtime(policy=FAST, metrics=metrics, restart_intensity=2, restart_period=60.0)
    dev = rt.device(sick.address)
    other = rt.device(healthy.address)
    rec = StateRecorder(dev)
    dev.connect(timeout=5)
    other.connect(timeout=5)
    got = Collector()
    other.subscribe(HR_MEASUREMENT, got)
    for n in (1, 2):
        rt.crash(dev, Role.NOTIFY)
        metrics.wait_count("supervisor.restarts", n, device=dev.address)
        settle(dev)
    rt.crash(dev, Role.NOTIFY)  # the third within the period: escalate
    metrics.wait_count("supervisor.escalations", 1)
    failed = rec.wait_state(S.FAILED)  # listeners hear it, from the supervisor
    assert failed.reason is Reason.ESCALATED and isinstance(failed.error, DeviceFailed)
    assert dev.state is S.FAILED
    with pytest.raises(DeviceFailed):
        dev.read("2a6e")
    sick.wait_until(lambda p: p.client is None)  # its link is torn down
    # The other device is untouched.
    assert _ping(world, healthy, b"\x05")
    assert got.wait_count(1)[0].data == b"\x05"
    report = rt.close(timeout=2.0)
    assert report.clean and report.elapsed < 2.0


def test_one_for_all_restarts_the_whole_group(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    metrics = InMemoryMetrics()
    peripheral = heart_rate(world)
    rt = make_runtime(policy=FAST, metrics=metrics, strategy=Strategy.ONE_FOR_ALL)
    dev = rt.device(peripheral.address)
    rec = StateRecorder(dev)
    got = Collector()
    dev.subscribe(HR_MEASUREMENT, got)
    dev.connect(timeout=5)
    rt.crash(dev, Role.RECONNECT)
    metrics.wait_count("supervisor.restarts", 1)
    rec.wait_state(S.CONNECTED, count=2)  # the radio came back and reconnected
    dev.wait_connected(timeout=5)
    settle(dev)
    peripheral.wait_until(lambda p: HR_MEASUREMENT in p.handlers)
    assert _ping(world, peripheral, b"\x09")
    assert got.wait_count(1)[0].data == b"\x09"
    assert peripheral.connects == 2


def test_restarted_reconnect_actor_resumes_a_pending_retry(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    clock, metrics = FakeClock(), InMemoryMetrics()
    policy = ReconnectPolicy(initial=3.0, jitter=Jitter.NONE)
    peripheral = heart_rate(world)
    rt = make_runtime(clock=clock, metrics=metrics, policy=policy)
    dev = rt.device(peripheral.address)
    rec = StateRecorder(dev)
    dev.connect(timeout=5)
    world.run(lambda: peripheral.connect_script.append(BleakError("once")))
    world.run(peripheral.drop)
    clock.advance(clock.wait_for_timer("ReconnectDue").delay)  # attempt 1 fails
    rec.wait_state(S.RECONNECTING, count=2)
    stale = clock.wait_for_timer("ReconnectDue")
    rt.crash(dev, Role.RECONNECT)
    metrics.wait_count("supervisor.restarts", 1)
    assert stale.cancelled  # the dead actor's timer cannot fire into the new world
    # The newcomer learns RECONNECTING from the resync and schedules its own retry.
    fresh = clock.wait_for_timer("ReconnectDue")
    assert fresh is not stale and fresh.delay == 3.0  # its counter starts over
    clock.advance(fresh.delay)
    rec.wait_state(S.CONNECTED, count=2)
