"""Scanning through the runtime: rt.scan / rt.find and their async twins, over the sim.

The sim's scanner backend runs Bumble's real advertising and scanning; a small scanner
backend of the test's own stands in for a platform where one is needed (an unavailable
Bluetooth stack, BlueZ's device details).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from blerun.actors import ConnectionState, Runtime, ScanResult
from blerun.actors.errors import (
    BluetoothUnavailable,
    DeviceNotFound,
    InvalidAddress,
    UsageError,
    WrongThread,
)
from blerun.gatt import HEART_RATE_SERVICE, NUS_SERVICE, normalize_uuid
from blerun.sim import Peripheral, VirtualAir, heart_rate_monitor, sensor, uart_device

pytestmark = pytest.mark.e2e


@pytest.fixture
def air() -> Iterator[VirtualAir]:
    air = VirtualAir.start()
    yield air
    air.close(timeout=5.0)


@pytest.fixture
def peripherals(air: VirtualAir) -> list[Peripheral]:
    hr = dataclasses.replace(
        heart_rate_monitor(name="HR-1"), manufacturer_data={0x0059: b"\x01\x02"}, rssi=-40
    )
    return [
        air.add_peripheral(hr),
        air.add_peripheral(uart_device(name="UART-1")),
        air.add_peripheral(sensor(name="Sensor-1")),
    ]


@pytest.fixture
def rt(air: VirtualAir) -> Iterator[Runtime]:
    runtime = Runtime(loop=air.loop, backend=air.client_backend).start()
    yield runtime
    assert runtime.close(timeout=5.0).clean


def test_scan_hears_every_advertising_device_strongest_first(
    rt: Runtime, air: VirtualAir, peripherals: list[Peripheral]
) -> None:
    results = rt.scan(0.5, backend=air.scanner_backend)

    assert [r.name for r in results] == ["HR-1", "UART-1", "Sensor-1"]
    hr = results[0]
    assert hr.address == peripherals[0].address
    assert hr.rssi == -40
    assert hr.service_uuids == (HEART_RATE_SERVICE,)
    assert dict(hr.manufacturer_data) == {0x0059: b"\x01\x02"}
    assert results[1].service_uuids == (NUS_SERVICE,)
    assert hr.adapter is None  # the sim, like macOS and Windows, names no adapter


def test_scan_filters_by_name_service_and_address(
    rt: Runtime, air: VirtualAir, peripherals: list[Peripheral]
) -> None:
    scanner = air.scanner_backend
    assert [r.name for r in rt.scan(0.5, name="UART-1", backend=scanner)] == ["UART-1"]
    assert [r.name for r in rt.scan(0.5, service="180d", backend=scanner)] == ["HR-1"]
    lower = peripherals[2].address.lower()
    assert [r.name for r in rt.scan(0.5, address=lower, backend=scanner)] == ["Sensor-1"]
    assert rt.scan(0.3, name="nobody", backend=scanner) == ()


def test_find_returns_a_result_the_runtime_connects_to(
    rt: Runtime, air: VirtualAir, peripherals: list[Peripheral]
) -> None:
    found = rt.find(5.0, service=NUS_SERVICE, backend=air.scanner_backend)
    assert found.name == "UART-1"

    device = rt.device(found)
    device.connect(timeout=10.0)

    assert device.address == peripherals[1].address
    assert device.state is ConnectionState.CONNECTED


def test_find_raises_device_not_found_naming_what_it_looked_for(
    rt: Runtime, air: VirtualAir, peripherals: list[Peripheral]
) -> None:
    with pytest.raises(DeviceNotFound, match="name='HR-9'"):
        rt.find(0.3, name="HR-9", backend=air.scanner_backend)


def test_find_needs_a_criterion_and_checks_each(rt: Runtime, air: VirtualAir) -> None:
    with pytest.raises(UsageError, match="at least one"):
        rt.find(1.0, backend=air.scanner_backend)
    with pytest.raises(InvalidAddress):
        rt.find(1.0, address="not-an-address", backend=air.scanner_backend)
    with pytest.raises(UsageError):
        rt.scan(1.0, service="not-a-uuid", backend=air.scanner_backend)


def test_scan_results_are_frozen_values(
    rt: Runtime, air: VirtualAir, peripherals: list[Peripheral]
) -> None:
    (hr,) = rt.scan(0.5, name="HR-1", backend=air.scanner_backend)

    with pytest.raises(dataclasses.FrozenInstanceError):
        hr.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        hr.manufacturer_data[0x0059] = b""  # type: ignore[index]
    assert hash(hr) == hash(dataclasses.replace(hr))


def test_scan_async_on_the_runtimes_loop(
    rt: Runtime, air: VirtualAir, peripherals: list[Peripheral]
) -> None:
    async def scan_there() -> tuple[ScanResult, ...]:
        return await rt.scan_async(0.5, name="HR-1", backend=air.scanner_backend)

    results = asyncio.run_coroutine_threadsafe(scan_there(), air.loop).result(10)

    assert [r.name for r in results] == ["HR-1"]


def test_find_async_from_another_loop(
    rt: Runtime, air: VirtualAir, peripherals: list[Peripheral]
) -> None:
    loop = asyncio.new_event_loop()
    try:
        found = loop.run_until_complete(
            rt.find_async(5.0, name="Sensor-1", backend=air.scanner_backend)
        )
    finally:
        loop.close()

    assert found.address == peripherals[2].address


def test_a_blocking_scan_on_the_runtimes_loop_is_refused(rt: Runtime, air: VirtualAir) -> None:
    async def scan_blocking_there() -> None:
        rt.scan(0.5, backend=air.scanner_backend)

    with pytest.raises(WrongThread):
        asyncio.run_coroutine_threadsafe(scan_blocking_there(), air.loop).result(10)


# --- a scanner backend of the test's own ---------------------------------------------------


class _NoBluetooth(BaseBleakScanner):
    """What bleak's BlueZ backend raises on a machine with no D-Bus system bus."""

    def __init__(self, detection_callback: Any, service_uuids: Any, *args: Any, **kw: Any) -> None:
        super().__init__(detection_callback, service_uuids)

    async def start(self) -> None:
        raise FileNotFoundError(2, "No such file or directory")

    async def stop(self) -> None:
        pass


