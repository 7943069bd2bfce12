"""The radio in its own OS process: a supervisor that can kill it, and what survives that.

Each test runs the runtime with ``radio="process"``: the RadioActors, their event loop and
bleak run in a radio host process; the emulated peripherals stay in this process (the host
reaches them through the pickled sim backend), so faults and counters are checked here.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from blerun.actors import ConnectionState, HostPolicy, Notification, ReconnectPolicy, Runtime
from blerun.actors.errors import Disconnected
from blerun.gatt import HEART_RATE_CONTROL_POINT, HEART_RATE_MEASUREMENT
from blerun.sim import Peripheral, VirtualAir, heart_rate_monitor, parse_heart_rate_measurement
from blerun.testing import InMemoryMetrics

from helpers import StateRecorder

pytestmark = pytest.mark.e2e
S = ConnectionState
FAST = ReconnectPolicy(initial=0.0, cap=0.05, jitter=0.0, attempt_timeout=10.0)
QUICK_HOSTS = HostPolicy(heartbeat=0.2, hang_timeout=1.0, shutdown_timeout=0.5)


class Stream:
    """Heart-rate sequence numbers as the subscriber saw them."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self._cond = threading.Condition()

    def __call__(self, note: Notification) -> None:
        _, seq = parse_heart_rate_measurement(note.data)
        assert seq is not None  # the sim's monitor carries a sequence number
        with self._cond:
            self.seqs.append(seq)
            self._cond.notify_all()

    def wait(self, count: int, timeout: float = 20.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.seqs) >= count, timeout):
                raise AssertionError(f"stream stalled at {len(self.seqs)} < {count}")


@pytest.fixture
def air() -> Iterator[VirtualAir]:
    air = VirtualAir.start()
    yield air
    air.close(timeout=5.0)


def _process_runtime(air: VirtualAir, **options: object) -> Runtime:
    options.setdefault("policy", FAST)
    options.setdefault("hosts", QUICK_HOSTS)
    return Runtime(backend=air.client_backend, radio="process", **options).start()  # type: ignore[arg-type]


def _streaming(
    air: VirtualAir, rt: Runtime, rate_hz: float = 200.0
) -> tuple[Peripheral, object, Stream, StateRecorder]:
    hr = air.add_peripheral(heart_rate_monitor(name="HR-proc", rate_hz=rate_hz))
    dev = rt.device(hr.address)
    rec = StateRecorder(dev)
    stream = Stream()
    dev.subscribe(HEART_RATE_MEASUREMENT, stream)
    dev.connect(timeout=20)
    stream.wait(5)
    return hr, dev, stream, rec


@pytest.mark.parametrize("how", ["freeze", "wedge"])
def test_a_hung_host_is_killed_and_replaced_and_the_stream_resumes(
    air: VirtualAir, how: str
) -> None:
    metrics = InMemoryMetrics()
    rt = _process_runtime(air, metrics=metrics)
    try:
        hr, dev, stream, rec = _streaming(air, rt)
        [before] = rt.hosts()
        assert rt.crash_host(how) == before.pid  # type: ignore[arg-type]
        metrics.wait_count("supervisor.host_restarts", 1, timeout=10)
        rec.wait_state(S.RECONNECTING)
        rec.wait_state(S.CONNECTED, count=2, timeout=20)
        seen = len(stream.seqs)
        stream.wait(seen + 20)  # the stream flows again on the new host
        [after] = rt.hosts()
        assert after.pid != before.pid and after.incarnation == before.incarnation + 1
        hr.wait_until(lambda c: c.active_subscriptions == 1)  # every subscription, once
        assert len(set(stream.seqs)) == len(stream.seqs)  # no duplicates
        assert dev.statistics().subscriptions == 1  # type: ignore[attr-defined]
    finally:
        report = rt.close(timeout=5.0)
    assert report.clean, report
    assert not multiprocessing.active_children()


