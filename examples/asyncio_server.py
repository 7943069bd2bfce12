"""An asyncio app whose loop keeps serving while blerun streams on it.

    python examples/asyncio_server.py

A small TCP server answers each client with the latest heart rate; blerun's device runs
on the same event loop (``Runtime(loop=...)``) and never blocks it. The example is its
own client a few times, and measures how late the loop ever woke up meanwhile.
"""

from __future__ import annotations

import asyncio
import time

from blerun.actors import Runtime
from blerun.gatt import HEART_RATE_MEASUREMENT
from blerun.sim import VirtualAir, heart_rate_monitor

ADDRESS = "F3:4A:7B:21:9C:05"
REQUESTS = 5


class Latest:
    """The freshest heart rate: written by the stream, read by the server."""

    def __init__(self) -> None:
        self.bpm: int | None = None
        self.arrived = asyncio.Event()


async def stream(rt: Runtime, address: str, latest: Latest) -> None:
    device = rt.async_device(address)
    await device.connect(timeout=20.0)
    async with device.notifications(HEART_RATE_MEASUREMENT) as notes:
        async for note in notes:  # survives reconnects: the subscription is re-applied
            latest.bpm = note.data[1]
            latest.arrived.set()


async def answer(latest: Latest, writer: asyncio.StreamWriter) -> None:
    writer.write(f"heart rate: {latest.bpm} bpm\n".encode())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def measure_lag(worst: list[float]) -> None:
    """How late a 10 ms timer fires: the loop's responsiveness."""
    while True:
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        worst[0] = max(worst[0], time.perf_counter() - before - 0.01)


async def main(rt: Runtime, address: str) -> None:
    latest = Latest()
    streaming = asyncio.create_task(stream(rt, address, latest))
    worst = [0.0]
    lag = asyncio.create_task(measure_lag(worst))
    server = await asyncio.start_server(lambda _r, w: answer(latest, w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"serving on 127.0.0.1:{port}")
    async with server:
        await asyncio.wait_for(latest.arrived.wait(), 20.0)  # the first measurement
        # A real app serves until stopped; this one is its own client a few times.
        for _ in range(REQUESTS):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            print("client got:", (await reader.readline()).decode().strip())
            writer.close()
            await writer.wait_closed()
            await asyncio.sleep(0.1)
    print(f"the loop never woke more than {worst[0] * 1000:.1f} ms late")
    for task in (streaming, lag):
        task.cancel()
    await asyncio.gather(streaming, lag, return_exceptions=True)


async def emulated() -> None:
    # Real hardware, one line instead of the three below:
    #     async with Runtime(loop=asyncio.get_running_loop()) as rt: await main(rt, ADDRESS)
    async with await VirtualAir.create() as air:
        await air.add_peripheral_async(heart_rate_monitor(address=ADDRESS, rate_hz=20))
        async with Runtime(loop=asyncio.get_running_loop(), backend=air.client_backend) as rt:
            await main(rt, ADDRESS)


if __name__ == "__main__":
    asyncio.run(emulated())
