"""Figures for blerun.sim over plain bleak: ``python bench/bench_sim.py [--quick]``.

Every measurement is a function of a sync-world air (``VirtualAir.start()``) that
returns a number, so another column (the same figure through blerun's runtime) can be
added beside the raw-bleak one:

    raw_connect_times(air, n)            -> list[float]   seconds per connect
    raw_notify_rate(air, seconds, size)  -> float         notifications/s into a callback
    raw_write_rate(air, seconds, response) -> float       writes/s
    raw_drop_latencies(air, n)           -> list[float]   drop -> disconnected_callback, s
    raw_recovery_times(air, n)           -> list[float]   drop -> first notification after
                                                          reconnect + resubscribe, s
    rss_per_peripheral(count)            -> float         KiB of RSS per peripheral

Each function adds the peripherals it needs to the air it is given.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic

from blerun.sim import (
    HEART_RATE_MEASUREMENT,
    NUS_RX,
    CharacteristicSpec,
    PeripheralSpec,
    Property,
    ServiceSpec,
    VirtualAir,
    heart_rate_monitor,
    uart_device,
)

T = TypeVar("T")
_BOUND = 120.0
_SOURCE = "bec0"  # a notify-only characteristic the throughput runs use


def _on(air: VirtualAir, coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(coro, air.loop).result(_BOUND)


def _source(name: str, size: int) -> PeripheralSpec:
    payload = bytes(size)
    return PeripheralSpec(
        name=name,
        mtu=max(23, size + 3),
        services=(
            ServiceSpec(
                uuid="beef",
                characteristics=(
                    CharacteristicSpec(
                        uuid=_SOURCE, properties=Property.NOTIFY, notify_value=lambda _n: payload
                    ),
                ),
            ),
        ),
    )


# -- raw bleak measurements --------------------------------------------------------


def raw_connect_times(
    air: VirtualAir, n: int = 20, interval: float = 0.02, *, random_phase: bool = True
) -> list[float]:
    """Seconds from ``connect()`` to connected (MTU exchange and discovery included).

    A connect completes at the peripheral's next advertisement. With ``random_phase``
    each connect starts at a random point of the advertising interval, as a first
    connect does; without it, it starts right after the previous disconnect, when
    the peripheral has just restarted advertising (a reconnect).
    """
    hr = air.add_peripheral(heart_rate_monitor(name="bench-connect", advertising_interval=interval))
    rng = random.Random(7)

    async def run() -> list[float]:
        client = BleakClient(hr.address, backend=air.client_backend)
        times = []
        for _ in range(n):
            if random_phase:
                await asyncio.sleep(rng.uniform(0, interval))  # the phase, not a wait
            started = time.perf_counter()
            await client.connect()
            times.append(time.perf_counter() - started)
            await client.disconnect()
        return times

    return _on(air, run())


def raw_notify_rate(air: VirtualAir, seconds: float = 2.0, size: int = 20) -> float:
    """Notifications per second of ``size`` bytes into a plain bleak callback."""
    source = air.add_peripheral(_source(f"bench-notify-{size}", size))

    async def run() -> float:
        loop = asyncio.get_running_loop()
        received = 0
        refill = loop.create_future()

        def on_value(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            nonlocal received
            received += 1
            if received % 500 == 0 and not refill.done():
                refill.set_result(None)

        async with BleakClient(source.address, backend=air.client_backend) as client:
            await client.start_notify(_SOURCE, on_value)
            started = time.perf_counter()
            deadline = started + seconds
            queued = 0
            while time.perf_counter() < deadline:
                # Keep about 2000 queued at the peripheral: its transmitter, not this
                # loop, paces the stream.
                if queued - received < 2000:
                    source.burst(1000)
                    queued += 1000
                await refill
                refill = loop.create_future()
            elapsed = time.perf_counter() - started
            count = received
            await client.stop_notify(_SOURCE)
        return count / elapsed

    return _on(air, run())


def raw_write_rate(air: VirtualAir, seconds: float = 1.0, response: bool = True) -> float:
    """Writes per second of 20 bytes to a UART device (echo off)."""
    uart = air.add_peripheral(uart_device(name=f"bench-write-{response}", echo=False))

    async def run() -> float:
        async with BleakClient(uart.address, backend=air.client_backend) as client:
            count = 0
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                for _ in range(100):
                    await client.write_gatt_char(NUS_RX, bytes(20), response=response)
                count += 100
            elapsed = time.perf_counter() - started
        return count / elapsed

    return _on(air, run())


def raw_drop_latencies(air: VirtualAir, n: int = 50) -> list[float]:
    """Seconds from ``drop_link()`` to bleak's ``disconnected_callback``."""
    hr = air.add_peripheral(heart_rate_monitor(name="bench-drop"))

    async def run() -> list[float]:
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[float] = loop.create_future()

        def on_lost(_client: BleakClient) -> None:
            if not lost.done():
                lost.set_result(time.perf_counter())

        client = BleakClient(hr.address, on_lost, backend=air.client_backend)
        latencies = []
        for _ in range(n):
            await client.connect()
            lost = loop.create_future()
            started = time.perf_counter()
            hr.drop_link()
            latencies.append(await lost - started)
        return latencies

    return _on(air, run())


