"""End to end: the runtime's actors, through bleak, through a real BLE host stack (Bumble).

Nothing here is scripted: the peripherals are emulated GATT servers on Bumble's virtual
controllers, reached through blerun.sim's bleak backend, and faults are injected at the
link layer (supervision timeouts, refused connects, stalled procedures).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from blerun.actors import (
    AttemptInfo,
    ConnectionState,
    Device,
    Jitter,
    Notification,
    ReconnectPolicy,
    Runtime,
)
from blerun.sim import (
    HEART_RATE_MEASUREMENT,
    Peripheral,
    VirtualAir,
    heart_rate_monitor,
    parse_heart_rate_measurement,
)
from blerun.testing import FakeClock

from helpers import StateRecorder, start_connect

pytestmark = pytest.mark.e2e
S = ConnectionState
FAST = ReconnectPolicy(initial=0.0, cap=0.02, jitter=0.0, attempt_timeout=5.0)


@pytest.fixture
def air() -> Iterator[VirtualAir]:
    air = VirtualAir.start()
    yield air
    air.close(timeout=5.0)


@pytest.fixture(params=["inprocess", "process"])
def radio(request: pytest.FixtureRequest) -> str:
    """The radio mode: bleak on the runtime's loop, or in a radio host process."""
    return str(request.param)


@pytest.fixture
def runtime(air: VirtualAir, radio: str) -> Iterator[Callable[..., Runtime]]:
    """Runtimes over ``air``, in the radio mode of the test's parameter.

    In process mode bleak runs in the host's own loop, so the runtime borrows no loop; the
    host reaches this air through the pickled backend.
    """
    made: list[Runtime] = []

    def make(**options: object) -> Runtime:
        if radio == "process":
            rt = Runtime(backend=air.client_backend, radio="process", **options)  # type: ignore[arg-type]
        else:
            rt = Runtime(loop=air.loop, backend=air.client_backend, **options)  # type: ignore[arg-type]
        made.append(rt.start())
        return rt

    yield make
    for rt in made:
        report = rt.close(timeout=5.0)
        assert report.clean, report


