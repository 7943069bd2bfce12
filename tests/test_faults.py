"""Message-level fault injection, and the invariants that hold under it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from blerun.actors import (
    ConnectionState,
    Disconnected,
    FaultPlan,
    InMemoryMetrics,
    InvalidPolicy,
    ReconnectPolicy,
    Role,
    Runtime,
)
from blerun.messages import AttemptDone, LinkLost, RawNotification, Reason, StateChanged

from helpers import Collector, StateRecorder, settle
from scripted import HR_MEASUREMENT, ScriptedPeripheral, ScriptedWorld, heart_rate

S = ConnectionState
FAST = ReconnectPolicy(initial=0.0, cap=0.01, jitter=0.0)


def _burst(world: ScriptedWorld, peripheral: ScriptedPeripheral, n: int) -> None:
    def send() -> None:
        for i in range(n):
            peripheral.notify(HR_MEASUREMENT, i.to_bytes(2, "little"))

    world.run(send)


def _connected(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime], plan: FaultPlan
) -> tuple[object, ScriptedPeripheral, Collector]:
    peripheral = heart_rate(world)
    rt = make_runtime(faults=plan, policy=FAST)
    dev = rt.device(peripheral.address)
    got = Collector()
    dev.subscribe(HR_MEASUREMENT, got)
    dev.connect(timeout=5)
    peripheral.wait_until(lambda p: HR_MEASUREMENT in p.handlers)
    return dev, peripheral, got


def test_duplicates_and_reorders_never_reach_a_callback(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    plan = FaultPlan(seed=3)
    plan.duplicate(RawNotification, probability=0.3).reorder(RawNotification, probability=0.2)
    dev, peripheral, got = _connected(world, make_runtime, plan)
    _burst(world, peripheral, 300)
    settle(dev)  # type: ignore[arg-type]
    seqs = [n.seq for n in got.items]
    assert seqs == sorted(set(seqs)), "delivered at most once, in order"
    stats = dev.statistics()  # type: ignore[attr-defined]
    applied = plan.applied()
    assert applied["duplicate:RawNotification"] > 0 and applied["reorder:RawNotification"] > 0
    assert stats.notifications_out_of_order >= applied["duplicate:RawNotification"]
    # Every notification is either delivered or accounted for as out of order (a reorder
    # held past the burst's end is still held: at most one).
    assert (
        len(seqs) + stats.notifications_out_of_order - applied["duplicate:RawNotification"] >= 299
    )


def test_same_seed_same_faults() -> None:
    outcomes = []
    for _ in range(2):
        world = ScriptedWorld()
        plan = FaultPlan(seed=9).drop(RawNotification, probability=0.25)
        peripheral = heart_rate(world)
        with Runtime(backend=world.backend, faults=plan) as rt:
            world.loop = rt.loop
            dev = rt.device(peripheral.address)
            got = Collector()
            dev.subscribe(HR_MEASUREMENT, got)
            dev.connect(timeout=5)
            peripheral.wait_until(lambda p: HR_MEASUREMENT in p.handlers)
            _burst(world, peripheral, 200)
            settle(dev)
            outcomes.append([n.seq for n in got.items])
    assert outcomes[0] == outcomes[1]
    assert 100 < len(outcomes[0]) < 200


def test_dropped_link_lost_is_recovered_by_the_next_attempt(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    # A lost LinkLost leaves the radio believing in a dead link until an operation fails;
    # delayed completions and duplicated state events change nothing they should not.
    plan = FaultPlan(seed=1)
    plan.delay(AttemptDone, seconds=0.05).duplicate(StateChanged)
    dev, peripheral, _ = _connected(world, make_runtime, plan)
    rec = StateRecorder(dev)  # type: ignore[arg-type]
    for n in range(1, 6):
        world.run(peripheral.drop)
        rec.wait_state(S.CONNECTED, count=n)
        peripheral.wait_until(lambda p: HR_MEASUREMENT in p.handlers)
    versions = [e.version for e in rec.events]
    assert versions == sorted(set(versions)), "listeners see each transition once, in order"
    assert peripheral.start_notify_calls[HR_MEASUREMENT] == peripheral.connects


def test_a_lost_disconnect_callback_is_healed_by_the_next_operation(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    plan = FaultPlan(seed=2).drop(LinkLost, limit=1)
    dev, peripheral, _ = _connected(world, make_runtime, plan)
    rec = StateRecorder(dev)  # type: ignore[arg-type]
    world.run(peripheral.drop)  # its LinkLost is dropped ...
    assert plan.applied() == {"drop:LinkLost": 1}
    settle(dev)  # type: ignore[arg-type]
    assert dev.state is S.CONNECTED  # type: ignore[attr-defined]  ... the radio did not hear
    # ... until an operation finds the link dead: it fails, and the device reconnects.
    with pytest.raises(Disconnected):
        dev.read("2a6e")  # type: ignore[attr-defined]
    event = rec.wait_state(S.RECONNECTING)
    assert event.reason is Reason.LINK_LOST
    rec.wait_state(S.CONNECTED)
    assert dev.read("2a6e") == b"\x2a\x00"  # type: ignore[attr-defined]


def test_crash_injection_goes_through_the_router(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    metrics = InMemoryMetrics()
    peripheral = heart_rate(world)
    rt = make_runtime(metrics=metrics, policy=FAST)
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    rt.crash(dev, Role.NOTIFY, note="chaos")
    metrics.wait_count("supervisor.restarts", 1, role="notify")
    assert dev.statistics().subscriptions == 0 and dev.state is S.CONNECTED


def test_plan_validation() -> None:
    with pytest.raises(InvalidPolicy):
        FaultPlan().drop(probability=1.5)
    with pytest.raises(InvalidPolicy):
        FaultPlan().delay(seconds=-1)