def test_a_host_killed_mid_write_fails_that_write_and_the_device_reconnects(
    air: VirtualAir,
) -> None:
    rt = _process_runtime(air)
    try:
        hr, dev, _, rec = _streaming(air, rt)
        hr.delay("write", 5.0)  # the write is in flight when the host dies
        failed: list[BaseException] = []

        def write() -> None:
            try:
                dev.write(HEART_RATE_CONTROL_POINT, b"\x01", timeout=15)  # type: ignore[attr-defined]
            except Disconnected as exc:
                failed.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        # Each statistics() call is a round trip to the radio in the host: wait until the
        # write runs there (answered futures, no sleeping).
        deadline = time.perf_counter() + 10
        while dev.statistics().operations_in_flight == 0:  # type: ignore[attr-defined]
            assert time.perf_counter() < deadline, "the write never started"
        rt.crash_host("kill")
        writer.join(15)
        assert not writer.is_alive()
        assert failed and "radio host" in str(failed[0])
        hr.delay("write", 0.0)
        rec.wait_state(S.CONNECTED, count=2, timeout=20)
        dev.write(HEART_RATE_CONTROL_POINT, b"\x01", timeout=10)  # type: ignore[attr-defined]
    finally:
        assert rt.close(timeout=5.0).clean


def test_close_returns_in_bound_with_a_frozen_host_and_leaves_no_process(
    air: VirtualAir,
) -> None:
    rt = _process_runtime(air, hosts=HostPolicy(heartbeat=0.5, hang_timeout=30.0))
    _streaming(air, rt)
    [host] = rt.hosts()
    rt.crash_host("freeze")
    started = time.perf_counter()
    report = rt.close(timeout=1.0)
    assert time.perf_counter() - started < 1.5, report
    assert not multiprocessing.active_children()
    assert host.pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(host.pid, 0)  # killed and reaped: no zombie


def test_recycling_under_a_live_stream_loses_only_what_was_on_the_air(
    air: VirtualAir,
) -> None:
    metrics = InMemoryMetrics()
    hosts = HostPolicy(heartbeat=0.2, hang_timeout=2.0, recycle_after=1.0)
    rt = _process_runtime(air, hosts=hosts, metrics=metrics)
    try:
        hr, dev, stream, rec = _streaming(air, rt, rate_hz=100.0)
        metrics.wait_count("supervisor.host_recycles", 2, timeout=20)
        rec.wait_state(S.CONNECTED, count=3, timeout=20)
        seen = len(stream.seqs)
        stream.wait(seen + 10)
        hr.pause_notifications()
        sent = hr.counters().notifications_while_subscribed
        dev.wait_delivered(timeout=5)  # type: ignore[attr-defined]
        delivered = len(stream.seqs)
        lost = sent - delivered
        recycles = metrics.count("supervisor.host_recycles")
        print(f"recycles={recycles} sent_while_subscribed={sent} delivered={delivered} lost={lost}")
        assert len(set(stream.seqs)) == delivered  # no duplicates
        # What a recycle loses is what was in flight when its links were torn down: at
        # 100 Hz, a few notifications per recycle at most.
        assert 0 <= lost <= 5 * recycles, (lost, recycles)
    finally:
        assert rt.close(timeout=5.0).clean


def test_a_dying_parent_takes_its_hosts_with_it(tmp_path: Path) -> None:
    script = tmp_path / "orphan.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys
            from blerun.actors import Runtime
            from blerun.sim import VirtualAir, heart_rate_monitor

            if __name__ == "__main__":
                air = VirtualAir.start()
                hr = air.add_peripheral(heart_rate_monitor(name="orphan"))
                rt = Runtime(backend=air.client_backend, radio="process").start()
                rt.device(hr.address).connect(timeout=20)
                print(rt.hosts()[0].pid, flush=True)
                os._exit(0)  # no close(): the parent just dies
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[-1])
    try:
        handle = os.pidfd_open(pid)  # the orphan is not our child: wait on a pidfd
    except ProcessLookupError:
        return  # already gone
    try:
        readable, _, _ = select.select([handle], [], [], 10.0)
        assert readable, f"host {pid} outlived its parent"
    finally:
        os.close(handle)
