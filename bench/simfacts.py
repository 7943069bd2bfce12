"""Plain bleak over blerun.sim: the emulated radio's own figures (docs/sim.md).

    python -m bench.simfacts [--quick]

Not part of the performance table (``python -m bench``): these describe the sim, which
every blerun figure over the sim sits on, with no runtime involved.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Sequence

from bleak import BleakClient

from bench.common import median, percentile, rss_kib
from bench.oversim import raw_notify_rate
from blerun.sim import NUS_RX, VirtualAir, heart_rate_monitor, uart_device

_BOUND = 120.0


def connect_times(
    air: VirtualAir, n: int, interval: float, *, random_phase: bool = True
) -> list[float]:
    """Seconds from ``connect()`` to connected (MTU exchange and discovery included).

    A connect completes at the peripheral's next advertisement. With ``random_phase``
    each connect starts at a random point of the advertising interval, as a first
    connect does; without it, right after the previous disconnect, when the peripheral
    has just restarted advertising (a reconnect).
    """
    hr = air.add_peripheral(
        heart_rate_monitor(name=f"connect-{interval}-{random_phase}", advertising_interval=interval)
    )
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

    return asyncio.run_coroutine_threadsafe(run(), air.loop).result(_BOUND)


def write_rate(air: VirtualAir, seconds: float, *, response: bool) -> float:
    """Writes per second of 20 bytes to a UART device (echo off)."""
    uart = air.add_peripheral(uart_device(name=f"write-{response}", echo=False))

    async def run() -> float:
        async with BleakClient(uart.address, backend=air.client_backend) as client:
            count = 0
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                for _ in range(100):
                    await client.write_gatt_char(NUS_RX, bytes(20), response=response)
                count += 100
            return count / (time.perf_counter() - started)

    return asyncio.run_coroutine_threadsafe(run(), air.loop).result(_BOUND)


def drop_latencies(air: VirtualAir, n: int) -> list[float]:
    """Seconds from ``drop_link()`` to bleak's ``disconnected_callback``."""
    hr = air.add_peripheral(heart_rate_monitor(name="drop"))

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

    return asyncio.run_coroutine_threadsafe(run(), air.loop).result(_BOUND)


def rss_per_peripheral(count: int, interval: float = 0.1) -> float:
    """KiB of resident memory each added heart-rate monitor costs (fresh air)."""
    with VirtualAir.start() as air:
        air.add_peripheral(heart_rate_monitor(name="warm-up", advertising_interval=interval))
        before = rss_kib()
        for i in range(count):
            air.add_peripheral(heart_rate_monitor(name=f"M-{i}", advertising_interval=interval))
        return (rss_kib() - before) / count


def _ms(values: Sequence[float]) -> str:
    return f"median {median(values) * 1e3:.2f} ms, p95 {percentile(values, 0.95) * 1e3:.2f} ms"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.simfacts", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args(argv)
    seconds = 0.5 if args.quick else 2.0
    n = 10 if args.quick else 50

    rows: list[tuple[str, str]] = []
    with VirtualAir.start() as air:
        rows.append(("connect, 20 ms adv, random phase", _ms(connect_times(air, n, 0.02))))
        rows.append(("connect, 100 ms adv, random phase", _ms(connect_times(air, n, 0.1))))
        reconnects = connect_times(air, n, 0.1, random_phase=False)
        rows.append(("reconnect right after disconnect", _ms(reconnects)))
        for size in (20, 100, 244):
            rate, _lost = raw_notify_rate(air, f"notify-{size}", seconds, size)
            rows.append((f"notifications/s into a bleak callback, {size} B", f"{rate:,.0f}"))
        with_response = write_rate(air, seconds / 2, response=True)
        rows.append(("writes/s with response, 20 B", f"{with_response:,.0f}"))
        without_response = write_rate(air, seconds / 2, response=False)
        rows.append(("writes/s without response, 20 B", f"{without_response:,.0f}"))
        rows.append(("drop -> disconnected_callback", _ms(drop_latencies(air, n))))
        quiet_rate, _lost = raw_notify_rate(air, "notify-quiet", seconds)
    with VirtualAir.start(quiet=False) as stock:
        stock_rate, _lost = raw_notify_rate(stock, "notify-stock", seconds)
    rows.append(
        (
            "quiet HCI paths vs Bumble's stock ones, 20 B",
            f"{quiet_rate:,.0f} vs {stock_rate:,.0f}/s = x{quiet_rate / stock_rate:.1f}",
        )
    )
    count = 20 if args.quick else 100
    rows.append(
        (f"RSS per peripheral ({count} at 100 ms adv)", f"{rss_per_peripheral(count):.0f} KiB")
    )

    width = max(len(name) for name, _ in rows)
    print(f"{'measure (raw bleak over blerun.sim)':<{width}}  figure")
    print(f"{'-' * width}  {'-' * 40}")
    for name, figure in rows:
        print(f"{name:<{width}}  {figure}")


if __name__ == "__main__":
    main()
