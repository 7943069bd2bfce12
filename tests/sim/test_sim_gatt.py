"""Connect, discover, read and write through bleak's BleakClient."""

from __future__ import annotations

import pytest
from bleak import BleakClient
from bleak.exc import BleakError, BleakGATTProtocolError

from blerun.sim import (
    BODY_SENSOR_LOCATION,
    HEART_RATE_CONTROL_POINT,
    HEART_RATE_MEASUREMENT,
    HEART_RATE_SERVICE,
    NUS_RX,
    NUS_TX,
    TEMPERATURE,
    AttError,
    CharacteristicSpec,
    PeripheralSpec,
    Property,
    ServiceSpec,
    VirtualAir,
    heart_rate_monitor,
    sensor,
    temperature_value,
    uart_device,
)

from simkit import Collector, arun

CCCD = "00002902-0000-1000-8000-00805f9b34fb"
USER_DESCRIPTION = "00002901-0000-1000-8000-00805f9b34fb"


def test_services_have_real_handles_properties_and_descriptors() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                assert client.is_connected
                assert client.name == "HR-1"
                service = client.services.get_service(HEART_RATE_SERVICE)
                assert service is not None
                measurement = service.get_characteristic(HEART_RATE_MEASUREMENT)
                location = service.get_characteristic(BODY_SENSOR_LOCATION)
                control = service.get_characteristic(HEART_RATE_CONTROL_POINT)
                assert measurement and location and control
                assert measurement.properties == ["notify"]
                assert location.properties == ["read"]
                assert control.properties == ["write"]
                # Handle convention: declaration handles, value at handle + 1, and
                # descriptors with their own handles inside the characteristic.
                assert service.handle < measurement.handle < location.handle < control.handle
                assert location.handle == measurement.handle + 3  # decl, value, CCCD
                (cccd,) = measurement.descriptors
                assert cccd.uuid == CCCD and cccd.handle == measurement.handle + 2
                assert location.descriptors == [] and control.descriptors == []
                # Lookups by handle work the way they do on BlueZ.
                assert client.services.get_characteristic(location.handle) is location
                assert await client.read_gatt_char(location.handle) == bytearray(b"\x01")
                assert await client.read_gatt_descriptor(cccd.handle) == bytearray(b"\x00\x00")

    arun(main())


def test_mtu_exchange_and_write_without_response_size() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            big = await air.add_peripheral_async(uart_device(name="big"))
            small = await air.add_peripheral_async(uart_device(name="small", mtu=23))
            async with BleakClient(big.address, backend=air.client_backend) as client:
                assert client.mtu_size == 247
                rx = client.services.get_characteristic(NUS_RX)
                assert rx is not None and rx.max_write_without_response_size == 244
            async with BleakClient(small.address, backend=air.client_backend) as client:
                assert client.mtu_size == 23
                with pytest.raises(BleakError, match="max_write_without_response_size"):
                    await client.write_gatt_char(NUS_RX, bytes(21), response=False)

    arun(main())


def test_read_write_with_and_without_response() -> None:
    stored = CharacteristicSpec(
        uuid="12345678-0000-4000-8000-00000000abcd",
        properties=Property.READ | Property.WRITE | Property.WRITE_WITHOUT_RESPONSE,
        value=b"initial",
        description="a stored value",
    )
    spec = PeripheralSpec(
        name="Store",
        services=(
            ServiceSpec(uuid="12345678-0000-4000-8000-000000000000", characteristics=(stored,)),
        ),
    )

    async def main() -> None:
        async with await VirtualAir.create() as air:
            peripheral = await air.add_peripheral_async(spec)
            async with BleakClient(peripheral.address, backend=air.client_backend) as client:
                char = client.services.get_characteristic(stored.uuid)
                assert char is not None
                assert char.properties == ["read", "write-without-response", "write"]
                (description,) = char.descriptors
                assert description.uuid == USER_DESCRIPTION
                assert await client.read_gatt_descriptor(description) == b"a stored value"
                assert await client.read_gatt_char(char) == b"initial"
                await client.write_gatt_char(char, b"with response", response=True)
                assert await client.read_gatt_char(char) == b"with response"
                await client.write_gatt_char(char, bytearray(b"without"), response=False)
                assert await client.read_gatt_char(char) == b"without"
                # Longer than one write request: bleak/Bumble use a long write.
                long_value = bytes(range(256)) + bytes(100)
                await client.write_gatt_char(char, long_value, response=True)
                assert await client.read_gatt_char(char) == long_value
            counters = peripheral.counters()
            assert counters.reads == 4
            assert counters.writes == 3

    arun(main())


