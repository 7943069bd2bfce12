"""The async API inside a running loop: it never blocks the caller's loop."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from blerun.actors import ConnectionState, Runtime
from blerun.actors.errors import WrongThread

from scripted import CONTROL, HR_MEASUREMENT, SENSOR, ScriptedPeripheral, ScriptedWorld, heart_rate

OPS = ("connect", "disconnect", "read", "write", "start_notify", "stop_notify")
HELD_TICKS = 20


class Heartbeat:
    """A 1 ms ticker on the caller's loop; records how late each tick woke up.

    It also plays the slow radio: every backend operation is held at its gate until
    ``HELD_TICKS`` ticks after it started. A call that blocked the loop would stop the
    ticks, so its operation would never be let through.
    """

    def __init__(self, peripheral: ScriptedPeripheral) -> None:
        self.peripheral = peripheral
        self.worst = 0.0
        self.ticks = 0
        self._started = 0
        self._release_at: int | None = None

    async def run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, time.perf_counter() - before - 0.001)
            self.ticks += 1
            started = sum(self.peripheral.started.values())
            if started > self._started:
                self._started, self._release_at = started, self.ticks + HELD_TICKS
            if self._release_at is not None and self.ticks >= self._release_at:
                self._release_at = None
                self.peripheral.release()
                self.peripheral.hold(*OPS)


def test_async_api_never_blocks_the_callers_loop(world: ScriptedWorld) -> None:
    peripheral = heart_rate(world)
    peripheral.hold(*OPS)  # every backend operation takes HELD_TICKS ticks of the loop

    async def scenario() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        world.loop = loop
        beat = Heartbeat(peripheral)
        ticker = asyncio.create_task(beat.run())
        async with Runtime(loop=loop, backend=world.backend) as rt:
            dev = rt.async_device(peripheral.address)
            await dev.connect(timeout=5)
            await dev.write(CONTROL, b"\x01", timeout=5)
            assert await dev.read(SENSOR, timeout=5) == b"\x2a\x00"
            async with dev.notifications(HR_MEASUREMENT) as stream:
                assert HR_MEASUREMENT in peripheral.handlers
                peripheral.notify(HR_MEASUREMENT, b"\x10")
                note = await asyncio.wait_for(anext(stream), 5)
                assert note.data == b"\x10"
            assert HR_MEASUREMENT not in peripheral.handlers
            report = await rt.aclose(timeout=5)
            assert report.clean, report
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        return beat.worst, beat.ticks

    worst, ticks = asyncio.run(scenario())  # noqa: TID251 -- the test owns this loop
    # Seven held backend round trips ran; a blocking bridge would stall the ticks.
    assert ticks > 100
    assert worst < 0.25, f"the heartbeat was late by {worst:.3f} s"


def test_blocking_api_refuses_to_run_on_the_loop_it_needs(world: ScriptedWorld) -> None:
    peripheral = heart_rate(world)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        world.loop = loop
        async with Runtime(loop=loop, backend=world.backend) as rt:
            # rt.device() waits for its actors (not for the loop): allowed here.
            dev = rt.device(peripheral.address)
            with pytest.raises(WrongThread, match="async_device"):
                dev.connect(timeout=1)
            adev = rt.async_device(peripheral.address)
            await adev.connect(timeout=5)
            assert adev.state is ConnectionState.CONNECTED
            assert dev.state is ConnectionState.CONNECTED  # two facades, one device

    asyncio.run(scenario())  # noqa: TID251 -- the test owns this loop


def test_stream_drops_oldest_when_the_consumer_falls_behind(world: ScriptedWorld) -> None:
    peripheral = heart_rate(world)

    async def scenario() -> list[bytes]:
        loop = asyncio.get_running_loop()
        world.loop = loop
        async with Runtime(loop=loop, backend=world.backend) as rt:
            dev = rt.async_device(peripheral.address)
            await dev.connect(timeout=5)
            got: list[bytes] = []
            async with dev.notifications(HR_MEASUREMENT, maxsize=3) as stream:
                for i in range(10):
                    peripheral.notify(HR_MEASUREMENT, bytes([i]))
                # The ten notifications cross the NotificationActor and come back to
                # this loop; wait until the last one has arrived, then drain.
                while True:
                    note = await asyncio.wait_for(anext(stream), 5)
                    got.append(note.data)
                    if note.data == b"\x09":
                        break
                assert stream.dropped == 10 - len(got)
            return got

    got = asyncio.run(scenario())  # noqa: TID251 -- the test owns this loop
    assert got[-1] == b"\x09" and len(got) <= 10
    assert got == sorted(got)
