"""What the chaos campaign found over the sim, in process mode: one regression test each.

Each names the campaign run that found it (``python -m blerun.testing --runs 1 --seed S
--radio process`` replays it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from bleak import BleakClient

from blerun.actors import (
    ConnectionState,
    Device,
    HostPolicy,
    ReconnectPolicy,
    Runtime,
    Strategy,
)
from blerun.actors.errors import GattError
from blerun.messages import Role
from blerun.sim import (
    BODY_SENSOR_LOCATION,
    HEART_RATE_MEASUREMENT,
    VirtualAir,
    heart_rate_monitor,
)
from blerun.testing import InMemoryMetrics, InvariantChecker

from helpers import Collector, StateRecorder

pytestmark = pytest.mark.e2e
S = ConnectionState


@pytest.fixture
def air() -> Iterator[VirtualAir]:
    air = VirtualAir.start()
    yield air
    air.close(timeout=5.0)


def test_a_device_waiting_to_reconnect_when_its_host_hangs_reconnects_on_the_new_host(
    air: VirtualAir,
) -> None:
    # Seed 4 (process): the ReconnectDue of a device in RECONNECTING went to a radio host
    # that hung; the host was killed and its radio restarted in RECONNECTING, a state it
    # was already in, so nothing was published, no peer scheduled another attempt, and the
    # device stayed RECONNECTING for good.
    metrics = InMemoryMetrics()
    hosts = HostPolicy(heartbeat=0.2, hang_timeout=1.0, shutdown_timeout=0.5)
    policy = ReconnectPolicy(initial=0.3, cap=0.3, jitter=0.0, attempt_timeout=10.0)
    rt = Runtime(
        backend=air.client_backend, radio="process", hosts=hosts, policy=policy, metrics=metrics
    ).start()
    try:
        hr = air.add_peripheral(heart_rate_monitor(name="HR-wedged", rate_hz=20.0))
        dev = rt.device(hr.address)
        rec = StateRecorder(dev)
        got = Collector()
        dev.subscribe(HEART_RATE_MEASUREMENT, got)
        dev.connect(timeout=20)
        got.wait_count(1, timeout=10)
        hr.stop_advertising()  # the next attempt can only come after the host's restart
        hr.drop_link()
        rec.wait_state(S.RECONNECTING)
        rt.crash_host("wedge")  # the ReconnectDue due in 0.3 s goes into the wedged host
        metrics.wait_count("supervisor.host_restarts", 1, timeout=10)
        hr.resume_advertising()
        rec.wait_state(S.CONNECTED, count=2, timeout=20)
        hr.wait_until(lambda c: c.active_subscriptions == 1, timeout=10)
    finally:
        report = rt.close(timeout=5.0)
    assert report.clean, report


def test_an_att_error_in_a_radio_host_is_an_answer_not_a_dead_host(air: VirtualAir) -> None:
    # Seed 9 (process): see test_an_error_caused_by_a_bleak_exception_crosses_the_process_
    # boundary; here end to end: the subscribe fails with GattError, the host lives on.
    metrics = InMemoryMetrics()
    rt = Runtime(backend=air.client_backend, radio="process", metrics=metrics).start()
    try:
        hr = air.add_peripheral(heart_rate_monitor(name="HR-refusing", rate_hz=20.0))
        dev = rt.device(hr.address)
        dev.connect(timeout=20)
        [host] = rt.hosts()
        hr.fail_next("subscribe", 0x0E)
        with pytest.raises(GattError):
            dev.subscribe(HEART_RATE_MEASUREMENT, Collector(), timeout=10)
        got = Collector()
        dev.subscribe(HEART_RATE_MEASUREMENT, got, timeout=10)  # the same host serves it
        got.wait_count(1, timeout=10)
        assert [h.pid for h in rt.hosts()] == [host.pid]
        assert metrics.count("supervisor.host_restarts") == 0
    finally:
        report = rt.close(timeout=5.0)
    assert report.clean, report


def test_a_group_restarted_together_in_process_mode_keeps_its_radio_reachable(
    air: VirtualAir,
) -> None:
    # Seeds 7 and 11 (process), Strategy.ONE_FOR_ALL: the restart stopped the radio in its
    # host and started its successor in the same host, which found the device's slots
    # closed by the stop: every message to the new radio was a dead letter ("radio is
    # gone"), and the device stayed RECONNECTING.
    metrics = InMemoryMetrics()
    policy = ReconnectPolicy(initial=0.0, cap=0.02, jitter=0.0, attempt_timeout=10.0)
    rt = Runtime(
        backend=air.client_backend,
        radio="process",
        policy=policy,
        metrics=metrics,
        strategy=Strategy.ONE_FOR_ALL,
    ).start()
    try:
        hr = air.add_peripheral(heart_rate_monitor(name="HR-together", rate_hz=50.0))
        dev = rt.device(hr.address)
        rec = StateRecorder(dev)
        got = Collector()
        dev.subscribe(HEART_RATE_MEASUREMENT, got)
        dev.connect(timeout=20)
        got.wait_count(1, timeout=10)
        rt.crash(dev, Role.RECONNECT)  # all three restart; the radio in the same host
        metrics.wait_count("supervisor.restarts", 1, timeout=10)
        rec.wait_state(S.CONNECTED, count=2, timeout=20)
        assert dev.read(BODY_SENSOR_LOCATION, timeout=10) == b"\x01"
        seen = len(got.items)
        got.wait_count(seen + 5, timeout=10)
    finally:
        report = rt.close(timeout=5.0)
    assert report.clean, report


def test_statistics_asked_of_a_host_that_hangs_are_answered_by_its_successor(
    air: VirtualAir,
) -> None:
    # Seed 10 (process): statistics() asked while the radio host died raised Disconnected
    # ("the radio host ... died during the operation"): the question was about the device,
    # not the link, and the radio's successor can answer it.
    metrics = InMemoryMetrics()
    hosts = HostPolicy(heartbeat=0.2, hang_timeout=1.0, shutdown_timeout=0.5)
    rt = Runtime(backend=air.client_backend, radio="process", hosts=hosts, metrics=metrics)
    rt.start()
    try:
        hr = air.add_peripheral(heart_rate_monitor(name="HR-asked", rate_hz=20.0))
        dev = rt.device(hr.address)
        dev.connect(timeout=20)
        rt.crash_host("freeze")  # the radio's GetStats waits in a frozen host
        stats = dev.statistics(timeout=15)
        assert metrics.count("supervisor.host_restarts") == 1
        assert stats.address == hr.address
    finally:
        report = rt.close(timeout=5.0)
    assert report.clean, report


def test_what_a_radio_stopped_in_its_host_flushes_on_its_way_out_is_not_lost(
    air: VirtualAir,
) -> None:
    # Seeds 20 and 400 (process), Strategy.ONE_FOR_ALL: the host closed a stopped radio's
    # slots at once, so the notifications it flushed as it went (received, and counted)
    # were dead letters: neither delivered nor counted as stale.
    policy = ReconnectPolicy(initial=0.0, cap=0.02, jitter=0.0, attempt_timeout=10.0)
    hr = air.add_peripheral(heart_rate_monitor(name="HR-flushing", rate_hz=200.0))
    with InvariantChecker() as checker:
        rt = Runtime(
            backend=air.client_backend,
            radio="process",
            policy=policy,
            metrics=checker.metrics,
            strategy=Strategy.ONE_FOR_ALL,
        ).start()
        dev = rt.device(hr.address)
        watch = checker.watch(dev, peripheral=hr)
        dev.subscribe(HEART_RATE_MEASUREMENT, watch.callback(HEART_RATE_MEASUREMENT))
        checker.call(watch, "connect", dev.connect, timeout=20)
        rec = StateRecorder(dev)
        watch.runtime_ended_sessions = True  # each restart tears the link down
        for restart in range(1, 6):
            rt.crash(dev, Role.NOTIFY)  # all three restart, the radio in its host
            rec.wait_state(S.CONNECTED, count=restart, timeout=20)
        checker.settle(timeout=10)
        checker.close(rt, timeout=5.0)
    assert checker.violations() == []


def test_a_caller_waiting_on_a_radio_restarted_in_its_host_waits_for_the_successor(
    air: VirtualAir,
) -> None:
    # The in-process fix of seed 65 (a group restarted together keeps the callers waiting
    # for a state), in process mode: the stopped radio hands its waiting callers over in
    # its host, where its slot is closed, and they got RuntimeClosed.
    metrics = InMemoryMetrics()
    policy = ReconnectPolicy(initial=0.0, cap=0.02, jitter=0.0, attempt_timeout=30.0)
    rt = Runtime(
        backend=air.client_backend,
        radio="process",
        policy=policy,
        metrics=metrics,
        strategy=Strategy.ONE_FOR_ALL,
    ).start()
    try:
        hr = air.add_peripheral(heart_rate_monitor(name="HR-awaited", rate_hz=20.0))
        hr.stop_advertising()  # the connect waits
        dev = rt.device(hr.address)
        rec = StateRecorder(dev)
        outcome: list[BaseException | None] = []
        waiter = threading.Thread(target=_connect_into, args=(dev, outcome))
        waiter.start()
        rec.wait_state(S.CONNECTING, timeout=20)
        rt.crash(dev, Role.NOTIFY)
        metrics.wait_count("supervisor.restarts", 1, timeout=10)
        rec.wait_state(S.RECONNECTING, timeout=20)  # the successor took over
        hr.resume_advertising()
        waiter.join(30)
        assert outcome == [None]
        assert dev.state is S.CONNECTED
    finally:
        report = rt.close(timeout=5.0)
    assert report.clean, report


def _connect_into(dev: Device, outcome: list[BaseException | None]) -> None:
    try:
        dev.connect(timeout=25)
        outcome.append(None)
    except Exception as exc:  # recorded, checked by the test
        outcome.append(exc)


def test_a_peripheral_whose_central_left_the_air_loses_that_link(air: VirtualAir) -> None:
    # The 1,000-run campaign (process mode): a radio host died while one of its links was
    # being made; the peripheral kept its end of that link to a central no longer on the
    # air, and the next drop_link() raised bumble's InvalidArgumentError ("Unable to find
    # controller") instead of dropping it. White-box: the central is taken off the air the
    # way a dead process's controller is, without its own links being dropped first.
    hr = air.add_peripheral(heart_rate_monitor(name="HR-orphaned"))

    async def connect_then_vanish() -> None:
        client = BleakClient(hr.address, backend=air.client_backend)
        await client.connect()
        world = air._world
        [central] = world._controllers
        world.link.remove_controller(central)  # its process is gone

    air.run(connect_then_vanish())
    hr.wait_until(lambda c: c.connects == c.disconnects, timeout=5)  # the link ended
    assert hr.drop_link() is False  # nothing left to drop, and no error
