"""What the process boundary costs: ``python tests/sim/measure_remote.py`` (about 20 s).

Connect latency and notifications/s through bleak, in the air's own process and in a
spawned child that reaches the air through its socket (docs/sim.md quotes the figures).
Not a test: numbers on a shared machine vary; run it on a quiet one.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bleak import BleakClient

from blerun.sim import HEART_RATE_MEASUREMENT, VirtualAir, heart_rate_monitor

CONNECTS = 30
BURST = 20_000
_BOUND = 120.0


async def _connect_times(client_backend: type[Any], address: str) -> list[float]:
    times = []
    client = BleakClient(address, backend=client_backend)
    for _ in range(CONNECTS):
        started = time.perf_counter()
        await client.connect()
        times.append(time.perf_counter() - started)
        await client.disconnect()
    return times


async def _receive(client: BleakClient, count: int) -> float:
    done = asyncio.get_running_loop().create_future()
    seen = 0
    started = 0.0

    def on_value(_char: object, _data: bytearray) -> None:
        nonlocal seen, started
        seen += 1
        if seen == 2:  # the first value comes on subscribing; the burst's first is next
            started = time.perf_counter()
        if seen == count and not done.done():
            done.set_result(time.perf_counter() - started)

    await client.start_notify(HEART_RATE_MEASUREMENT, on_value)
    return float(await done)


def _child(client_backend: type[Any], address: str, pipe: Connection) -> None:
    async def main() -> None:
        pipe.send(await _connect_times(client_backend, address))
        async with BleakClient(address, backend=client_backend) as client:
            receiving = asyncio.ensure_future(_receive(client, BURST + 1))
            pipe.send("subscribed")
            pipe.send(await receiving)

    with asyncio.Runner() as runner:
        runner.run(main())


def _summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(ordered) * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms"


def main() -> None:
    with VirtualAir.start() as air:
        hr = air.add_peripheral(heart_rate_monitor(rate_hz=0.5, advertising_interval=0.02))

        local = air.run(_connect_times(air.client_backend, hr.address), timeout=_BOUND)

        async def local_rate() -> float:
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                receiving = asyncio.ensure_future(_receive(client, BURST + 1))
                await hr.wait_until_async(lambda c: c.active_subscriptions == 1)
                hr.burst(BURST)
                return await receiving

        local_seconds = air.run(local_rate(), timeout=_BOUND)

        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        child = context.Process(target=_child, args=(air.client_backend, hr.address, theirs))
        child.start()
        remote = ours.recv()
        assert ours.recv() == "subscribed"
        hr.wait_until(lambda c: c.active_subscriptions == 1, timeout=_BOUND)
        hr.burst(BURST)
        remote_seconds = ours.recv()
        child.join(_BOUND)

    print("connect (20 ms advertising, MTU exchange + discovery included):")
    print(f"  in the air's process: {_summary(local)}")
    print(f"  spawned child, socket: {_summary(remote)}")
    print(f"notifications/s into a bleak callback, 20 B, burst of {BURST}:")
    print(f"  in the air's process: {(BURST - 1) / local_seconds:,.0f}")
    print(f"  spawned child, socket: {(BURST - 1) / remote_seconds:,.0f}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
