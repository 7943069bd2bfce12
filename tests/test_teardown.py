"""Teardown never raises, close always closes, and what a campaign found stays fixed."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable

import pykka
import pytest

from blerun.actors import ConnectionState, ReconnectPolicy, Runtime
from blerun.actors._loop import LoopBridge
from blerun.actors.errors import OperationTimeout
from blerun.messages import Role, Subscribe
from blerun.testing import FaultPlan, InMemoryMetrics

from helpers import Collector, settle
from scripted import HR_MEASUREMENT, SENSOR, STUBBORN, ScriptedWorld, heart_rate

S = ConnectionState
FAST = ReconnectPolicy(initial=0.0, cap=0.01, jitter=0.0)


def test_disconnect_never_raises_when_the_teardown_outlasts_its_timeout(
    world: ScriptedWorld,
) -> None:
    peripheral = heart_rate(world, hang_disconnect=True)
    rt = Runtime(backend=world.backend, disconnect_timeout=0.3).start()
    world.loop = rt.loop
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    started = time.perf_counter()
    dev.disconnect(timeout=0.05)  # the link takes longer: returns, does not raise
    assert time.perf_counter() - started < 1.0
    dev.disconnect(timeout=-1)  # a bad bound is clamped, not raised
    report = rt.close(timeout=2.0)
    assert not report.unjoined  # the teardown that gave up is reported, nothing hangs


def test_disconnect_never_raises_after_remove_or_close(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime(policy=FAST)
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    rt.remove(dev)
    dev.disconnect()

    async def twin() -> None:
        other = rt.async_device("AA:BB:CC:DD:EE:07")
        rt.remove(other)
        await other.disconnect()

    asyncio.run(twin())  # noqa: TID251 -- the test owns this loop


def test_close_with_a_negative_timeout_clamps_and_closes(world: ScriptedWorld) -> None:
    peripheral = heart_rate(world)
    rt = Runtime(backend=world.backend).start()
    world.loop = rt.loop
    rt.device(peripheral.address).connect(timeout=5)
    report = rt.close(timeout=-0.01)
    assert rt.closed and report.elapsed < 1.0
    assert rt.close() is report
    # Nothing was waited for; what was asked to stop finishes on its own.
    for ref in pykka.ActorRegistry.get_all():
        assert ref.actor_stopped.wait(5), ref


def test_cancel_with_a_bad_timeout_still_unsubscribes(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime()
    dev = rt.device(peripheral.address)
    sub = dev.subscribe(HR_MEASUREMENT, Collector())
    dev.connect(timeout=5)
    peripheral.wait_until(lambda p: HR_MEASUREMENT in p.handlers)
    sub.cancel(timeout=-1)
    peripheral.wait_until(lambda p: HR_MEASUREMENT not in p.handlers)
    assert dev.statistics().subscriptions == 0


def test_close_is_not_clean_when_a_link_teardown_gave_up(world: ScriptedWorld) -> None:
    peripheral = heart_rate(world, hang_disconnect=STUBBORN)
    rt = Runtime(backend=world.backend, disconnect_timeout=0.1).start()
    world.loop = rt.loop
    rt.device(peripheral.address).connect(timeout=5)
    report = rt.close(timeout=2.0)
    assert not report.clean and report.pending_teardowns >= 1, report


def test_a_duplicated_subscribe_delivers_once(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    plan = FaultPlan(seed=1).duplicate(Subscribe)
    peripheral = heart_rate(world)
    rt = make_runtime(faults=plan)
    dev = rt.device(peripheral.address)
    got = Collector()
    dev.subscribe(HR_MEASUREMENT, got)
    dev.connect(timeout=5)
    peripheral.wait_until(lambda p: HR_MEASUREMENT in p.handlers)
    world.run(lambda: peripheral.notify(HR_MEASUREMENT, b"\x01"))
    world.run(lambda: peripheral.notify(HR_MEASUREMENT, b"\x02"))
    assert [n.data for n in got.wait_count(2)] == [b"\x01", b"\x02"]
    settle(dev)
    assert len(got.items) == 2 and dev.statistics().subscriptions == 1
    assert plan.applied() == {"duplicate:Subscribe": 1}


def test_statistics_from_inside_a_callback(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    # Callbacks run on the device's lane, not on an actor a call would wait for.
    peripheral = heart_rate(world)
    rt = make_runtime()
    dev = rt.device(peripheral.address)
    seen: list[int] = []
    dev.subscribe(HR_MEASUREMENT, lambda _n: seen.append(dev.statistics(timeout=2).subscriptions))
    dev.connect(timeout=5)
    peripheral.wait_until(lambda p: HR_MEASUREMENT in p.handlers)
    got = Collector()
    dev.subscribe(HR_MEASUREMENT, got)
    world.run(lambda: peripheral.notify(HR_MEASUREMENT, b"\x01"))
    got.wait_count(1)
    assert seen == [2]
    assert dev.read(SENSOR) == b"\x2a\x00"


def test_a_failed_task_whose_caller_gave_up_is_still_retrieved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        bridge = LoopBridge(asyncio.get_running_loop())
        gate = asyncio.Event()

        async def fails_later() -> None:
            await gate.wait()
            raise RuntimeError("late failure")

        done = asyncio.Event()
        future = bridge.submit(fails_later, lambda _f: done.set())
        await asyncio.sleep(0)
        future.cancel()  # the caller gave up ...
        await done.wait()
        gate.set()  # ... then the task fails: its exception must still be retrieved
        for _ in range(3):
            await asyncio.sleep(0)

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        asyncio.run(main())  # noqa: TID251 -- the test owns this loop
        gc.collect()
    assert "never retrieved" not in caplog.text


def test_an_async_call_waits_one_bound_not_two(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime()

    async def main() -> float:
        dev = rt.async_device(peripheral.address)
        await dev.connect(timeout=5)
        peripheral.hold("read")  # the read never completes
        started = time.perf_counter()
        with pytest.raises(OperationTimeout):
            await dev.read(SENSOR, timeout=0.5)
        elapsed = time.perf_counter() - started
        peripheral.release()
        return elapsed

    assert asyncio.run(main()) < 0.9  # noqa: TID251 -- the test owns this loop


def test_the_bridge_closes_a_wedged_loop_within_one_bound() -> None:
    bridge = LoopBridge()
    bridge.start()
    wedge = threading.Event()  # a callback waits on it: the loop thread is wedged
    bridge.loop.call_soon_threadsafe(wedge.wait)
    started = time.perf_counter()
    assert bridge.close(0.5) is False
    assert time.perf_counter() - started < 0.9  # one bound, not one per step
    wedge.set()  # let the daemon thread finish


def test_a_crash_answers_the_request_it_was_handling_at_once(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    metrics = InMemoryMetrics()
    peripheral = heart_rate(world)
    rt = make_runtime(metrics=metrics, default_timeout=30.0)
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    rt.crash(dev, Role.NOTIFY)
    started = time.perf_counter()
    dev.subscribe(HR_MEASUREMENT, Collector())  # queued behind the crash: the successor
    assert time.perf_counter() - started < 5.0
    metrics.wait_count("supervisor.restarts", 1)
