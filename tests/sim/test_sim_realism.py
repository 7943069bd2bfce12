"""The BlueZ-realism profile, and the conditions real users hit: slots, zombie links."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient
from bleak.exc import BleakDBusError, BleakError, BleakGATTProtocolError

from blerun.gatt import AttErrorCode
from blerun.sim import (
    BODY_SENSOR_LOCATION,
    HEART_RATE_MEASUREMENT,
    CharacteristicSpec,
    PeripheralSpec,
    Property,
    Realism,
    ServiceSpec,
    VirtualAir,
    heart_rate_monitor,
    uart_device,
)

from simkit import Collector, Disconnects, arun


def _locked(name: str = "Locked") -> PeripheralSpec:
    return PeripheralSpec(
        name=name,
        services=(
            ServiceSpec(
                uuid="dddd",
                characteristics=(
                    CharacteristicSpec(
                        uuid="dd01",
                        properties=Property.READ | Property.WRITE | Property.NOTIFY,
                        value=b"secret",
                        requires_pairing=True,
                    ),
                ),
            ),
        ),
    )


def test_bluez_refused_connect_is_the_dbus_error_bleak_raises_on_linux() -> None:
    async def main() -> None:
        async with await VirtualAir.create(realism="bluez") as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            hr.refuse_connects(1)
            client = BleakClient(hr.address, backend=air.client_backend)
            with pytest.raises(BleakDBusError) as refused:
                await client.connect()
            assert refused.value.dbus_error == "org.bluez.Error.Failed"
            assert refused.value.dbus_error_details == "le-connection-abort-by-local"
            assert str(refused.value) == "[org.bluez.Error.Failed] le-connection-abort-by-local"
            await client.connect()
            await client.disconnect()

    arun(main())


def test_overlapping_connects_to_one_device_answer_in_progress() -> None:
    async def main(realism: str) -> None:
        async with await VirtualAir.create(realism=realism) as air:  # type: ignore[arg-type]
            hr = await air.add_peripheral_async(heart_rate_monitor())
            first = BleakClient(hr.address, backend=air.client_backend)
            second = BleakClient(hr.address, backend=air.client_backend)
            # Tasks start in creation order, so the second asks while the first waits
            # for the peripheral's next advertisement.
            done, busy = await asyncio.gather(
                first.connect(), second.connect(), return_exceptions=True
            )
            assert done is None and first.is_connected
            assert isinstance(busy, BleakError)
            if realism == "bluez":
                assert isinstance(busy, BleakDBusError)
                assert busy.dbus_error == "org.bluez.Error.InProgress"
                assert busy.dbus_error_details == "In Progress"
            else:
                assert "In Progress" in str(busy)
            await first.disconnect()

    arun(main("default"))
    arun(main("bluez"))


def test_connection_slots_refuse_past_the_limit_with_bluez_error() -> None:
    async def main() -> None:
        async with await VirtualAir.create(realism=Realism.bluez(connection_slots=2)) as air:
            monitors = [
                await air.add_peripheral_async(heart_rate_monitor(name=f"HR-{i}")) for i in range(3)
            ]
            clients = [BleakClient(m.address, backend=air.client_backend) for m in monitors]
            await clients[0].connect()
            await clients[1].connect()
            with pytest.raises(BleakDBusError, match="le-connection-abort-by-local"):
                await clients[2].connect()
            assert monitors[2].counters().connects == 0
            # A slot frees up: the third connects.
            await clients[0].disconnect()
            await clients[2].connect()
            for client in clients[1:]:
                await client.disconnect()

    arun(main())


def test_default_profile_has_no_slot_limit_and_bluez_profile_defaults_to_five() -> None:
    assert Realism().connection_slots is None
    assert Realism.bluez().connection_slots == 5
    with pytest.raises(ValueError, match="realism"):
        VirtualAir.start(realism="android")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="connection_slots"):
        Realism.bluez(connection_slots=0)


def test_bluez_mtu_reads_23_with_bleaks_warning_until_acquired() -> None:
    async def main() -> None:
        async with await VirtualAir.create(realism="bluez") as air:
            uart = await air.add_peripheral_async(uart_device(mtu=247))
            async with BleakClient(uart.address, backend=air.client_backend) as client:
                with pytest.warns(UserWarning, match="Using default MTU value"):
                    assert client.mtu_size == 23
                # What BlueZ reports per characteristic follows the negotiated MTU.
                rx = client.services.get_characteristic("6e400002-b5a3-f393-e0a9-e50e24dcca9e")
                assert rx is not None and rx.max_write_without_response_size == 244
                await client._backend._acquire_mtu()  # type: ignore[attr-defined]
                assert client.mtu_size == 247
        async with await VirtualAir.create() as air:
            uart = await air.add_peripheral_async(uart_device(mtu=247))
            async with BleakClient(uart.address, backend=air.client_backend) as client:
                assert client.mtu_size == 247  # the default profile: no warning

    arun(main())


def test_unpaired_access_is_not_paired_on_bluez_and_insufficient_authentication_otherwise() -> None:
    async def main(realism: str) -> None:
        async with await VirtualAir.create(realism=realism) as air:  # type: ignore[arg-type]
            locked = await air.add_peripheral_async(_locked())
            async with BleakClient(locked.address, backend=air.client_backend) as client:
                for attempt in (
                    client.read_gatt_char("dd01"),
                    client.write_gatt_char("dd01", b"x", response=True),
                    client.start_notify("dd01", Collector()),
                ):
                    with pytest.raises(BleakError) as refused:
                        await attempt
                    if realism == "bluez":
                        assert isinstance(refused.value, BleakDBusError)
                        assert refused.value.dbus_error == "org.bluez.Error.NotPermitted"
                        assert refused.value.dbus_error_details == "Not paired"
                    else:
                        assert isinstance(refused.value, BleakGATTProtocolError)
                        assert int(refused.value.code) == AttErrorCode.INSUFFICIENT_AUTHENTICATION
            counters = locked.counters()
            assert counters.reads == counters.writes == counters.active_subscriptions == 0

    arun(main("default"))
    arun(main("bluez"))


def test_bluez_other_att_errors_stay_gatt_protocol_errors() -> None:
    # bleak's assert_gatt_reply maps BlueZ's texts back to codes for everything but
    # "Not paired".
    async def main() -> None:
        async with await VirtualAir.create(realism="bluez") as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                hr.fail_next("read", AttErrorCode.UNLIKELY_ERROR)
                with pytest.raises(BleakGATTProtocolError) as failed:
                    await client.read_gatt_char(BODY_SENSOR_LOCATION)
                assert int(failed.value.code) == AttErrorCode.UNLIKELY_ERROR
                with pytest.raises(BleakDBusError, match="No notify session started"):
                    await client.stop_notify(HEART_RATE_MEASUREMENT)

    arun(main())


def test_zombie_link_stays_up_and_answers_nothing_until_revived() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor(rate_hz=200.0))
            lost = Disconnects()
            client = BleakClient(hr.address, lost, backend=air.client_backend)
            await client.connect()
            values = Collector()
            await client.start_notify(HEART_RATE_MEASUREMENT, values)
            await values.wait_for(3)
            hr.zombie_link()
            sent = hr.counters().notifications_sent
            read = asyncio.ensure_future(client.read_gatt_char(BODY_SENSOR_LOCATION))
            # No supervision timeout: the link stays up on both sides.
            assert client.is_connected and hr.is_connected() and lost.count == 0
            # Only the central can end it; the read was never answered, and nothing
            # was sent meanwhile.
            await client.disconnect()
            with pytest.raises(BleakError, match="disconnected during the operation"):
                await read
            counters = await hr.wait_until_async(lambda c: c.disconnects == 1)
            assert counters.reads == 0 and counters.drops_injected == 0
            assert counters.notifications_sent == sent
            assert lost.count == 1
            # Revived, the same device answers and streams again.
            hr.revive()
            await client.connect()
            assert await client.read_gatt_char(BODY_SENSOR_LOCATION) == b"\x01"
            await client.start_notify(HEART_RATE_MEASUREMENT, values)
            await values.wait_for(len(values.values) + 3)
            await client.disconnect()

    arun(main())