def raw_recovery_times(air: VirtualAir, n: int = 20, rate_hz: float = 100.0) -> list[float]:
    """Seconds from a drop to the first notification after reconnect and resubscribe.

    Zero initial delay: the callback itself starts the reconnect.
    """
    hr = air.add_peripheral(heart_rate_monitor(name="bench-recover", rate_hz=rate_hz))

    async def run() -> list[float]:
        loop = asyncio.get_running_loop()
        first: asyncio.Future[float] = loop.create_future()
        lost = asyncio.Event()

        def on_value(_char: BleakGATTCharacteristic, _data: bytearray) -> None:
            if not first.done():
                first.set_result(time.perf_counter())

        client = BleakClient(hr.address, lambda _c: lost.set(), backend=air.client_backend)
        await client.connect()
        await client.start_notify(HEART_RATE_MEASUREMENT, on_value)
        await first
        times = []
        for _ in range(n):
            first = loop.create_future()
            lost.clear()
            started = time.perf_counter()
            hr.drop_link()
            await lost.wait()
            await client.connect()
            await client.start_notify(HEART_RATE_MEASUREMENT, on_value)
            times.append(await first - started)
        await client.disconnect()
        return times

    return _on(air, run())


def _rss_kib() -> float:
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1024
    except OSError:
        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


def rss_per_peripheral(count: int = 100, interval: float = 0.1) -> float:
    """KiB of resident memory each added heart-rate monitor costs (fresh air)."""
    with VirtualAir.start() as air:
        air.add_peripheral(heart_rate_monitor(name="warm-up", advertising_interval=interval))
        before = _rss_kib()
        for i in range(count):
            air.add_peripheral(heart_rate_monitor(name=f"M-{i}", advertising_interval=interval))
        return (_rss_kib() - before) / count


# -- report ------------------------------------------------------------------------


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(values) * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()
    seconds = 0.5 if args.quick else 2.0
    n = 10 if args.quick else 50

    rows: list[tuple[str, str]] = []
    with VirtualAir.start() as air:
        rows.append(("connect, 20 ms adv, random phase", _ms(raw_connect_times(air, n, 0.02))))
        rows.append(("connect, 100 ms adv, random phase", _ms(raw_connect_times(air, n, 0.1))))
        reconnects = raw_connect_times(air, n, 0.1, random_phase=False)
        rows.append(("reconnect right after disconnect", _ms(reconnects)))
        for size in (20, 100, 244):
            rate = raw_notify_rate(air, seconds, size)
            rows.append((f"notifications/s into a bleak callback, {size} B", f"{rate:,.0f}"))
        with_response = raw_write_rate(air, seconds / 2)
        rows.append(("writes/s with response, 20 B", f"{with_response:,.0f}"))
        without_response = raw_write_rate(air, seconds / 2, response=False)
        rows.append(("writes/s without response, 20 B", f"{without_response:,.0f}"))
        rows.append(("drop -> disconnected_callback", _ms(raw_drop_latencies(air, n))))
        recovery = raw_recovery_times(air, n // 2)
        rows.append(("drop -> first notification (reconnect, resubscribe)", _ms(recovery)))
        quiet_rate = raw_notify_rate(air, seconds, 20)
    with VirtualAir.start(quiet=False) as stock:
        stock_rate = raw_notify_rate(stock, seconds, 20)
    rows.append(
        (
            "quiet HCI paths vs Bumble's stock ones, 20 B",
            f"{quiet_rate:,.0f} vs {stock_rate:,.0f}/s = x{quiet_rate / stock_rate:.1f}",
        )
    )
    count = 20 if args.quick else 100
    per_peripheral = rss_per_peripheral(count)
    rows.append((f"RSS per peripheral ({count} at 100 ms adv)", f"{per_peripheral:.0f} KiB"))

    width = max(len(name) for name, _ in rows)
    print(f"{'measure (raw bleak over blerun.sim)':<{width}}  figure")
    print(f"{'-' * width}  {'-' * 40}")
    for name, figure in rows:
        print(f"{name:<{width}}  {figure}")


if __name__ == "__main__":
    main()
