"""Figures of the radio host process (``Runtime(radio="process")``) and the latency of the
notification path over the sim in either mode.

* ``sim_latency_p99``: a paced, time-stamped stream over the emulator, into a plain bleak
  callback and through blerun (in-process or process mode), same air, same run.
* ``host_freeze_recovery``: a host frozen (SIGSTOP) under a live stream: seconds until
  the first notification arrives through its successor, against the hang timeout that
  bounds the detection.
* ``host_rss``: resident memory of one host, with 1 and with 10 devices.
* ``close_host_frozen``: ``close(1.0)`` with the host frozen, trials in a row; no host
  process may outlive a close.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic

from bench.common import (
    PAYLOAD_SIZE,
    Figure,
    Sink,
    close_cleanly,
    distribution,
    median,
    new_runtime,
    percentile,
    stamp,
)
from bench.oversim import SOURCE, source_spec
from blerun.actors import HostPolicy, ReconnectPolicy, Runtime
from blerun.sim import (
    HEART_RATE_MEASUREMENT,
    Peripheral,
    PeripheralSpec,
    VirtualAir,
    heart_rate_monitor,
)

_RATE_HZ = 1000.0
_BOUND = 1.0
# Fast detection for the freeze figures: a heartbeat every 0.25 s, wedged after 1 s.
_FAST_HOSTS = HostPolicy(heartbeat=0.25, hang_timeout=1.0, shutdown_timeout=0.2)


def _stamped_source(name: str) -> PeripheralSpec:
    """A peripheral notifying ``_RATE_HZ`` times a second, each value time-stamped."""
    return source_spec(name, value=lambda n: bytes(stamp(n)), rate_hz=_RATE_HZ)


def _raw_latencies(air: VirtualAir, name: str, count: int, warm_up: int) -> list[float]:
    source = air.add_peripheral(_stamped_source(name))
    sink = Sink(stamped=True, record_from=warm_up)
    client = BleakClient(source.address, backend=air.client_backend)

    def on_value(_char: BleakGATTCharacteristic, data: bytearray) -> None:
        sink(data)

    async def open_client() -> None:
        await client.connect()
        await client.start_notify(SOURCE, on_value)

    asyncio.run_coroutine_threadsafe(open_client(), air.loop).result(30)
    try:
        if not sink.wait_for(warm_up + count, 60):
            raise TimeoutError("raw bleak: the stamped stream stalled")
        return list(sink.latencies[:count])
    finally:
        asyncio.run_coroutine_threadsafe(client.disconnect(), air.loop).result(30)


def _blerun_latencies(
    radio: str, air: VirtualAir, name: str, count: int, warm_up: int
) -> list[float]:
    source = air.add_peripheral(_stamped_source(name))
    sink = Sink(stamped=True, record_from=warm_up)
    rt = new_runtime(radio, loop=air.loop, backend=air.client_backend).start()
    try:
        dev = rt.device(source.address)
        dev.subscribe(SOURCE, lambda note: sink(note.data))
        dev.connect(timeout=30)
        if not sink.wait_for(warm_up + count, 60):
            raise TimeoutError("blerun: the stamped stream stalled")
        return list(sink.latencies[:count])
    finally:
        close_cleanly(rt)


def sim_latency(radio: str, quick: bool) -> Figure:
    count, warm_up = (500, 200) if quick else (3000, 500)
    repetitions = 1 if quick else 3
    raw: list[list[float]] = []
    through: list[list[float]] = []
    air = VirtualAir.start()
    try:
        for repetition in range(repetitions):
            order = ("raw", "blerun") if repetition % 2 else ("blerun", "raw")
            for kind in order:
                name = f"stamped-{kind}-{repetition}"
                if kind == "raw":
                    raw.append(_raw_latencies(air, name, count, warm_up))
                else:
                    through.append(_blerun_latencies(radio, air, name, count, warm_up))
    finally:
        air.close()
    raw_p99 = median([percentile(r, 0.99) * 1e6 for r in raw])
    p99 = median([percentile(t, 0.99) * 1e6 for t in through])
    p50 = median([percentile(t, 0.5) * 1e6 for t in through])
    added = median(
        [
            (percentile(t, 0.99) - percentile(r, 0.99)) * 1e6
            for t, r in zip(through, raw, strict=True)
        ]
    )
    pooled_raw = [x * 1e6 for r in raw for x in r]
    pooled = [x * 1e6 for t in through for x in t]
    return Figure(
        name="sim_latency_p99",
        title=f"sim: latency p99, bleak callback to user function, {_RATE_HZ:,.0f}/s",
        unit="us",
        blerun=p99,
        baselines={"raw bleak callback": raw_p99},
        ratio=p99 / raw_p99 if raw_p99 else None,
        ratio_to="raw bleak callback",
        goal="report (process vs in-process)",
        met=True,
        radio=radio,
        note=f"p50 {p50:.0f} us; added p99 {added:+.0f} us",
        details={
            "rate_hz": _RATE_HZ,
            "payload_bytes": PAYLOAD_SIZE,
            "added_p99_us": added,
            "p50_us": p50,
            "raw_p50_us": median([percentile(r, 0.5) * 1e6 for r in raw]),
            "cdf_us": {"blerun": distribution(pooled), "raw bleak": distribution(pooled_raw)},
        },
    )


# --- process mode only ------------------------------------------------------------------


def _streaming_runtime(air: VirtualAir, peripheral: Peripheral, sink: Sink) -> Runtime:
    # Reconnecting at once (as the drop -> first notification figure does), so the figure
    # is detection + a host start + a connect, not the policy's backoff.
    rt = new_runtime(
        "process",
        loop=air.loop,
        backend=air.client_backend,
        hosts=_FAST_HOSTS,
        policy=ReconnectPolicy(initial=0.0, cap=0.01, jitter=0.0),
        # Freezes one after the other would otherwise pass the restart intensity (5 in
        # 60 s) and the supervisor would rightly give the host's devices up.
        restart_intensity=100,
    )
    rt.start()
    dev = rt.device(peripheral.address)
    dev.subscribe(HEART_RATE_MEASUREMENT, lambda note: sink(note.data))
    dev.connect(timeout=30)
    if not sink.wait_for(sink.count + 5, 30):
        raise TimeoutError("no stream through the radio host")
    return rt


def freeze_recovery(radio: str, quick: bool) -> Figure:
    if radio != "process":
        raise ValueError("host_freeze_recovery needs the radio in a host process")
    trials = 2 if quick else 6
    seconds: list[float] = []
    air = VirtualAir.start()
    try:
        peripheral = air.add_peripheral(heart_rate_monitor(name="frozen-host", rate_hz=200))
        sink = Sink(keep_times=True)
        rt = _streaming_runtime(air, peripheral, sink)
        try:
            for _ in range(trials):
                before = sink.count
                frozen = time.perf_counter()
                rt.crash_host("freeze")
                # The frozen host sends nothing: the first arrival after this point that
                # is not already on its way comes through its successor.
                if not sink.wait_for(before + 1, 30):
                    raise TimeoutError("no notification from the new host within 30 s")
                # Anything that was in flight at the freeze would arrive at once; the
                # successor's first one comes after the hang timeout.
                assert sink.times is not None
                arrivals = [t for t in sink.times[before:] if t - frozen > 0.1]
                while not arrivals:
                    if not sink.wait_for(sink.count + 1, 30):
                        raise TimeoutError("the new host's stream stalled")
                    arrivals = [t for t in sink.times[before:] if t - frozen > 0.1]
                seconds.append(arrivals[0] - frozen)
                sink.wait_for(sink.count + 20, 30)  # streaming again before the next trial
        finally:
            close_cleanly(rt)
    finally:
        air.close()
    hang = _FAST_HOSTS.hang_timeout
    return Figure(
        name="host_freeze_recovery",
        title="host frozen (SIGSTOP) -> first notification through the new host, median",
        unit="s",
        blerun=median(seconds),
        baselines={"hang_timeout": hang},
        ratio=median(seconds) / hang,
        ratio_to="hang_timeout",
        goal="hang_timeout + a host start + a connect",
        met=True,
        radio=radio,
        note=f"worst {max(seconds):.2f} s over {trials} freezes; heartbeat "
        f"{_FAST_HOSTS.heartbeat:g} s",
        details={"seconds": seconds, "policy": str(_FAST_HOSTS)},
    )


def host_rss(radio: str, quick: bool) -> Figure:
    if radio != "process":
        raise ValueError("host_rss needs the radio in a host process")
    sizes = (1, 3) if quick else (1, 10)
    rss: dict[int, float] = {}
    air = VirtualAir.start()
    try:
        for n in sizes:
            peripherals = [
                air.add_peripheral(heart_rate_monitor(name=f"rss-{n}-{i}", rate_hz=10))
                for i in range(n)
            ]
            rt = new_runtime("process", loop=air.loop, backend=air.client_backend).start()
            try:
                devices = [rt.device(p.address) for p in peripherals]
                for dev in devices:
                    dev.subscribe(HEART_RATE_MEASUREMENT, lambda _note: None)
                    dev.connect(timeout=30)
                rss[n] = _settled_host_rss(rt) / 1024 / 1024
            finally:
                close_cleanly(rt)
            for p in peripherals:
                p.stop_advertising()
    finally:
        air.close()
    small, large = sizes
    per_device = (rss[large] - rss[small]) / (large - small)
    return Figure(
        name="host_rss",
        title=f"RSS of one radio host, {small} device / {large} devices",
        unit="MiB",
        blerun=rss[small],
        baselines={f"{large} devices": rss[large]},
        ratio=None,
        ratio_to=f"{large} devices",
        goal="report",
        met=True,
        radio=radio,
        note=f"{rss[large]:.1f} MiB with {large}; {per_device * 1024:.0f} KiB per more device",
        details={"rss_mib": rss, "per_device_kib": per_device * 1024},
    )


def _settled_host_rss(rt: Runtime) -> float:
    """The host's RSS (bytes) once two heartbeats have reported it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        hosts = rt.hosts()
        if hosts and hosts[0].rss > 0:
            first = hosts[0].rss
            time.sleep(1.2)  # the next heartbeats report it again
            return max(first, rt.hosts()[0].rss)
        time.sleep(0.1)
    raise TimeoutError("no heartbeat reported the host's RSS")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers signal 0: read its state.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"
    return False