def test_read_only_sensor_refuses_writes() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            thermometer = await air.add_peripheral_async(sensor())
            async with BleakClient(thermometer.address, backend=air.client_backend) as client:
                assert await client.read_gatt_char(TEMPERATURE) == temperature_value(21.5)
                with pytest.raises(BleakGATTProtocolError) as refused:
                    await client.write_gatt_char(TEMPERATURE, b"\x00\x00", response=True)
                assert refused.value.code == 0x03  # Write Not Permitted
                # A write command gets no answer; it is dropped.
                await client.write_gatt_char(TEMPERATURE, b"\x00\x00", response=False)
                assert await client.read_gatt_char(TEMPERATURE) == temperature_value(21.5)
            assert thermometer.counters().writes == 0

    arun(main())


def test_server_enforces_properties_and_handler_errors() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                with pytest.raises(BleakGATTProtocolError) as not_readable:
                    await client.read_gatt_char(HEART_RATE_CONTROL_POINT)
                assert not_readable.value.code == 0x02  # Read Not Permitted
                with pytest.raises(BleakGATTProtocolError) as not_writable:
                    await client.write_gatt_char(HEART_RATE_MEASUREMENT, b"\x00", response=True)
                assert not_writable.value.code == 0x03
                with pytest.raises(BleakGATTProtocolError) as unsupported:
                    await client.write_gatt_char(HEART_RATE_CONTROL_POINT, b"\x07", response=True)
                assert unsupported.value.code == 0x80  # the write handler's AttError
                await client.write_gatt_char(HEART_RATE_CONTROL_POINT, b"\x01", response=True)

    arun(main())


def test_computed_values_and_failing_handlers() -> None:
    reads = iter(range(1000))

    def broken(_peripheral: object, _data: bytes) -> None:
        raise RuntimeError("application bug")

    def refuse(_peripheral: object, _data: bytes) -> None:
        raise AttError(0x81)

    spec = PeripheralSpec(
        name="Computed",
        services=(
            ServiceSpec(
                uuid="aaaa",
                characteristics=(
                    CharacteristicSpec(
                        uuid="aa01",
                        properties=Property.READ,
                        value=lambda: next(reads).to_bytes(2, "little"),
                    ),
                    CharacteristicSpec(uuid="aa02", properties=Property.WRITE, on_write=broken),
                    CharacteristicSpec(uuid="aa03", properties=Property.WRITE, on_write=refuse),
                ),
            ),
        ),
    )

    async def main() -> None:
        async with await VirtualAir.create() as air:
            peripheral = await air.add_peripheral_async(spec)
            async with BleakClient(peripheral.address, backend=air.client_backend) as client:
                assert await client.read_gatt_char("aa01") == b"\x00\x00"
                assert await client.read_gatt_char("aa01") == b"\x01\x00"
                with pytest.raises(BleakGATTProtocolError) as bug:
                    await client.write_gatt_char("aa02", b"x", response=True)
                assert bug.value.code == 0x0E  # Unlikely Error, never a hang
                with pytest.raises(BleakGATTProtocolError) as refused:
                    await client.write_gatt_char("aa03", b"x", response=True)
                assert refused.value.code == 0x81

    arun(main())


def test_indications_are_delivered_and_confirmed() -> None:
    spec = PeripheralSpec(
        name="Indicator",
        services=(
            ServiceSpec(
                uuid="bbbb",
                characteristics=(
                    CharacteristicSpec(
                        uuid="bb01",
                        properties=Property.INDICATE,
                        notify_value=lambda n: n.to_bytes(4, "little"),
                    ),
                ),
            ),
        ),
    )

    async def main() -> None:
        async with await VirtualAir.create() as air:
            peripheral = await air.add_peripheral_async(spec)
            async with BleakClient(peripheral.address, backend=air.client_backend) as client:
                values = Collector()
                await client.start_notify("bb01", values)
                # Each indication waits for the previous one's confirmation.
                assert peripheral.burst(50) == 1
                await values.wait_for(50)
                assert values.values == [n.to_bytes(4, "little") for n in range(50)]
                await client.stop_notify("bb01")
            counters = peripheral.counters()
            assert counters.notifications_sent == counters.notifications_while_subscribed == 50

    arun(main())


def test_uart_echo_round_trip() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            uart = await air.add_peripheral_async(uart_device())
            async with BleakClient(uart.address, backend=air.client_backend) as client:
                echoed = Collector()
                await client.start_notify(NUS_TX, echoed)
                await client.write_gatt_char(NUS_RX, b"hello", response=True)
                await client.write_gatt_char(NUS_RX, b" world", response=False)
                await echoed.wait_for(2)
                assert echoed.values == [b"hello", b" world"]
                # 500 bytes go as a long write and come back in MTU-sized pieces.
                blob = bytes(range(250)) * 2
                await client.write_gatt_char(NUS_RX, blob, response=True)
                await echoed.wait_for(5)
                assert [len(v) for v in echoed.values[2:]] == [244, 244, 12]
                assert b"".join(echoed.values[2:]) == blob

    arun(main())


def test_services_filter_keeps_only_the_requested_ones() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            client = BleakClient(
                hr.address, services=[HEART_RATE_SERVICE], backend=air.client_backend
            )
            async with client:
                assert [s.uuid for s in client.services] == [HEART_RATE_SERVICE]

    arun(main())
