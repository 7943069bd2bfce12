"""Structured logs, state listeners and metrics tell what happened, with the detail."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from bleak.exc import BleakError

from blerun.actors import ConnectionState, Jitter, ReconnectPolicy, Runtime
from blerun.messages import Reason
from blerun.testing import FakeClock, InMemoryMetrics

from helpers import StateRecorder
from scripted import ScriptedWorld, heart_rate

S = ConnectionState


def test_logs_carry_structured_fields(
    world: ScriptedWorld,
    make_runtime: Callable[..., Runtime],
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    peripheral = heart_rate(world)
    rt = make_runtime(clock=clock, policy=ReconnectPolicy(initial=2.0, jitter=Jitter.NONE))
    dev = rt.device(peripheral.address)
    rec = StateRecorder(dev)
    with caplog.at_level(logging.INFO, logger="blerun"):
        dev.connect(timeout=5)
        world.run(peripheral.drop)
        clock.advance(clock.wait_for_timer("ReconnectDue").delay)
        rec.wait_state(S.CONNECTED, count=2)
    transitions = [r for r in caplog.records if r.name == "blerun.actors._radio_state"]
    assert transitions, "every transition is logged"
    for record in transitions:
        assert record.device == dev.address  # type: ignore[attr-defined]
        assert isinstance(record.state_version, int)  # type: ignore[attr-defined]
        assert record.reason in {r.value for r in Reason}  # type: ignore[attr-defined]
    scheduled = [r for r in caplog.records if "reconnection attempt" in r.getMessage()]
    assert scheduled[0].delay == 2.0 and scheduled[0].attempt == 1  # type: ignore[attr-defined]


def test_metrics_count_what_happened(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    clock, metrics = FakeClock(), InMemoryMetrics()
    peripheral = heart_rate(world)
    rt = make_runtime(
        clock=clock,
        metrics=metrics,
        policy=ReconnectPolicy(initial=1.0, jitter=Jitter.NONE, max_attempts=1),
    )
    dev = rt.device(peripheral.address)
    rec = StateRecorder(dev)
    dev.connect(timeout=5)
    world.run(lambda: peripheral.connect_script.extend([BleakError("no"), BleakError("no")]))
    world.run(peripheral.drop)
    clock.advance(clock.wait_for_timer("ReconnectDue").delay)
    rec.wait_state(S.FAILED)
    tags = {"device": dev.address}
    assert metrics.count("connect.attempts", **tags) == 2
    assert metrics.count("connect.successes", **tags) == 1
    assert metrics.count("connect.give_ups", **tags) == 1
    assert metrics.count("link.lost", **tags) == 1
    assert metrics.observations("reconnect.delay", **tags) == [1.0]
    assert [e.new for e in rec.events] == [
        S.CONNECTING,
        S.CONNECTED,
        S.RECONNECTING,
        S.CONNECTING,
        S.RECONNECTING,
        S.FAILED,
    ]
    versions = [e.version for e in rec.events]
    assert versions == list(range(versions[0], versions[0] + len(versions)))


def test_a_failing_listener_does_not_stop_the_others(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    metrics = InMemoryMetrics()
    peripheral = heart_rate(world)
    rt = make_runtime(metrics=metrics)
    dev = rt.device(peripheral.address)

    def broken(_event: object) -> None:
        raise RuntimeError("listener bug")

    remove = dev.on_state_change(broken)
    rec = StateRecorder(dev)
    dev.connect(timeout=5)
    rec.wait_state(S.CONNECTED)
    assert metrics.count("callbacks.errors") == 2  # CONNECTING and CONNECTED
    remove()
    remove()  # idempotent
    dev.disconnect(timeout=5)
    rec.wait_state(S.DISCONNECTED)
    assert metrics.count("callbacks.errors") == 2