def close_frozen(radio: str, quick: bool) -> Figure:
    if radio != "process":
        raise ValueError("close_host_frozen needs the radio in a host process")
    trials = 11 if quick else 110  # 10 or 100 frozen, 1 or 10 healthy
    times: list[float] = []
    healthy: list[float] = []
    left = unclean = 0
    air = VirtualAir.start()
    try:
        peripheral = air.add_peripheral(heart_rate_monitor(name="close-frozen", rate_hz=50))
        for trial in range(trials):
            frozen = trial % 11 != 10  # every eleventh close a healthy host, the baseline
            rt = _streaming_runtime(air, peripheral, Sink())
            pid = rt.crash_host("freeze") if frozen else rt.hosts()[0].pid
            started = time.perf_counter()
            report = rt.close(timeout=_BOUND)
            (times if frozen else healthy).append(time.perf_counter() - started)
            unclean += not report.clean
            left += pid is not None and _alive(pid)
    finally:
        air.close()
    within = sum(t <= _BOUND * 1.1 for t in times) / len(times)
    return Figure(
        name="close_host_frozen",
        title=f"close({_BOUND:g}) with the radio host frozen, {len(times)} trials",
        unit="% within bound + 10%",
        blerun=100 * within,
        baselines={"healthy host": 100 * sum(t <= _BOUND * 1.1 for t in healthy) / len(healthy)},
        ratio=None,
        ratio_to="healthy host",
        goal="100% <= 1.1 s, no host left",
        met=within == 1.0 and left == 0,
        radio=radio,
        note=f"worst {max(times):.2f} s, p99 {percentile(times, 0.99):.2f} s, "
        f"median {median(times):.2f} s (healthy {median(healthy):.2f} s); hosts left: {left}; "
        f"reports not clean: {unclean}",
        details={
            "seconds": times,
            "healthy_seconds": healthy,
            "hosts_left": left,
            "reports_not_clean": unclean,
        },
    )
