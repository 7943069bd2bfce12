"""Notifications: heart-rate streams, bursts, pause, forced sends, counters."""

from __future__ import annotations

import asyncio

from bleak import BleakClient

from blerun.sim import (
    BODY_SENSOR_LOCATION,
    HEART_RATE_MEASUREMENT,
    VirtualAir,
    heart_rate_monitor,
    parse_heart_rate_measurement,
)

from simkit import Collector, arun


def test_heart_rate_stream_is_contiguous_and_matches_counters() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor(rate_hz=500.0, bpm=61))
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                values = Collector()
                await client.start_notify(HEART_RATE_MEASUREMENT, values)
                await values.wait_for(40)
                await client.stop_notify(HEART_RATE_MEASUREMENT)
                counters = hr.counters()
                assert counters.active_subscriptions == 0
            assert parse_heart_rate_measurement(values.values[0]) == (61, 0)
            assert values.sequences() == list(range(len(values.values)))
            assert counters.notifications_while_subscribed == len(values.values)
            assert counters.notifications_sent == len(values.values)

    arun(main())


def test_stream_continues_its_sequence_on_the_next_link() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor(rate_hz=500.0))
            values = Collector()
            for round_ in (1, 2):
                async with BleakClient(hr.address, backend=air.client_backend) as client:
                    await client.start_notify(HEART_RATE_MEASUREMENT, values)
                    await values.wait_for(10 * round_)
                    await client.stop_notify(HEART_RATE_MEASUREMENT)
            assert values.sequences() == list(range(len(values.values)))

    arun(main())


def test_burst_pause_and_resume() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            # A slow stream: its first value comes on subscribing, the next in 2 s.
            hr = await air.add_peripheral_async(heart_rate_monitor(rate_hz=0.5))
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                values = Collector()
                await client.start_notify(HEART_RATE_MEASUREMENT, values)
                await values.wait_for(1)
                assert hr.burst(300) == 1
                await values.wait_for(301)
                assert values.sequences() == list(range(301))

                hr.pause_notifications()
                hr.burst(5)
                hr.notify(HEART_RATE_MEASUREMENT, b"\x08\x48\x00\x00")
                assert hr.counters().notifications_sent == 301  # held back
                hr.resume_notifications()
                await values.wait_for(307)
                assert values.sequences()[301:] == [301, 302, 303, 304, 305, 0]

    arun(main())


def test_forced_notification_without_subscription() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor(rate_hz=0.5))
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                values = Collector()
                assert hr.notify(HEART_RATE_MEASUREMENT, b"\x08\x48\x00\x00") == 0
                assert hr.notify(HEART_RATE_MEASUREMENT, b"\x08\x48\x00\x00", force=True) == 1
                # A read round trip: the forced notification, sent before the read's
                # response on the same link, has arrived when the read returns.
                await client.read_gatt_char(BODY_SENSOR_LOCATION)
                counters = hr.counters()
                assert counters.notifications_sent == 1
                assert counters.notifications_while_subscribed == 0
                # bleak dropped it (no subscription); the stream is fine afterwards:
                # its first value on subscribing, then the burst's.
                await client.start_notify(HEART_RATE_MEASUREMENT, values)
                hr.burst(1)
                await values.wait_for(2)
                assert values.sequences() == [0, 1]

    arun(main())


def test_stop_notify_delivers_what_was_sent_before_the_peripheral_unsubscribed() -> None:
    # The flake `assert 41 == 40` (test_sim_notify) and `13 == 12` (test_sim_scale): a
    # notification the peripheral sent (and counted) while the CCCD write was on its way
    # must still reach the callback, as on every bleak platform backend, which forgets the
    # callback only once the write is acknowledged.
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor(rate_hz=0.5))
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                values = Collector()
                await client.start_notify(HEART_RATE_MEASUREMENT, values)
                await values.wait_for(1)
                hr.pause_notifications()
                hr.burst(5)
                # The unsubscribe reaches the peripheral's application only after the
                # burst went out on the same link.
                hr.delay("subscribe", 0.05)
                stopping = asyncio.ensure_future(client.stop_notify(HEART_RATE_MEASUREMENT))
                # Runs after the stop_notify task's first step (call_soon is FIFO): the
                # CCCD write is on its way when the held-back burst goes out.
                asyncio.get_running_loop().call_soon(hr.resume_notifications)
                await stopping
                counters = hr.counters()
            assert counters.notifications_while_subscribed == 6
            assert values.sequences() == list(range(6))

    arun(main())
