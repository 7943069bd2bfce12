"""blerun's runtime against plain bleak, over the same virtual air, in one run.

    python bench/bench_runtime.py [--quick] [--capacity 200]

Each figure is measured twice in the same process, on the same emulated peripherals:
once with plain bleak (the baseline, from bench_sim.py) and once through the runtime
(RadioActor, NotificationActor, the loop bridge). The report gives both and their ratio;
absolute numbers move with the machine, the ratios much less.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from blerun.actors import Notification, ReconnectPolicy, Runtime
from blerun.sim import HEART_RATE_MEASUREMENT, VirtualAir, heart_rate_monitor

from bench_sim import (
    _SOURCE,
    _rss_kib,
    _source,
    raw_connect_times,
    raw_notify_rate,
    raw_recovery_times,
)

NO_DELAY = ReconnectPolicy(initial=0.0, cap=0.01, jitter=0.0)


class Counter:
    """A subscriber callback: counts arrivals, lets the bench thread wait for a count."""

    def __init__(self) -> None:
        self.count = 0
        self.last_at = 0.0
        self.cond = threading.Condition()

    def __call__(self, _note: Notification) -> None:
        with self.cond:
            self.count += 1
            self.last_at = time.perf_counter()
            self.cond.notify_all()

    def wait(self, at_least: int, timeout: float = 30.0) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: self.count >= at_least, timeout):
                raise TimeoutError(f"stuck at {self.count} < {at_least}")
            return self.last_at


def _runtime(air: VirtualAir, **options: object) -> Runtime:
    return Runtime(loop=air.loop, backend=air.client_backend, **options).start()  # type: ignore[arg-type]


def runtime_connect_times(air: VirtualAir, n: int = 20, interval: float = 0.02) -> list[float]:
    """Seconds from ``Device.connect()`` to connected, through the actors."""
    hr = air.add_peripheral(heart_rate_monitor(name="rt-connect", advertising_interval=interval))
    rt = _runtime(air)
    try:
        dev = rt.device(hr.address)
        times = []
        for _ in range(n):
            started = time.perf_counter()
            dev.connect(timeout=10)
            times.append(time.perf_counter() - started)
            dev.disconnect(timeout=10)
        return times
    finally:
        rt.close(timeout=5)


def runtime_notify_rate(air: VirtualAir, seconds: float = 2.0, size: int = 20) -> float:
    """Notifications per second of ``size`` bytes into a runtime subscriber's callback."""
    source = air.add_peripheral(_source(f"rt-notify-{size}", size))
    rt = _runtime(air)
    try:
        dev = rt.device(source.address)
        counter = Counter()
        dev.connect(timeout=10)
        dev.subscribe(_SOURCE, counter)
        started = time.perf_counter()
        deadline = started + seconds
        queued = 0
        while time.perf_counter() < deadline:
            # The same refill rule as the raw run: ~2000 queued at the peripheral.
            if queued - counter.count < 2000:
                source.burst(1000)
                queued += 1000
            # Arrivals race this thread (they land on the NotificationActor's): never
            # wait for more than was queued.
            counter.wait(min(queued, (counter.count // 500 + 1) * 500))
        elapsed = time.perf_counter() - started
        return counter.count / elapsed
    finally:
        rt.close(timeout=5)


def runtime_recovery_times(air: VirtualAir, n: int = 20, rate_hz: float = 100.0) -> list[float]:
    """Seconds from a drop to the first notification after the runtime reconnected and
    resubscribed, with the policy's initial delay at zero."""
    hr = air.add_peripheral(heart_rate_monitor(name="rt-recover", rate_hz=rate_hz))
    rt = _runtime(air, policy=NO_DELAY)
    try:
        dev = rt.device(hr.address)
        counter = Counter()
        dev.subscribe(HEART_RATE_MEASUREMENT, counter)
        dev.connect(timeout=10)
        counter.wait(1)
        times = []
        for _ in range(n):
            # Quiet the old link first, so the first arrival after the drop can only have
            # come over the new connection: pause, and take in all it sent.
            hr.pause_notifications()
            counter.wait(hr.counters().notifications_while_subscribed)
            settled = counter.count
            hr.resume_notifications()
            started = time.perf_counter()
            hr.drop_link()
            first = counter.wait(settled + 1)
            times.append(first - started)
        return times
    finally:
        rt.close(timeout=5)


def runtime_rss_per_device(count: int = 100, interval: float = 0.1) -> tuple[float, float]:
    """KiB of RSS per emulated peripheral, and per connected runtime device on top."""
    with VirtualAir.start() as air:
        air.add_peripheral(heart_rate_monitor(name="warm", advertising_interval=interval))
        before = _rss_kib()
        peripherals = [
            air.add_peripheral(heart_rate_monitor(name=f"R-{i}", advertising_interval=interval))
            for i in range(count)
        ]
        with_peripherals = _rss_kib()
        rt = _runtime(air)
        try:
            for peripheral in peripherals:
                rt.device(peripheral.address).connect(timeout=10)
            with_devices = _rss_kib()
        finally:
            rt.close(timeout=10)
    return (with_peripherals - before) / count, (with_devices - with_peripherals) / count


def capacity(count: int, rate_hz: float = 1.0) -> dict[str, float]:
    """Connect ``count`` heart-rate monitors under one runtime; check every stream flows."""
    with VirtualAir.start() as air:
        peripherals = [
            air.add_peripheral(
                heart_rate_monitor(name=f"C-{i}", rate_hz=rate_hz, advertising_interval=0.1)
            )
            for i in range(count)
        ]
        before = _rss_kib()
        threads_before = threading.active_count()
        rt = _runtime(air)
        try:
            counters = []
            started = time.perf_counter()
            for peripheral in peripherals:
                dev = rt.device(peripheral.address)
                counter = Counter()
                dev.subscribe(HEART_RATE_MEASUREMENT, counter)
                dev.connect(timeout=30)
                counters.append(counter)
            connect_all = time.perf_counter() - started
            for counter in counters:
                counter.wait(2, timeout=60)
            return {
                "devices": count,
                "connect_all_s": connect_all,
                "rss_mib": (_rss_kib() - before) / 1024,
                "threads": threading.active_count() - threads_before,
            }
        finally:
            rt.close(timeout=10)


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


def _p95_ms(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1e3


def _row(name: str, raw: float, runtime: float, unit: str) -> str:
    return f"| {name} | {raw:,.2f} {unit} | {runtime:,.2f} {unit} | {runtime / raw:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--capacity", type=int, default=100, help="devices for the capacity run")
    args = parser.parse_args()
    seconds = 0.5 if args.quick else 2.0
    n = 10 if args.quick else 30

    rows = ["| figure | plain bleak | through blerun | ratio |", "|---|---|---|---|"]
    with VirtualAir.start() as air:
        raw_c, rt_c = raw_connect_times(air, n), runtime_connect_times(air, n)
        rows.append(_row("connect, median", _median_ms(raw_c), _median_ms(rt_c), "ms"))
        for size in (20, 200):
            raw_r = statistics.median(raw_notify_rate(air, seconds, size) for _ in range(3))
            rt_r = statistics.median(runtime_notify_rate(air, seconds, size) for _ in range(3))
            rows.append(_row(f"notifications/s, {size} B", raw_r, rt_r, "/s"))
        raw_rec, rt_rec = raw_recovery_times(air, n), runtime_recovery_times(air, n)
        rows.append(
            _row(
                "drop -> first notification, median", _median_ms(raw_rec), _median_ms(rt_rec), "ms"
            )
        )
        rows.append(
            _row("drop -> first notification, p95", _p95_ms(raw_rec), _p95_ms(rt_rec), "ms")
        )
    per_peripheral, per_device = runtime_rss_per_device(20 if args.quick else 100)
    print("\n".join(rows))
    print()
    print(
        f"RSS per emulated peripheral: {per_peripheral:.0f} KiB; "
        f"per connected runtime device on top: {per_device:.0f} KiB"
    )
    cap = capacity(20 if args.quick else args.capacity)
    print(
        f"capacity: {cap['devices']:.0f} devices connected and streaming under one runtime; "
        f"connect all one by one {cap['connect_all_s']:.1f} s, +{cap['rss_mib']:.1f} MiB RSS, "
        f"+{cap['threads']:.0f} threads"
    )


if __name__ == "__main__":
    main()
