"""A user's own pytest tests: fault injection into *their* code, no hardware needed.

    python -m pytest examples/test_heart_rate_log.py

``HeartRateLog`` stands for your application code: it only knows blerun's public API.
The tests put it on an emulated strap and break things underneath it: link drops and
refused reconnects at the radio (``blerun.sim``), duplicated and reordered messages
inside the runtime (``FaultPlan``), a crashed actor (``rt.crash``). On hardware the
class runs unchanged: ``HeartRateLog(Runtime().device("F3:4A:7B:21:9C:05"))``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from blerun.actors import Device, Notification, Reason, ReconnectPolicy, Runtime, StateChanged
from blerun.gatt import HEART_RATE_MEASUREMENT
from blerun.messages import NotificationBatch, Role
from blerun.sim import Peripheral, VirtualAir, heart_rate_monitor
from blerun.testing import FaultPlan, InMemoryMetrics

# --- the application code under test ---------------------------------------------------


class HeartRateLog:
    """Keeps every measurement and counts dropouts (your code; blerun's public API only)."""

    def __init__(self, device: Device) -> None:
        self.measurements: list[bytes] = []
        self.dropouts = 0
        self._changed = threading.Condition()
        device.on_state_change(self._on_state)
        device.subscribe(HEART_RATE_MEASUREMENT, self._on_measurement)

    def _on_state(self, event: StateChanged) -> None:
        if event.reason is Reason.LINK_LOST:
            with self._changed:
                self.dropouts += 1
                self._changed.notify_all()

    def _on_measurement(self, note: Notification) -> None:
        with self._changed:
            self.measurements.append(note.data)
            self._changed.notify_all()

    def bpm(self) -> list[int]:
        with self._changed:
            return [m[1] for m in self.measurements]  # flags 0x0X: heart rate is a uint8

    def wait(self, condition: Callable[[HeartRateLog], bool], timeout: float = 10.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: condition(self), timeout):
                raise TimeoutError("the heart-rate log did not get there in time")


# --- the tests ---------------------------------------------------------------------------

ADDRESS = "F3:4A:7B:21:9C:05"
FAST = ReconnectPolicy(initial=0.02, cap=0.2)


def measured(count: int) -> Callable[[HeartRateLog], bool]:
    return lambda log: len(log.measurements) >= count


def dropped(count: int) -> Callable[[HeartRateLog], bool]:
    return lambda log: log.dropouts == count


def sequence_numbers(log: HeartRateLog) -> list[int]:
    # The emulated strap counts in Energy Expended (bytes 2-3): gaps and repeats show.
    return [int.from_bytes(m[2:4], "little") for m in log.measurements]


@pytest.fixture
def air() -> Iterator[VirtualAir]:
    with VirtualAir.start() as air:
        yield air


@pytest.fixture
def strap(air: VirtualAir) -> Peripheral:
    return air.add_peripheral(heart_rate_monitor(address=ADDRESS, rate_hz=50))


def test_the_log_loses_nothing_across_link_drops(air: VirtualAir, strap: Peripheral) -> None:
    with Runtime(loop=air.loop, backend=air.client_backend, policy=FAST) as rt:
        device = rt.device(ADDRESS)
        log = HeartRateLog(device)
        device.connect(timeout=10.0)
        for drops in range(1, 4):
            log.wait(measured(5 * drops))
            strap.drop_link()
            log.wait(dropped(drops))
        log.wait(lambda lg: len(lg.measurements) >= 20)
        strap.pause_notifications()
        sent = strap.counters().notifications_while_subscribed
        log.wait(lambda lg: len(lg.measurements) == sent)

    assert log.dropouts == 3
    assert sequence_numbers(log) == list(range(sent))
    assert set(log.bpm()) == {72}


def test_the_log_rides_out_refused_reconnects(air: VirtualAir, strap: Peripheral) -> None:
    with Runtime(loop=air.loop, backend=air.client_backend, policy=FAST) as rt:
        device = rt.device(ADDRESS)
        log = HeartRateLog(device)
        device.connect(timeout=10.0)
        log.wait(lambda lg: len(lg.measurements) >= 5)
        strap.refuse_connects(3)
        strap.drop_link()
        log.wait(lambda lg: lg.dropouts == 1)
        before = len(log.measurements)
        log.wait(lambda lg: len(lg.measurements) >= before + 5)

    assert strap.counters().refused_connects == 3


def test_the_log_never_sees_duplicated_or_reordered_messages(
    air: VirtualAir, strap: Peripheral
) -> None:
    plan = FaultPlan(seed=7)
    plan.duplicate(NotificationBatch, probability=0.2).reorder(NotificationBatch, probability=0.1)
    with Runtime(loop=air.loop, backend=air.client_backend, faults=plan) as rt:
        device = rt.device(ADDRESS)
        log = HeartRateLog(device)
        device.connect(timeout=10.0)
        log.wait(lambda lg: len(lg.measurements) >= 50)

    assert plan.applied()  # the faults were injected ...
    received = sequence_numbers(log)
    assert received == sorted(set(received))  # ... and the log saw each value once, in order


def test_the_log_keeps_its_subscription_when_an_actor_crashes(
    air: VirtualAir, strap: Peripheral
) -> None:
    metrics = InMemoryMetrics()
    with Runtime(loop=air.loop, backend=air.client_backend, metrics=metrics) as rt:
        device = rt.device(ADDRESS)
        log = HeartRateLog(device)
        device.connect(timeout=10.0)
        log.wait(lambda lg: len(lg.measurements) >= 5)
        rt.crash(device, Role.NOTIFY, note="test")
        metrics.wait_count("supervisor.restarts", 1)
        before = len(log.measurements)
        log.wait(lambda lg: len(lg.measurements) >= before + 5)
