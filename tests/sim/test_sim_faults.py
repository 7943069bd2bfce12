"""Fault controls, seen through bleak: refusals, stalls, errors, delays, drops."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError

from blerun.sim import (
    BODY_SENSOR_LOCATION,
    HEART_RATE_CONTROL_POINT,
    HEART_RATE_MEASUREMENT,
    VirtualAir,
    heart_rate_monitor,
)

from simkit import Collector, Disconnects, arun


def test_unknown_address_is_not_found() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            await air.add_peripheral_async(heart_rate_monitor())
            client = BleakClient("F0:00:00:00:99:99", backend=air.client_backend)
            with pytest.raises(BleakDeviceNotFoundError) as missing:
                await client.connect()
            assert missing.value.identifier == "F0:00:00:00:99:99"

    arun(main())


def test_silent_peripheral_connect_times_out_at_bleaks_timeout() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            hr.stop_advertising()
            loop = asyncio.get_running_loop()
            client = BleakClient(hr.address, timeout=0.3, backend=air.client_backend)
            started = loop.time()
            with pytest.raises(TimeoutError):
                await client.connect()
            assert loop.time() - started >= 0.3  # not before bleak's timeout
            assert not client.is_connected
            # The central is free again: the peripheral connects once it advertises.
            hr.resume_advertising()
            await client.connect()
            assert client.is_connected
            await client.disconnect()

    arun(main())


def test_cancelled_connect_leaves_the_central_able_to_connect() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            hr.stall_next("connect")
            client = BleakClient(hr.address, backend=air.client_backend)
            attempt = asyncio.ensure_future(client.connect())
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(attempt), 0.2)
            attempt.cancel()
            with pytest.raises(asyncio.CancelledError):
                await attempt
            await client.connect()
            assert client.is_connected
            await client.disconnect()
            counters = await hr.wait_until_async(lambda c: c.disconnects == 1)
            assert counters.connects == 1

    arun(main())


def test_refused_connects_raise_bleak_error_then_succeed() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            hr.refuse_connects(2)
            client = BleakClient(hr.address, backend=air.client_backend)
            for _ in range(2):
                with pytest.raises(BleakError, match="0x3e"):
                    await client.connect()
            await client.connect()
            await client.disconnect()
            counters = hr.counters()
            assert counters.refused_connects == 2
            assert counters.connects == 1

    arun(main())


def test_delayed_connect() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            hr.delay("connect", 0.25)
            loop = asyncio.get_running_loop()
            started = loop.time()
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                assert client.is_connected
                assert loop.time() - started >= 0.25

    arun(main())


def test_att_errors_stalls_and_delays_on_operations() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            loop = asyncio.get_running_loop()
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                hr.fail_next("read", 0x0E)
                with pytest.raises(BleakGATTProtocolError) as read_error:
                    await client.read_gatt_char(BODY_SENSOR_LOCATION)
                assert read_error.value.code == 0x0E
                hr.fail_next("write", 0x80)
                with pytest.raises(BleakGATTProtocolError) as write_error:
                    await client.write_gatt_char(HEART_RATE_CONTROL_POINT, b"\x01", response=True)
                assert write_error.value.code == 0x80
                hr.fail_next("subscribe", 0xFD)
                with pytest.raises(BleakGATTProtocolError) as subscribe_error:
                    await client.start_notify(HEART_RATE_MEASUREMENT, Collector())
                assert subscribe_error.value.code == 0xFD

                hr.stall_next("read")
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(client.read_gatt_char(BODY_SENSOR_LOCATION), 0.2)
                assert await client.read_gatt_char(BODY_SENSOR_LOCATION) == b"\x01"

                hr.delay("read", 0.2)
                started = loop.time()
                assert await client.read_gatt_char(BODY_SENSOR_LOCATION) == b"\x01"
                assert loop.time() - started >= 0.2
                hr.delay("read", 0)
            assert hr.counters().reads == 2  # answered reads only

    arun(main())


def test_drop_link_calls_disconnected_callback_and_fails_pending_operations() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor(rate_hz=500.0))
            lost = Disconnects()
            client = BleakClient(hr.address, lost, backend=air.client_backend)
            await client.connect()
            values = Collector()
            await client.start_notify(HEART_RATE_MEASUREMENT, values)
            await values.wait_for(5)
            hr.stall_next("read")
            pending = asyncio.ensure_future(client.read_gatt_char(BODY_SENSOR_LOCATION))
            await hr.wait_until_async(lambda c: c.reads == 0 and c.notifications_sent >= 6)
            assert hr.drop_link()
            await lost.wait()
            with pytest.raises(BleakError, match="disconnected"):
                await pending
            assert not client.is_connected and lost.count == 1
            counters = await hr.wait_until_async(lambda c: c.disconnects == 1)
            assert counters.drops_injected == 1 and counters.active_subscriptions == 0
            # Nothing the peripheral sent before the drop was lost.
            assert counters.notifications_while_subscribed == len(values.values)
            assert values.sequences() == list(range(len(values.values)))
            assert not hr.drop_link()  # nothing left to drop
            # The peripheral advertises again; the same client reconnects.
            await client.connect()
            await client.disconnect()
            assert lost.count == 2  # our own disconnect is reported too, as on bleak's backends

    arun(main())


def test_stalled_disconnect_hangs_until_cancelled() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            lost = Disconnects()
            client = BleakClient(hr.address, lost, backend=air.client_backend)
            await client.connect()
            hr.stall_next("disconnect")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.disconnect(), 0.2)
            assert not client.is_connected
            # The link is torn down behind the cancelled call; the device is usable.
            await hr.wait_until_async(lambda c: c.disconnects == 1)
            await client.connect()
            await client.disconnect()
            assert lost.count == 2  # the cancelled disconnect reported too

    arun(main())


def test_operations_on_a_disconnected_client_raise() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            client = BleakClient(hr.address, backend=air.client_backend)
            await client.connect()
            char = client.services.get_characteristic(BODY_SENSOR_LOCATION)
            assert char is not None
            await client.disconnect()
            with pytest.raises(BleakError):
                await client.read_gatt_char(char)
            await client.disconnect()  # idempotent

    arun(main())


def test_stalled_write_and_subscribe_never_answer() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                hr.stall_next("write")
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(
                        client.write_gatt_char(HEART_RATE_CONTROL_POINT, b"\x01", response=True),
                        0.1,
                    )
                hr.stall_next("subscribe")
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(
                        client.start_notify(HEART_RATE_MEASUREMENT, Collector()), 0.1
                    )
                # Both consumed: the next ones go through.
                await client.write_gatt_char(HEART_RATE_CONTROL_POINT, b"\x01", response=True)
                values = Collector()
                await client.start_notify(HEART_RATE_MEASUREMENT, values)
                assert hr.counters().active_subscriptions == 1

    arun(main())


def test_delayed_disconnect_and_timed_silence() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            loop = asyncio.get_running_loop()
            client = BleakClient(hr.address, backend=air.client_backend)
            await client.connect()
            hr.delay("disconnect", 0.15)
            started = loop.time()
            await client.disconnect()
            assert loop.time() - started >= 0.15
            hr.delay("disconnect", 0)

            hr.stop_advertising(duration=0.2)
            started = loop.time()
            await client.connect()  # waits out the silence, within bleak's timeout
            assert loop.time() - started >= 0.2
            await client.disconnect()

    arun(main())


def test_a_drop_during_a_burst_loses_nothing_that_was_counted() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor(rate_hz=0.5))
            lost = Disconnects()
            client = BleakClient(hr.address, lost, backend=air.client_backend)
            await client.connect()
            values = Collector()
            await client.start_notify(HEART_RATE_MEASUREMENT, values)
            hr.burst(2000)
            await values.wait_for(300)  # mid-burst: hundreds still queued at the peripheral
            hr.drop_link()
            await lost.wait()
            counters = hr.counters()
            assert 300 <= counters.notifications_while_subscribed < 2000
            assert len(values.values) == counters.notifications_while_subscribed
            assert values.sequences() == list(range(len(values.values)))

    arun(main())


def test_a_late_answer_to_a_cancelled_request_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                hr.delay("read", 0.1)
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(client.read_gatt_char(BODY_SENSOR_LOCATION), 0.02)
                hr.delay("read", 0)
                # The delayed read's answer arrives while nobody waits for it.
                await hr.wait_until_async(lambda c: c.reads == 1)
                await client.write_gatt_char(HEART_RATE_CONTROL_POINT, b"\x01", response=True)
                assert await client.read_gatt_char(BODY_SENSOR_LOCATION) == b"\x01"

    arun(main())
    noisy = [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert noisy == [], [r.getMessage() for r in noisy]
