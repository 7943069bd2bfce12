"""Conformance with bleak's platform backends: one test per row of docs/sim.md's table.

Each test names the bleak backend behaviour it pins. The stop_notify edge (the callback
outlives the CCCD write) is pinned in test_sim_notify.py.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from bleak import BleakClient
from bleak.exc import BleakError, BleakGATTProtocolError

from blerun.gatt import AttErrorCode
from blerun.sim import (
    HEART_RATE_MEASUREMENT,
    AttError,
    CharacteristicSpec,
    PeripheralSpec,
    Property,
    ServiceSpec,
    VirtualAir,
    heart_rate_monitor,
)

from simkit import Collector, Disconnects, arun


def _indicator(name: str = "Indicator") -> PeripheralSpec:
    return PeripheralSpec(
        name=name,
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


def test_own_disconnect_calls_disconnected_callback_before_returning() -> None:
    # BlueZ: BleakClientBlueZDBus._on_disconnected runs the callback, and disconnect()
    # waits for it; WinRT and CoreBluetooth call it from their disconnect paths too.
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            lost = Disconnects()
            client = BleakClient(hr.address, lost, backend=air.client_backend)
            await client.connect()
            await client.disconnect()
            assert lost.count == 1
            await client.disconnect()  # already disconnected: no second call
            async with BleakClient(hr.address, lost, backend=air.client_backend):
                pass
            assert lost.count == 2

    arun(main())


def test_cancelled_disconnect_still_calls_disconnected_callback() -> None:
    # BlueZ (bleak 3.1): "If this raises or is canceled, is_connected is still False
    # afterwards, the disconnected callback has been called".
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            lost = Disconnects()
            client = BleakClient(hr.address, lost, backend=air.client_backend)
            await client.connect()
            hr.stall_next("disconnect")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.disconnect(), 0.1)
            assert not client.is_connected
            assert lost.count == 1
            # The link is torn down in the background; it never reports twice.
            await hr.wait_until_async(lambda c: c.disconnects == 1)
            assert lost.count == 1

    arun(main())


def test_a_raising_notification_callback_does_not_stop_indications(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # BlueZ confirms an indication in bluetoothd, before the value reaches D-Bus; a
    # callback that raises is logged by dbus-fast's message handler and the stream goes on.
    async def main() -> None:
        async with await VirtualAir.create() as air:
            peripheral = await air.add_peripheral_async(_indicator())
            async with BleakClient(peripheral.address, backend=air.client_backend) as client:
                values = Collector()

                def flaky(char: object, data: bytearray) -> None:
                    values(char, data)  # type: ignore[arg-type]
                    if len(values.values) == 1:
                        raise RuntimeError("application bug")

                await client.start_notify("bb01", flaky)
                assert peripheral.burst(5) == 1
                await values.wait_for(5)
                assert values.values == [n.to_bytes(4, "little") for n in range(5)]

    arun(main())
    failures = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert len(failures) == 1
    assert "application bug" in str(failures[0].exc_info[1])  # type: ignore[index]


def test_stop_notify_without_a_subscription_raises() -> None:
    # BlueZ: StopNotify answers org.bluez.Error.Failed "No notify session started"
    # (src/gatt-client.c); WinRT's stop_notify pops a missing token (KeyError);
    # CoreBluetooth raises ValueError("Characteristic notification never started").
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                with pytest.raises(BleakError, match="No notify session started"):
                    await client.stop_notify(HEART_RATE_MEASUREMENT)
                await client.start_notify(HEART_RATE_MEASUREMENT, Collector())
                await client.stop_notify(HEART_RATE_MEASUREMENT)
                with pytest.raises(BleakError, match="No notify session started"):
                    await client.stop_notify(HEART_RATE_MEASUREMENT)
            assert hr.counters().active_subscriptions == 0

    arun(main())


def test_a_rejected_long_write_is_not_counted() -> None:
    def refuse(_peripheral: object, _data: bytes) -> None:
        raise AttError(0x81)

    spec = PeripheralSpec(
        name="Refuser",
        services=(
            ServiceSpec(
                uuid="cccc",
                characteristics=(
                    CharacteristicSpec(uuid="cc01", properties=Property.WRITE, on_write=refuse),
                    CharacteristicSpec(uuid="cc02", properties=Property.WRITE),
                ),
            ),
        ),
    )

    async def main() -> None:
        async with await VirtualAir.create() as air:
            peripheral = await air.add_peripheral_async(spec)
            async with BleakClient(peripheral.address, backend=air.client_backend) as client:
                # Longer than MTU - 3: a long write (Prepare Write... Execute Write).
                with pytest.raises(BleakGATTProtocolError) as refused:
                    await client.write_gatt_char("cc01", bytes(300), response=True)
                assert refused.value.code == 0x81
                # Longer than an attribute may be: the server refuses at Execute.
                with pytest.raises(BleakGATTProtocolError) as too_long:
                    await client.write_gatt_char("cc02", bytes(600), response=True)
                assert int(too_long.value.code) == AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH
                with pytest.raises(BleakGATTProtocolError):
                    await client.write_gatt_char("cc01", b"short", response=True)
                assert peripheral.counters().writes == 0
                await client.write_gatt_char("cc02", bytes(300), response=True)
                assert peripheral.counters().writes == 1

    arun(main())


def test_a_refused_connect_carries_bluez_error_text() -> None:
    # BlueZ answers every LE connect that fails at the socket with org.bluez.Error.Failed
    # "le-connection-abort-by-local" (src/device.c att_connect_cb -> btd_error_le_errno);
    # bleak-retry-connector classifies by that text (TRANSIENT_ERRORS).
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            hr.refuse_connects(1)
            client = BleakClient(hr.address, backend=air.client_backend)
            with pytest.raises(BleakError, match="le-connection-abort-by-local"):
                await client.connect()

    arun(main())


def test_discovery_logs_nothing_on_the_root_logger(caplog: pytest.LogCaptureFixture) -> None:
    # A module-level logging.debug() in Bumble's GATT server ends every characteristic
    # discovery; on an application without logging set up it also installs a root handler.
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor())
            async with BleakClient(hr.address, backend=air.client_backend) as client:
                assert client.services.get_characteristic(HEART_RATE_MEASUREMENT) is not None

    arun(main())
    assert [r.getMessage() for r in caplog.records if r.name == "root"] == []
