"""Testing your own app with blerun.testing: faults between the runtime's actors, a radio
that drops the link, and the invariant checker's verdict.

Run it with ``python -m pytest examples/testing_your_app`` (the ``sim_air`` and
``sim_heart_rate_monitor`` fixtures come with ``pip install "blerun[sim]"``).
"""

from __future__ import annotations

from blerun.actors import ConnectionState, Runtime
from blerun.messages import NotificationBatch
from blerun.sim import Peripheral, VirtualAir
from blerun.testing import FaultPlan, InvariantChecker

from heart_rate_logger import HEART_RATE_MEASUREMENT, HeartRateLogger


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
            hr.wait_until(lambda c, n=drops: c.notifications_sent >= 5 * n)
            hr.drop_link()  # the radio misbehaves; the runtime reconnects and resubscribes
            hr.wait_until(lambda c, n=drops: c.connects == n + 1 and c.active_subscriptions)
        checker.settle(timeout=10)  # every beat the monitor sent was delivered once
        assert logger.device.state is ConnectionState.CONNECTED
        checker.call(watch, "disconnect", logger.stop)
        checker.close(rt, timeout=2.0)
    assert checker.violations() == []
    sessions = [session for session, _, _ in logger.readings]
    assert sessions == sorted(sessions) and len(set(sessions)) == 4  # four connections
    assert len(set(logger.readings)) == len(logger.readings)  # none twice
    assert all(bpm == 72 for _, _, bpm in logger.readings)
    assert len(logger.readings) == watch.delivered()  # the app got what the checker got
