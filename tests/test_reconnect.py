"""Reconnection under the policy, on a fake clock: the delays the policy gives are used."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from bleak.exc import BleakDeviceNotFoundError, BleakError

from blerun.actors import AttemptInfo, ConnectionState, Jitter, ReconnectPolicy, Runtime
from blerun.actors._values import RadioStats
from blerun.actors.errors import BleRuntimeError, ConnectTimeout, DeviceNotFound, GaveUp
from blerun.messages import GetStats, Reason, Role
from blerun.testing import FakeClock

from helpers import StateRecorder, start_connect
from scripted import HANG, ScriptedWorld, heart_rate

S = ConnectionState


def test_delays_used_are_the_policy_delays(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    clock = FakeClock()
    seen: list[AttemptInfo] = []
    policy = ReconnectPolicy(
        initial=1.0, multiplier=2.0, cap=8.0, jitter=Jitter.FULL, on_attempt=seen.append
    )
    peripheral = heart_rate(world)
    rt = make_runtime(clock=clock, policy=policy, seed=11)
    dev = rt.device(peripheral.address)
    rec = StateRecorder(dev)
    dev.connect(timeout=5)
    # The link drops and the next five attempts fail: each wait must be the policy's.
    world.run(lambda: peripheral.connect_script.extend(BleakError("refused") for _ in range(5)))
    world.run(peripheral.drop)
    delays = []
    for n in range(1, 7):
        timer = clock.wait_for_timer("ReconnectDue")
        delays.append(timer.delay)
        assert clock.advance_to(timer.due - 1e-6) == 0  # not a moment early
        assert timer in clock.pending("ReconnectDue")
        assert clock.advance_to(timer.due) == 1
        rec.wait_state(S.CONNECTING, count=1 + n)
    rec.wait_state(S.CONNECTED, count=2)
    assert delays == [info.delay for info in seen]
    assert [info.attempt for info in seen] == [1, 2, 3, 4, 5, 6]
    # Independently: the same seeded stream reproduces the same delays.
    rng = random.Random(f"11:{dev.address}:1")
    assert delays == [policy.delay(a, rng) for a in range(1, 7)]
    assert all(0 <= d <= 8.0 for d in delays)


def test_attempts_reset_after_the_stable_window(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    clock = FakeClock()
    policy = ReconnectPolicy(
        initial=1.0, multiplier=2.0, cap=60.0, jitter=Jitter.NONE, stable_window=30.0
    )
    peripheral = heart_rate(world)
    rt = make_runtime(clock=clock, policy=policy)
    dev = rt.device(peripheral.address)
    rec = StateRecorder(dev)
    dev.connect(timeout=5)

    def drop_and_reconnect(expected_delay: float, connected_count: int) -> None:
        world.run(peripheral.drop)
        timer = clock.wait_for_timer("ReconnectDue")
        assert timer.delay == expected_delay
        clock.advance(timer.delay)
        rec.wait_state(S.CONNECTED, count=connected_count)

    # Flapping: each quick drop backs off further.
    drop_and_reconnect(1.0, 2)
    drop_and_reconnect(2.0, 3)
    drop_and_reconnect(4.0, 4)
    # Stable for the window: the counter resets, the next outage starts from `initial`.
    stable = clock.wait_for_timer("StableWindowElapsed")
    clock.advance(stable.delay)
    assert dev.statistics().reconnect_attempt == 0
    drop_and_reconnect(1.0, 5)


def test_successful_io_resets_the_counter(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    clock = FakeClock()
    policy = ReconnectPolicy(initial=1.0, jitter=Jitter.NONE, reset_on_io=True)
    peripheral = heart_rate(world)
    rt = make_runtime(clock=clock, policy=policy)
    dev = rt.device(peripheral.address)
    rec = StateRecorder(dev)
    dev.connect(timeout=5)
    world.run(peripheral.drop)
    clock.advance(clock.wait_for_timer("ReconnectDue").delay)
    rec.wait_state(S.CONNECTED, count=2)
    assert dev.statistics().reconnect_attempt == 1
    dev.read("2a6e")
    dev.statistics()  # a barrier: the IoSucceeded message was handled before this answer
    assert dev.statistics().reconnect_attempt == 0


def test_give_up_after_max_attempts_ends_in_failed(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    clock = FakeClock()
    gave_up: list[AttemptInfo] = []
    policy = ReconnectPolicy(
        initial=0.5, jitter=Jitter.NONE, max_attempts=3, on_give_up=gave_up.append
    )
    peripheral = heart_rate(world)
    rt = make_runtime(clock=clock, policy=policy)
    world.run(lambda: peripheral.connect_script.extend(BleakError("nope") for _ in range(10)))
    dev = rt.device(peripheral.address)
    rec = StateRecorder(dev)
    pending = start_connect(dev)
    for _ in range(3):
        clock.advance(clock.wait_for_timer("ReconnectDue").delay)
    failed = rec.wait_state(S.FAILED)
    assert failed.reason is Reason.GAVE_UP
    assert isinstance(failed.error, GaveUp) and failed.error.attempts == 3
    assert isinstance(failed.error.__cause__, BleRuntimeError)
    with pytest.raises(GaveUp):
        pending.result(5)
    assert [info.attempt for info in gave_up] == [3]
    assert peripheral.connects == 0
    assert dev.statistics().connect_attempts == 4  # the first, then three reconnections


def test_connect_from_failed_starts_over(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    clock = FakeClock()
    peripheral = heart_rate(world)
    rt = make_runtime(clock=clock, policy=ReconnectPolicy(max_attempts=0))
    dev = rt.device(peripheral.address)
    world.run(lambda: peripheral.connect_script.append(BleakError("once")))
    with pytest.raises(GaveUp):
        dev.connect(timeout=5)
    assert dev.state is S.FAILED
    dev.connect(timeout=5)
    assert dev.state is S.CONNECTED  # type: ignore[comparison-overlap]  # connect() changed it


def test_device_not_found_waits_at_least_its_floor(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    clock = FakeClock()
    policy = ReconnectPolicy(initial=0.1, jitter=Jitter.NONE, min_delay_for={DeviceNotFound: 10.0})
    rt = make_runtime(clock=clock, policy=policy)
    dev = rt.device("AA:BB:CC:00:00:99")  # nothing scripted at this address
    rec = StateRecorder(dev)
    start_connect(dev)
    timer = clock.wait_for_timer("ReconnectDue")
    assert timer.delay == 10.0
    event = rec.wait_state(S.RECONNECTING)
    assert isinstance(event.error, DeviceNotFound)
    assert isinstance(event.error.__cause__, BleakDeviceNotFoundError)


def test_deadline_bounds_one_connect_request(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    clock = FakeClock()
    policy = ReconnectPolicy(initial=4.0, multiplier=1.0, jitter=Jitter.NONE, deadline=10.0)
    peripheral = heart_rate(world)
    rt = make_runtime(clock=clock, policy=policy)
    world.run(lambda: peripheral.connect_script.extend(BleakError("x") for _ in range(10)))
    dev = rt.device(peripheral.address)
    rec = StateRecorder(dev)
    start_connect(dev)
    clock.advance(clock.wait_for_timer("ReconnectDue").delay)  # t=4: attempt 2
    rec.wait_state(S.CONNECTING, count=2)
    clock.advance(clock.wait_for_timer("ReconnectDue").delay)  # t=8: attempt 3; next would be 12
    failed = rec.wait_state(S.FAILED)
    assert failed.reason is Reason.GAVE_UP


def test_attempt_timeout_moves_on(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    clock = FakeClock()
    policy = ReconnectPolicy(initial=1.0, jitter=Jitter.NONE, attempt_timeout=5.0)
    peripheral = heart_rate(world)
    rt = make_runtime(clock=clock, policy=policy)
    world.run(lambda: peripheral.connect_script.append(HANG))
    dev = rt.device(peripheral.address)
    rec = StateRecorder(dev)
    start_connect(dev)
    # Let the attempt reach the backend (and take the HANG) before its deadline fires.
    peripheral.wait_until(lambda p: not p.connect_script)
    clock.advance(clock.wait_for_timer("AttemptDeadline").delay)
    event = rec.wait_state(S.RECONNECTING)
    assert event.reason is Reason.ATTEMPT_TIMEOUT
    clock.advance(clock.wait_for_timer("ReconnectDue").delay)
    rec.wait_state(S.CONNECTED)


def test_callers_that_gave_up_are_not_remembered(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    # An app polling connect(timeout=...) against an absent device for days must not
    # grow the radio's waiter list.
    clock = FakeClock()
    rt = make_runtime(clock=clock, policy=ReconnectPolicy(initial=3600.0, cap=3600.0))
    dev = rt.device("AA:BB:CC:00:00:42")  # nobody there
    with pytest.raises(DeviceNotFound):  # the first attempt says so at once ...
        dev.connect(timeout=5)
    for _ in range(30):  # ... and the wish stands: later calls wait for the next attempt
        with pytest.raises(ConnectTimeout):
            dev.connect(timeout=0.01)
        with pytest.raises(ConnectTimeout):
            dev.wait_connected(timeout=0.01)
    request_id, future = dev.new_request()
    dev.tell(Role.RADIO, GetStats(request_id=request_id))
    stats = future.result(5)
    assert isinstance(stats, RadioStats) and stats.waiters <= 2