class Stream:
    """Heart-rate measurements as a subscriber sees them, with their sequence numbers."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self._cond = threading.Condition()

    def __call__(self, note: Notification) -> None:
        _, seq = parse_heart_rate_measurement(note.data)  # the sim's 16-bit sequence number
        assert seq is not None
        with self._cond:
            self.seqs.append(seq)
            self._cond.notify_all()

    def wait(self, count: int, timeout: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.seqs) >= count, timeout):
                raise AssertionError(f"stream stalled at {len(self.seqs)} < {count}")


def _drop_and_recover(peripheral: Peripheral, rec: StateRecorder, stream: Stream, n: int) -> None:
    """Drop the link once and wait until the stream flows again on the new connection."""
    assert peripheral.drop_link()
    rec.wait_state(S.RECONNECTING, count=n)
    rec.wait_state(S.CONNECTED, count=n + 1)
    peripheral.wait_until(lambda c: c.active_subscriptions == 1)
    stream.wait(len(stream.seqs) + 3)


def test_heart_rate_stream_survives_50_link_drops(
    air: VirtualAir, runtime: Callable[..., Runtime]
) -> None:
    hr = air.add_peripheral(heart_rate_monitor(name="HR-50", rate_hz=500.0))
    rt = runtime(policy=FAST)
    dev = rt.device(hr.address)
    rec = StateRecorder(dev)
    stream = Stream()
    dev.subscribe(HEART_RATE_MEASUREMENT, stream)
    dev.connect(timeout=5)
    stream.wait(3)
    for n in range(1, 51):
        _drop_and_recover(hr, rec, stream, n)
        counters = hr.counters()
        assert counters.active_subscriptions == 1  # resubscribed, exactly once
    hr.pause_notifications()
    sent = hr.counters().notifications_while_subscribed
    stream.wait(sent)  # every notification sent while subscribed arrives ...
    assert len(stream.seqs) == sent  # ... and nothing else
    assert len(set(stream.seqs)) == len(stream.seqs)  # no duplicates
    stats = dev.statistics()
    assert stats.links_lost == 50 and stats.connect_successes == 51
    assert stats.notifications_delivered == sent
    assert hr.counters().connects == 51 and hr.counters().drops_injected == 50


def test_stalled_connect_and_disconnect_never_block_close(air: VirtualAir) -> None:
    slow_in = air.add_peripheral(heart_rate_monitor(name="stall-connect"))
    slow_out = air.add_peripheral(heart_rate_monitor(name="stall-disconnect"))
    rt = Runtime(loop=air.loop, backend=air.client_backend, policy=FAST).start()
    out = rt.device(slow_out.address)
    out.connect(timeout=5)
    slow_out.stall_next("disconnect")
    slow_in.stall_next("connect")
    inn = rt.device(slow_in.address)
    rec = StateRecorder(inn)
    start_connect(inn)
    rec.wait_state(S.CONNECTING)
    started = time.perf_counter()
    report = rt.close(timeout=1.0)
    assert time.perf_counter() - started < 1.5, report
    assert inn.state is S.CLOSED and out.state is S.CLOSED


def test_twenty_peripherals_each_with_its_own_drops(
    air: VirtualAir, runtime: Callable[..., Runtime]
) -> None:
    rt = runtime(policy=FAST)
    peripherals = [
        air.add_peripheral(heart_rate_monitor(name=f"HR-{i:02d}", rate_hz=50.0)) for i in range(20)
    ]
    devices: list[tuple[Peripheral, Device, StateRecorder, Stream]] = []
    for peripheral in peripherals:
        dev = rt.device(peripheral.address)
        stream = Stream()
        dev.subscribe(HEART_RATE_MEASUREMENT, stream)
        devices.append((peripheral, dev, StateRecorder(dev), stream))
    for _, dev, _, _ in devices:
        dev.connect(timeout=10)
    for i, (peripheral, _, rec, stream) in enumerate(devices):
        stream.wait(2)
        for n in range(1, 1 + i % 3 + 1):  # 1 to 3 drops each
            _drop_and_recover(peripheral, rec, stream, n)
    for peripheral, *_ in devices:
        peripheral.pause_notifications()
    for peripheral, dev, _, stream in devices:
        sent = peripheral.counters().notifications_while_subscribed
        stream.wait(sent)
        assert len(stream.seqs) == sent == len(set(stream.seqs))
        assert dev.state is S.CONNECTED


def test_refused_connects_back_off_by_the_policy(
    air: VirtualAir, runtime: Callable[..., Runtime]
) -> None:
    clock = FakeClock()
    seen: list[AttemptInfo] = []
    policy = ReconnectPolicy(
        initial=0.5, multiplier=2.0, cap=4.0, jitter=Jitter.NONE, on_attempt=seen.append
    )
    hr = air.add_peripheral(heart_rate_monitor(name="refuser"))
    rt = runtime(policy=policy, clock=clock)
    dev = rt.device(hr.address)
    rec = StateRecorder(dev)
    dev.connect(timeout=5)
    hr.refuse_connects(4)
    assert hr.drop_link()
    for n in range(1, 6):
        timer = clock.wait_for_timer("ReconnectDue")
        assert timer.delay == policy.delay(n, random.Random())  # no jitter: rng unused
        clock.advance(timer.delay)
        rec.wait_state(S.CONNECTING, count=n + 1)
        if n < 5:
            rec.wait_state(S.RECONNECTING, count=n + 1)
    rec.wait_state(S.CONNECTED, count=2)
    assert [i.delay for i in seen] == [0.5, 1.0, 2.0, 4.0, 4.0]
    counters = hr.counters()
    assert counters.refused_connects == 4 and counters.connects == 2
