"""Twenty peripherals under one air, each streaming and each losing its link."""

from __future__ import annotations

import asyncio

from bleak import BleakClient

from blerun.sim import HEART_RATE_MEASUREMENT, VirtualAir, heart_rate_monitor

from simkit import Collector, Disconnects, arun

COUNT = 20


def test_twenty_peripherals_stream_through_drops() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            monitors = [
                await air.add_peripheral_async(
                    heart_rate_monitor(name=f"HR-{i}", rate_hz=100.0, advertising_interval=0.05)
                )
                for i in range(COUNT)
            ]

            async def session(index: int) -> tuple[Collector, int]:
                hr = monitors[index]
                values = Collector()
                lost = Disconnects()
                client = BleakClient(hr.address, lost, backend=air.client_backend)
                drops = 1 + index % 3
                for _ in range(drops):
                    await client.connect()
                    await client.start_notify(HEART_RATE_MEASUREMENT, values)
                    await values.wait_for(len(values.values) + 5)
                    hr.drop_link()
                    await lost.wait(lost.count + 1)
                await client.connect()
                await client.start_notify(HEART_RATE_MEASUREMENT, values)
                await values.wait_for(len(values.values) + 5)
                await client.stop_notify(HEART_RATE_MEASUREMENT)
                await client.disconnect()
                return values, drops

            results = await asyncio.gather(*(session(i) for i in range(COUNT)))
            for hr, (values, drops) in zip(monitors, results, strict=True):
                counters = await hr.wait_until_async(lambda c: c.disconnects == c.connects)
                assert counters.drops_injected == drops
                assert counters.connects == drops + 1
                # Every notification sent while subscribed arrived, in order, once.
                assert counters.notifications_while_subscribed == len(values.values)
                assert values.sequences() == list(range(len(values.values)))

    arun(main(), timeout=40.0)
