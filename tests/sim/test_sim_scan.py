"""Scanning an air through bleak's public BleakScanner API."""

from __future__ import annotations

from bleak import BleakScanner

from blerun.sim import (
    NUS_SERVICE,
    CharacteristicSpec,
    PeripheralSpec,
    Property,
    ServiceSpec,
    VirtualAir,
    heart_rate_monitor,
    uart_device,
)
from blerun.sim.profiles import HEART_RATE_SERVICE

from simkit import arun

TAGGED = PeripheralSpec(
    name="Tagged",
    rssi=-42,
    manufacturer_data={0x0059: b"\x01\x02\x03"},
    services=(
        ServiceSpec(
            uuid="180f",
            characteristics=(
                CharacteristicSpec(uuid="2a19", properties=Property.READ, value=b"\x64"),
            ),
        ),
        # A second service with the same UUID: still advertised once.
        ServiceSpec(uuid="180f"),
    ),
)


def test_discover_reports_name_uuids_rssi_and_manufacturer_data() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            tagged = await air.add_peripheral_async(TAGGED)
            uart = await air.add_peripheral_async(uart_device(name="UART-1"))
            found = await BleakScanner.discover(0.1, return_adv=True, backend=air.scanner_backend)
            assert set(found) == {tagged.address, uart.address}

            device, adv = found[tagged.address]
            assert device.name == adv.local_name == "Tagged"
            assert adv.service_uuids == ["0000180f-0000-1000-8000-00805f9b34fb"]
            assert adv.manufacturer_data == {0x0059: b"\x01\x02\x03"}
            assert adv.rssi == -42

            _, uart_adv = found[uart.address]
            assert uart_adv.service_uuids == [NUS_SERVICE]

    arun(main())


def test_find_by_name_and_by_address() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor(name="HR-7"))
            await air.add_peripheral_async(uart_device(name="UART-1"))

            by_name = await BleakScanner.find_device_by_name(
                "HR-7", timeout=2.0, backend=air.scanner_backend
            )
            assert by_name is not None and by_name.address == hr.address

            by_address = await BleakScanner.find_device_by_address(
                hr.address.lower(), timeout=2.0, backend=air.scanner_backend
            )
            assert by_address is not None and by_address.name == "HR-7"

            missing = await BleakScanner.find_device_by_name(
                "nobody", timeout=0.1, backend=air.scanner_backend
            )
            assert missing is None

    arun(main())


def test_service_uuid_filter() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            await air.add_peripheral_async(uart_device())
            found = await BleakScanner.discover(
                0.1, service_uuids=[HEART_RATE_SERVICE], backend=air.scanner_backend
            )
            assert [d.address for d in found] == [hr.address]

    arun(main())


def test_silent_peripheral_is_not_found_until_it_advertises_again() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor(name="HR-1"))
            hr.stop_advertising()
            gone = await BleakScanner.find_device_by_name(
                "HR-1", timeout=0.15, backend=air.scanner_backend
            )
            assert gone is None
            hr.resume_advertising()
            back = await BleakScanner.find_device_by_name(
                "HR-1", timeout=2.0, backend=air.scanner_backend
            )
            assert back is not None

    arun(main())


def test_two_scanners_share_the_central() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            first = BleakScanner(backend=air.scanner_backend)
            second = BleakScanner(backend=air.scanner_backend)
            async with first:
                async with second:
                    device = await BleakScanner.find_device_by_address(
                        hr.address, timeout=2.0, backend=air.scanner_backend
                    )
                    assert device is not None
                # Stopping one scanner leaves the other one scanning.
                again = await anext(first.advertisement_data())
                assert again[0].address == hr.address

    arun(main())
