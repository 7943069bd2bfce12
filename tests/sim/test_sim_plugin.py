"""Code that never passes ``backend=``: use_air() and the pytest plugin's fixtures.

The plugin comes from the ``pytest11`` entry point the package installs; nothing here
imports it. bleak-retry-connector's ``establish_connection`` builds its own
``BleakClient(device, ...)``, exactly as it does in Home Assistant.
"""

from __future__ import annotations

import bleak
import bleak.backends.client
import pytest
from bleak import BleakClient, BleakScanner
from bleak_retry_connector import (
    BleakAbortedError,
    BleakClientWithServiceCache,
    establish_connection,
)

from blerun.sim import (
    BODY_SENSOR_LOCATION,
    TEMPERATURE,
    Peripheral,
    VirtualAir,
    temperature_value,
    use_air,
)


def test_establish_connection_retries_a_refused_connect_without_backend(
    sim_air: VirtualAir, sim_heart_rate_monitor: Peripheral
) -> None:
    hr = sim_heart_rate_monitor
    hr.refuse_connects(1)  # a transient failure, which bleak-retry-connector retries

    async def main() -> bytes:
        device = await BleakScanner.find_device_by_address(hr.address, timeout=5.0)
        assert device is not None
        client = await establish_connection(
            BleakClientWithServiceCache, device, "HR-1", max_attempts=3
        )
        try:
            assert client.backend_id == "blerun.sim"
            return bytes(await client.read_gatt_char(BODY_SENSOR_LOCATION))
        finally:
            await client.disconnect()

    assert sim_air.run(main()) == b"\x01"
    counters = hr.counters()
    assert counters.refused_connects == 1 and counters.connects == 1


@pytest.mark.sim_air(realism="bluez")
def test_establish_connection_classifies_refusals_as_bluez_aborts(
    sim_air: VirtualAir, sim_heart_rate_monitor: Peripheral
) -> None:
    # It retries le-connection-abort-by-local as transient (up to 9 times), then gives
    # up with its "interference" advice, as it does on Linux; a text it did not know
    # would have counted against max_attempts and ended in BleakConnectionError.
    hr = sim_heart_rate_monitor
    hr.refuse_connects(100)

    async def main() -> None:
        device = await BleakScanner.find_device_by_address(hr.address, timeout=5.0)
        assert device is not None
        await establish_connection(BleakClientWithServiceCache, device, "HR-1", max_attempts=2)

    with pytest.raises(BleakAbortedError, match="le-connection-abort-by-local"):
        sim_air.run(main())
    assert hr.counters().refused_connects == 9


def test_sensor_fixture_reads_through_a_plain_client(
    sim_air: VirtualAir, sim_sensor: Peripheral
) -> None:
    async def main() -> bytes:
        async with BleakClient(sim_sensor.address) as client:
            return bytes(await client.read_gatt_char(TEMPERATURE))

    assert sim_air.run(main()) == temperature_value(21.5)


def test_use_air_nests_and_restores_bleaks_own_lookup() -> None:
    original = vars(bleak)["get_platform_client_backend_type"]
    with VirtualAir.start() as outer, VirtualAir.start() as inner:
        with use_air(outer):
            assert BleakClient("F0:00:00:00:00:01")._backend.__class__ is outer.client_backend
            with use_air(inner, adapter="hci0"):
                built = BleakClient("F0:00:00:00:00:01")
                assert type(built._backend) is inner.adapters[0].client_backend
                assert type(BleakScanner()._backend) is inner.adapters[0].scanner_backend
            assert type(BleakClient("F0:00:00:00:00:01")._backend) is outer.client_backend
        with pytest.raises(ValueError, match="no adapter"), use_air(outer, adapter="hci9"):
            pass
    assert vars(bleak)["get_platform_client_backend_type"] is original
    assert bleak.backends.client.get_platform_client_backend_type is original


def test_use_air_undoes_itself_when_the_block_raises() -> None:
    original = vars(bleak)["get_platform_scanner_backend_type"]
    with VirtualAir.start() as air, pytest.raises(RuntimeError, match="boom"), use_air(air):
        raise RuntimeError("boom")
    assert vars(bleak)["get_platform_scanner_backend_type"] is original
