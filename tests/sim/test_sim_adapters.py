"""More than one central per air: adapters of one process reaching the same peripherals."""

from __future__ import annotations

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError

from blerun.sim import HEART_RATE_MEASUREMENT, VirtualAir, heart_rate_monitor

from simkit import Collector, Disconnects, arun


def test_a_second_adapter_takes_over_after_a_drop() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor(rate_hz=200.0))
            hci1 = await air.add_adapter_async()
            assert [a.name for a in air.adapters] == ["hci0", "hci1"]
            assert hci1.address != air.adapters[0].address
            values = Collector()
            lost = Disconnects()
            first = BleakClient(hr.address, lost, backend=air.client_backend)
            await first.connect()
            await first.start_notify(HEART_RATE_MEASUREMENT, values)
            await values.wait_for(5)
            hr.drop_link()
            await lost.wait()
            # The other radio reaches the same device and the stream goes on from there.
            second = BleakClient(hr.address, backend=hci1.client_backend)
            await second.connect()
            await second.start_notify(HEART_RATE_MEASUREMENT, values)
            await values.wait_for(len(values.values) + 5)
            await second.stop_notify(HEART_RATE_MEASUREMENT)
            await second.disconnect()
            counters = await hr.wait_until_async(lambda c: c.disconnects == 2)
            assert counters.connects == 2
            assert counters.notifications_while_subscribed == len(values.values)
            assert values.sequences() == list(range(len(values.values)))

    arun(main())


def test_adapters_hold_links_at_once_and_bluez_adapter_argument_picks_one() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            one = await air.add_peripheral_async(heart_rate_monitor(name="HR-1"))
            two = await air.add_peripheral_async(heart_rate_monitor(name="HR-2"))
            await air.add_adapter_async()
            # BlueZ's way to pick an adapter, with the air's default backend.
            a = BleakClient(one.address, backend=air.client_backend)
            b = BleakClient(two.address, backend=air.client_backend, bluez={"adapter": "hci1"})
            await a.connect()
            await b.connect()
            assert a.is_connected and b.is_connected
            assert a._backend._link.central.name == "hci0"  # type: ignore[attr-defined]
            assert b._backend._link.central.name == "hci1"  # type: ignore[attr-defined]
            await a.disconnect()
            await b.disconnect()
            with pytest.raises(BleakError, match="no adapter 'hci7'"):
                await BleakClient(
                    one.address, backend=air.client_backend, bluez={"adapter": "hci7"}
                ).connect()

    arun(main())


def test_each_adapter_scans_the_whole_air() -> None:
    async def main() -> None:
        async with await VirtualAir.create() as air:
            hr = await air.add_peripheral_async(heart_rate_monitor(name="HR-scan"))
            hci1 = await air.add_adapter_async()
            for backend in (air.scanner_backend, hci1.scanner_backend):
                found = await BleakScanner.find_device_by_name(
                    "HR-scan", timeout=5.0, backend=backend
                )
                assert found is not None and found.address == hr.address

    arun(main())