class _BlueZLike(BaseBleakScanner):
    """Reports one device with the details BlueZ gives (the adapter's D-Bus path)."""

    def __init__(self, detection_callback: Any, service_uuids: Any, *args: Any, **kw: Any) -> None:
        super().__init__(detection_callback, service_uuids)

    async def start(self) -> None:
        path = "/org/bluez/hci1/dev_C0_11_22_33_44_55"
        advertisement = AdvertisementData(
            local_name="Thermo",
            manufacturer_data={0x004C: b"\x02\x15"},
            service_data={"181a": b"\x10"},
            service_uuids=["181a"],
            tx_power=4,
            rssi=-71,
            platform_data=(),
        )
        device = self.create_or_update_device(
            path,
            "c0:11:22:33:44:55",
            "Thermo",
            {"path": path, "props": {"Adapter": "/org/bluez/hci1"}},
            advertisement,
        )
        self.call_detection_callbacks(device, advertisement)

    async def stop(self) -> None:
        pass


@pytest.fixture
def own_loop_rt() -> Iterator[Runtime]:
    runtime = Runtime().start()
    yield runtime
    assert runtime.close(timeout=5.0).clean


def test_no_bluetooth_stack_is_said_with_its_fix(own_loop_rt: Runtime) -> None:
    with pytest.raises(BluetoothUnavailable, match="no Bluetooth stack") as caught:
        own_loop_rt.scan(5.0, backend=_NoBluetooth)

    assert "bluetoothd" in caught.value.fix
    assert isinstance(caught.value.__cause__, FileNotFoundError)


def test_a_result_names_its_adapter_and_normalizes_what_it_carries(own_loop_rt: Runtime) -> None:
    (result,) = own_loop_rt.scan(0.1, backend=_BlueZLike)

    assert result.adapter == "hci1"
    assert result.address == "C0:11:22:33:44:55"
    assert result.service_uuids == (normalize_uuid("181a"),)
    assert dict(result.service_data) == {normalize_uuid("181a"): b"\x10"}
    assert dict(result.manufacturer_data) == {0x004C: b"\x02\x15"}
    assert (result.rssi, result.tx_power) == (-71, 4)
    assert isinstance(result.bleak_device, BLEDevice)


def test_the_adapter_asked_for_is_reported_where_the_platform_names_none(
    rt: Runtime, air: VirtualAir, peripherals: list[Peripheral]
) -> None:
    results = rt.scan(0.5, adapter="hci0", backend=air.scanner_backend)

    assert {r.adapter for r in results} == {"hci0"}
