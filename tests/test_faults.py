"""Message-level fault injection, and the invariants that hold under it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from blerun.actors import ConnectionState, ReconnectPolicy, Runtime
from blerun.actors.errors import Disconnected, InvalidPolicy
from blerun.messages import AttemptDone, LinkLost, NotificationBatch, Reason, Role, StateChanged
from blerun.testing import FakeClock, FaultPlan, InMemoryMetrics

from helpers import Collector, Connected, StateRecorder, settle
from scripted import HR_MEASUREMENT, ScriptedPeripheral, ScriptedWorld, heart_rate

S = ConnectionState
FAST = ReconnectPolicy(initial=0.0, cap=0.01, jitter=0.0)


def _bursts(world: ScriptedWorld, peripheral: ScriptedPeripheral, batches: int, size: int) -> None:
    """``batches`` loop iterations of ``size`` notifications: one NotificationBatch each."""
    for b in range(batches):

        def send(b: int = b) -> None:
            for i in range(size):
                peripheral.notify(HR_MEASUREMENT, (b * size + i).to_bytes(2, "little"))

        world.run(send)


def test_duplicates_and_reorders_deliver_each_notification_once_in_order(
    world: ScriptedWorld, connected_device: Callable[..., Connected]
) -> None:
    plan = FaultPlan(seed=3)
    plan.duplicate(NotificationBatch, probability=0.3).reorder(NotificationBatch, probability=0.2)
    c = connected_device(faults=plan, policy=FAST)
    dev, peripheral, got = c.device, c.peripheral, c.notes
    _bursts(world, peripheral, batches=100, size=3)
    # Nothing was dropped: every notification arrives (a batch held back by a reorder is
    # released by the next one, or by the plan's hold bound), once, in order.
    seqs = [n.seq for n in got.wait_count(300)]
    settle(dev)
    assert seqs == list(range(1, 301)), "each notification exactly once, in order"
    stats = dev.statistics()
    applied = plan.applied()
    assert applied["duplicate:NotificationBatch"] > 0 and applied["reorder:NotificationBatch"] > 0
    assert stats.notifications_out_of_order == 3 * applied["duplicate:NotificationBatch"]
    assert stats.notifications_gaps == 0


def test_a_delayed_batch_still_arrives_once_in_order(
    world: ScriptedWorld, connected_device: Callable[..., Connected]
) -> None:
    plan = FaultPlan(seed=5).delay(NotificationBatch, seconds=0.05, probability=0.2)
    c = connected_device(faults=plan, policy=FAST)
    dev, peripheral, got = c.device, c.peripheral, c.notes
    _bursts(world, peripheral, batches=60, size=2)
    seqs = [n.seq for n in got.wait_count(120)]
    assert seqs == list(range(1, 121))
    assert plan.applied()["delay:NotificationBatch"] > 0
    assert dev.statistics().notifications_gaps == 0


def test_same_seed_same_faults() -> None:
    outcomes = []
    for _ in range(2):
        world = ScriptedWorld()
        plan = FaultPlan(seed=9).drop(NotificationBatch, probability=0.25)
        peripheral = heart_rate(world)
        clock = FakeClock()
        with Runtime(backend=world.backend, faults=plan, clock=clock) as rt:
            world.loop = rt.loop
            dev = rt.device(peripheral.address)
            got = Collector()
            dev.subscribe(HR_MEASUREMENT, got)
            dev.connect(timeout=5)
            peripheral.wait_until(lambda p: HR_MEASUREMENT in p.handlers)
            _bursts(world, peripheral, batches=100, size=2)
            settle(dev)
            clock.advance(1.0)  # past the reorder window: the gaps are given up
            settle(dev)
            outcomes.append([n.seq for n in got.items])
            gaps = dev.statistics().notifications_gaps
    assert outcomes[0] == outcomes[1]
    assert 100 < len(outcomes[0]) < 200
    assert gaps > 0  # what was dropped between the actors is counted, not silently lost


def test_dropped_link_lost_is_recovered_by_the_next_attempt(
    world: ScriptedWorld, connected_device: Callable[..., Connected]
) -> None:
    # A lost LinkLost leaves the radio believing in a dead link until an operation fails;
    # delayed completions and duplicated state events change nothing they should not.
    plan = FaultPlan(seed=1)
    plan.delay(AttemptDone, seconds=0.05).duplicate(StateChanged)
    c = connected_device(faults=plan, policy=FAST)
    dev, peripheral = c.device, c.peripheral
    rec = StateRecorder(dev)
    for n in range(1, 6):
        world.run(peripheral.drop)
        rec.wait_state(S.CONNECTED, count=n)
        peripheral.wait_until(lambda p: HR_MEASUREMENT in p.handlers)
    versions = [e.version for e in rec.events]
    assert versions == sorted(set(versions)), "listeners see each transition once, in order"
    assert peripheral.start_notify_calls[HR_MEASUREMENT] == peripheral.connects


def test_a_lost_disconnect_callback_is_healed_by_the_next_operation(
    world: ScriptedWorld, connected_device: Callable[..., Connected]
) -> None:
    plan = FaultPlan(seed=2).drop(LinkLost, limit=1)
    c = connected_device(faults=plan, policy=FAST)
    dev, peripheral = c.device, c.peripheral
    rec = StateRecorder(dev)
    world.run(peripheral.drop)  # its LinkLost is dropped ...
    assert plan.applied() == {"drop:LinkLost": 1}
    settle(dev)
    assert dev.state is S.CONNECTED  # ... the radio did not hear
    # ... until an operation finds the link dead: it fails, and the device reconnects.
    with pytest.raises(Disconnected):
        dev.read("2a6e")
    event = rec.wait_state(S.RECONNECTING)
    assert event.reason is Reason.LINK_LOST
    rec.wait_state(S.CONNECTED)
    assert dev.read("2a6e") == b"\x2a\x00"


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


def test_a_plan_without_types_cannot_drop_the_runtimes_own_lifecycle(
    world: ScriptedWorld,
) -> None:
    # "Drop everything" drops every message between the actors, but supervision, Close,
    # Resync, Poison and state events are the runtime's own: close() still stops them all.
    plan = FaultPlan(seed=4)
    peripheral = heart_rate(world)
    rt = Runtime(backend=world.backend, faults=plan, policy=FAST).start()
    world.loop = rt.loop
    dev = rt.device(peripheral.address)
    rec = StateRecorder(dev)
    dev.subscribe(HR_MEASUREMENT, Collector())
    dev.connect(timeout=5)
    peripheral.wait_until(lambda p: HR_MEASUREMENT in p.handlers)
    plan.drop(probability=1.0)  # from now on, every message between actors is lost
    _bursts(world, peripheral, batches=3, size=1)
    report = rt.close(timeout=2.0)
    assert report.clean, report
    assert rec.wait_state(S.CLOSED).reason is Reason.CLOSED
    peripheral.wait_until(lambda p: p.client is None)  # the link was torn down
    applied = plan.applied()
    assert applied.get("drop:NotificationBatch") == 3
    assert not any(key.split(":")[1] in ("Shutdown", "Close", "StateChanged") for key in applied)
