"""The air itself: the sync world (own loop thread), closing in bound, misuse errors."""

from __future__ import annotations

import asyncio
import threading

import pytest
from bleak import BleakClient
from bleak.exc import BleakError

import blerun.sim
from blerun.sim import (
    BODY_SENSOR_LOCATION,
    HEART_RATE_MEASUREMENT,
    PeripheralSpec,
    VirtualAir,
    heart_rate_monitor,
    sensor,
)

from simkit import Collector, Disconnects, arun, on_air


def test_sync_world_faults_from_another_thread() -> None:
    with VirtualAir.start() as air:
        hr = air.add_peripheral(heart_rate_monitor(rate_hz=200.0))
        assert hr.address == "F0:00:00:00:00:01"
        # asyncio primitives bind to a loop on first use, so these serve air.loop.
        lost = Disconnects()
        client = BleakClient(hr.address, lost, backend=air.client_backend)
        values = Collector()

        async def connect() -> None:
            await client.connect()
            await client.start_notify(HEART_RATE_MEASUREMENT, values)
            await values.wait_for(3)

        on_air(air, connect())
        # From this (non-loop) thread: each call returns once it took effect.
        assert hr.is_connected()
        hr.fail_next("read", 0x0E)
        assert hr.drop_link()
        on_air(air, lost.wait())
        counters = hr.wait_until(lambda c: c.disconnects == 1, timeout=5.0)
        assert counters.drops_injected == 1
        assert counters.notifications_while_subscribed == len(values.values)
        assert not hr.is_connected()

        async def read_after_reconnect() -> None:
            await client.connect()
            with pytest.raises(BleakError):  # the armed ATT error, still waiting
                await client.read_gatt_char(BODY_SENSOR_LOCATION)
            await client.disconnect()

        on_air(air, read_after_reconnect())
    assert air.closed


def test_close_is_bounded_with_a_stalled_disconnect_and_idempotent() -> None:
    air = VirtualAir.start()
    hr = air.add_peripheral(heart_rate_monitor())
    client = BleakClient(hr.address, backend=air.client_backend)
    on_air(air, client.connect())
    hr.stall_next("disconnect")
    hanging = asyncio.run_coroutine_threadsafe(client.disconnect(), air.loop)
    hr.wait_until(lambda c: c.connects == 1)
    assert not hanging.done()
    # Returning at all is the bound: the stall never ends by itself, and an unbounded
    # close would hang here until pytest-timeout (no wall-clock assertion: busy cores).
    air.close(timeout=2.0)
    # The peripherals power off with the air: the link is gone, so the disconnect the
    # controller never completed returns.
    assert hanging.done() and hanging.result() is None
    air.close(timeout=2.0)  # idempotent
    with pytest.raises(RuntimeError):
        hr.counters()


def test_close_in_bound_with_a_stalled_connect() -> None:
    air = VirtualAir.start()
    hr = air.add_peripheral(heart_rate_monitor())
    hr.stall_next("connect")
    client = BleakClient(hr.address, backend=air.client_backend)
    hanging = asyncio.run_coroutine_threadsafe(client.connect(), air.loop)
    air.close(timeout=1.0)  # returns although the connect would wait forever
    assert hanging.done()


def test_async_world_close_fails_pending_calls() -> None:
    async def main() -> None:
        air = await VirtualAir.create()
        hr = await air.add_peripheral_async(heart_rate_monitor())
        client = BleakClient(hr.address, backend=air.client_backend)
        await client.connect()
        hr.stall_next("read")
        pending = asyncio.ensure_future(client.read_gatt_char(BODY_SENSOR_LOCATION))
        await hr.wait_until_async(lambda c: c.connects == 1)
        await air.aclose()
        with pytest.raises(BleakError):
            await pending
        await client.disconnect()  # a no-op on a closed air
        await air.aclose()  # idempotent

    arun(main())


def test_misuse_is_refused_with_clear_errors() -> None:
    with VirtualAir.start() as air:
        hr = air.add_peripheral(sensor())

        async def on_the_loop() -> None:
            with pytest.raises(RuntimeError, match="add_peripheral_async"):
                air.add_peripheral(sensor(name="other"))
            with pytest.raises(RuntimeError, match="wait_until_async"):
                hr.wait_until(lambda c: True)

        on_air(air, on_the_loop())

        # bleak on another loop than the air's: an error, not a hang.
        client = BleakClient(hr.address, backend=air.client_backend)
        with pytest.raises(BleakError, match=r"air\.loop"), asyncio.Runner() as runner:
            runner.run(client.connect())

        with pytest.raises(ValueError, match="already on this air"):
            air.add_peripheral(sensor(name="twin", address=hr.address))
        with pytest.raises(ValueError, match="random static"):
            air.add_peripheral(sensor(name="bad", address="00:11:22:33:44:55"))
        with pytest.raises(ValueError, match="operation"):
            hr.stall_next("teleport")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="operation"):
            hr.fail_next("connect", 0x0E)
        with pytest.raises(ValueError):
            hr.refuse_connects(0)


def test_fault_calls_from_many_threads() -> None:
    with VirtualAir.start() as air:
        hr = air.add_peripheral(heart_rate_monitor())
        barrier = threading.Barrier(4)

        def arm() -> None:
            barrier.wait()
            for _ in range(5):
                hr.refuse_connects(1)

        threads = [threading.Thread(target=arm) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        async def drain() -> None:
            client = BleakClient(hr.address, backend=air.client_backend)
            for _ in range(20):
                with pytest.raises(BleakError):
                    await client.connect()
            await client.connect()
            await client.disconnect()

        on_air(air, drain(), timeout=30.0)
        assert hr.counters().refused_connects == 20


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="advertising_interval"):
        PeripheralSpec(name="x", advertising_interval=0.001)
    with pytest.raises(ValueError, match="mtu"):
        PeripheralSpec(name="x", mtu=1000)
    with pytest.raises(ValueError, match="UUID"):
        heart_rate_monitor().services[0].characteristics[0].__class__(
            uuid="not-a-uuid", properties=blerun.sim.Property.READ
        )


def test_public_names_are_exported_and_ours() -> None:
    for name in blerun.sim.__all__:
        value = getattr(blerun.sim, name)
        module = getattr(value, "__module__", "blerun.sim")
        assert not module.startswith(("bleak", "bumble")), name
    public = {n for n in dir(blerun.sim) if not n.startswith("_") and n.isidentifier()}
    modules = {"profiles"}
    assert public - modules <= set(blerun.sim.__all__) | {"annotations"}
