"""Testing your own app with blerun: a radio that drops links and refuses reconnects
(``blerun.sim``), faults between the runtime's actors (``FaultPlan``), a crashed actor
(``rt.crash``), and the invariant checker's verdict (``InvariantChecker``).

Run it with ``python -m pytest examples/testing_your_app`` (the ``sim_air`` and
``sim_heart_rate_monitor`` fixtures come with ``pip install "blerun[sim]"``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from blerun.actors import ConnectionState, Runtime
from blerun.messages import NotificationBatch, Role
from blerun.sim import Peripheral, PeripheralCounters, VirtualAir, heart_rate_monitor
from blerun.testing import FaultPlan, InMemoryMetrics, InvariantChecker

from heart_rate_logger import HEART_RATE_MEASUREMENT, HeartRateLogger


def energy_counter(logger: HeartRateLogger) -> list[int]:
    # The emulated strap counts in Energy Expended (bytes 2-3): gaps and repeats show.
    return [int.from_bytes(reading.data[2:4], "little") for reading in logger.readings]


def readings(count: int) -> Callable[[HeartRateLogger], bool]:
    return lambda logger: len(logger.readings) >= count


def dropouts(count: int) -> Callable[[HeartRateLogger], bool]:
    return lambda logger: logger.dropouts == count


def sent_at_least(count: int) -> Callable[[PeripheralCounters], bool]:
    return lambda counters: counters.notifications_sent >= count


def reconnected(connects: int) -> Callable[[PeripheralCounters], bool]:
    return lambda counters: counters.connects == connects and bool(counters.active_subscriptions)


@pytest.fixture
def strap(sim_air: VirtualAir) -> Peripheral:
    return sim_air.add_peripheral(heart_rate_monitor(rate_hz=50))


@pytest.fixture
def runtime(sim_air: VirtualAir) -> Iterator[Runtime]:
    with Runtime(loop=sim_air.loop, backend=sim_air.client_backend) as rt:
        yield rt


def test_the_logger_loses_nothing_across_link_drops(runtime: Runtime, strap: Peripheral) -> None:
    logger = HeartRateLogger(runtime, strap.address)
    logger.start()
    for drops in range(1, 4):
        logger.wait_until(readings(5 * drops))
        strap.drop_link()
        logger.wait_until(dropouts(drops))
    logger.wait_until(lambda lg: len(lg.readings) >= 20)
    strap.pause_notifications()
    sent = strap.counters().notifications_while_subscribed
    logger.wait_until(lambda lg: len(lg.readings) == sent)

    assert logger.dropouts == 3
    assert energy_counter(logger) == list(range(sent))  # every beat, once, in order
    assert {reading.bpm for reading in logger.readings} == {72}


def test_the_logger_rides_out_refused_reconnects(runtime: Runtime, strap: Peripheral) -> None:
    logger = HeartRateLogger(runtime, strap.address)
    logger.start()
    logger.wait_until(lambda lg: len(lg.readings) >= 5)
    strap.refuse_connects(3)
    strap.drop_link()
    logger.wait_until(lambda lg: lg.dropouts == 1)
    before = len(logger.readings)
    logger.wait_until(lambda lg: len(lg.readings) >= before + 5)

    assert strap.counters().refused_connects == 3


def test_the_logger_keeps_its_subscription_when_an_actor_crashes(
    sim_air: VirtualAir, strap: Peripheral
) -> None:
    metrics = InMemoryMetrics()
    with Runtime(loop=sim_air.loop, backend=sim_air.client_backend, metrics=metrics) as rt:
        logger = HeartRateLogger(rt, strap.address)
        logger.start()
        logger.wait_until(lambda lg: len(lg.readings) >= 5)
        rt.crash(logger.device, Role.NOTIFY, note="test")  # as a bug in the runtime would
        metrics.wait_count("supervisor.restarts", 1)
        before = len(logger.readings)
        logger.wait_until(lambda lg: len(lg.readings) >= before + 5)

    counter = energy_counter(logger)
    assert counter == sorted(set(counter))  # nothing twice, nothing out of order


def test_the_logger_keeps_every_beat_once_through_faults(
    sim_air: VirtualAir, sim_heart_rate_monitor: Peripheral
) -> None:
    hr = sim_heart_rate_monitor
    # Batches of notifications between the runtime's actors arrive twice, late or out of
    # order; the app must not see any of that.
    plan = FaultPlan(seed=7)
    plan.duplicate(NotificationBatch, probability=0.2).reorder(NotificationBatch, probability=0.2)
    plan.delay(NotificationBatch, seconds=0.02, probability=0.2)
    with InvariantChecker(plan=plan) as checker:
        rt = Runtime(
            loop=sim_air.loop, backend=sim_air.client_backend, faults=plan, metrics=checker.metrics
        ).start()
        logger = HeartRateLogger(rt, hr.address)
        # The checker watches the same device through a recording subscription of its own.
        watch = checker.watch(logger.device, peripheral=hr)
        logger.device.subscribe(HEART_RATE_MEASUREMENT, watch.callback(HEART_RATE_MEASUREMENT))
        checker.call(watch, "connect", logger.start)
        for drops in range(1, 4):
            hr.wait_until(sent_at_least(5 * drops))
            hr.drop_link()  # the radio misbehaves; the runtime reconnects and resubscribes
            hr.wait_until(reconnected(drops + 1))
        checker.settle(timeout=10)  # every beat the monitor sent was delivered once
        assert logger.device.state is ConnectionState.CONNECTED
        checker.call(watch, "disconnect", logger.stop)
        checker.close(rt, timeout=2.0)
    assert checker.violations() == []
    sessions = [reading.session for reading in logger.readings]
    assert sessions == sorted(sessions) and len(set(sessions)) == 4  # four connections
    assert len(set(logger.readings)) == len(logger.readings)  # none twice
    assert all(reading.bpm == 72 for reading in logger.readings)
    assert len(logger.readings) == watch.delivered()  # the app got what the checker got
