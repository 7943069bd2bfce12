"""The air across a process boundary: backends pickle, and a spawned child reaches the air.

The child runs bleak on its own loop (``asyncio.Runner``), with the unpickled backend
classes, as a radio host process will: its own central, whose controller the air serves
in this process over a local socket. Fault controls stay in this process.
"""

from __future__ import annotations

import io
import multiprocessing
import pickle
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

import pytest
from bleak import BleakClient
from bleak.exc import BleakError

from blerun.sim import HEART_RATE_MEASUREMENT, VirtualAir, heart_rate_monitor

from simkit import (
    BOUND,
    Collector,
    Disconnects,
    air_owner_session,
    arun,
    expect,
    remote_session,
)

SPAWN = multiprocessing.get_context("spawn")
_JOIN = 10.0


@pytest.fixture
def spawn() -> Iterator[Callable[..., tuple[SpawnProcess, Connection]]]:
    """Start children (spawn start method); each is joined, or killed, after the test."""
    children: list[tuple[SpawnProcess, Connection]] = []

    def start(target: Callable[..., None], *args: Any) -> tuple[SpawnProcess, Connection]:
        ours, theirs = SPAWN.Pipe()
        process = SPAWN.Process(target=target, args=(*args, theirs), daemon=True)
        process.start()
        theirs.close()
        children.append((process, ours))
        return process, ours

    yield start
    for process, pipe in children:
        process.join(_JOIN)
        if process.is_alive():
            process.kill()
            process.join(_JOIN)
        pipe.close()
        assert not process.is_alive(), f"child {process.pid} survived kill()"


def test_backends_pickle_to_themselves_in_their_own_process() -> None:
    with VirtualAir.start() as air:
        hci1 = air.add_adapter()
        for backend in (
            air.client_backend,
            air.scanner_backend,
            hci1.client_backend,
            hci1.scanner_backend,
        ):
            assert pickle.loads(pickle.dumps(backend)) is backend
            buffer = io.BytesIO()
            ForkingPickler(buffer).dump(backend)
            assert pickle.loads(buffer.getvalue()) is backend


def test_a_spawned_child_connects_subscribes_and_hears_a_parent_side_drop(
    spawn: Callable[..., tuple[SpawnProcess, Connection]],
) -> None:
    with VirtualAir.start() as air:
        hr = air.add_peripheral(heart_rate_monitor(name="HR-far", rate_hz=100.0))
        process, pipe = spawn(remote_session, air.client_backend, air.scanner_backend, hr.address)
        assert expect(pipe, "found") == "HR-far"
        assert expect(pipe, "connected") == 247
        assert hr.is_connected()
        # Notifications cross the socket in order, from the first after subscribing.
        assert expect(pipe, "values")[:5] == [0, 1, 2, 3, 4]
        # A fault armed in this process: the child's disconnected_callback runs.
        assert hr.drop_link()
        assert expect(pipe, "disconnected") == 1
        assert expect(pipe, "done") is None
        process.join(BOUND)
        assert process.exitcode == 0
        counters = hr.wait_until(lambda c: c.disconnects == 1)
        assert counters.connects == 1 and counters.drops_injected == 1


def test_two_children_are_two_centrals_of_one_air(
    spawn: Callable[..., tuple[SpawnProcess, Connection]],
) -> None:
    with VirtualAir.start() as air:
        one = air.add_peripheral(heart_rate_monitor(name="HR-A", rate_hz=100.0))
        two = air.add_peripheral(heart_rate_monitor(name="HR-B", rate_hz=100.0))
        children = [
            spawn(remote_session, air.client_backend, air.scanner_backend, p.address)
            for p in (one, two)
        ]
        for _, pipe in children:
            expect(pipe, "found")
            expect(pipe, "connected")
            expect(pipe, "values")
        assert one.is_connected() and two.is_connected()
        for peripheral, (process, pipe) in zip((one, two), children, strict=True):
            peripheral.drop_link()
            assert expect(pipe, "disconnected") == 1
            expect(pipe, "done")
            process.join(BOUND)
            assert process.exitcode == 0


def test_a_child_that_dies_releases_its_link(
    spawn: Callable[..., tuple[SpawnProcess, Connection]],
) -> None:
    with VirtualAir.start() as air:
        hr = air.add_peripheral(heart_rate_monitor(name="HR-orphan", rate_hz=100.0))
        process, pipe = spawn(remote_session, air.client_backend, air.scanner_backend, hr.address)
        for tag in ("found", "connected", "values"):
            expect(pipe, tag)
        process.kill()
        process.join(BOUND)
        # Its controller goes with its socket: the peripheral's link times out.
        counters = hr.wait_until(lambda c: c.disconnects == 1, timeout=BOUND)
        assert counters.connects == 1 and counters.active_subscriptions == 0


def test_closing_the_air_ends_the_childs_links(
    spawn: Callable[..., tuple[SpawnProcess, Connection]],
) -> None:
    air = VirtualAir.start()
    try:
        hr = air.add_peripheral(heart_rate_monitor(name="HR-closing", rate_hz=100.0))
        process, pipe = spawn(remote_session, air.client_backend, air.scanner_backend, hr.address)
        for tag in ("found", "connected", "values"):
            expect(pipe, tag)
    finally:
        air.close(timeout=5.0)
    # The peripheral powered off with the air; the child hears it as a disconnection.
    assert expect(pipe, "disconnected") == 1
    expect(pipe, "done")
    process.join(BOUND)
    assert process.exitcode == 0


def test_the_air_process_dying_ends_links_in_this_process(
    spawn: Callable[..., tuple[SpawnProcess, Connection]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Here the *test* process is the other side: the air lives in a child, and its
    # backend class arrives through the pipe (ForkingPickler) and unpickles to a class
    # whose central reaches the child's air through its socket. Killed, the child cannot
    # remove its socket's directory: it makes it under pytest's tmp_path.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    owner, pipe = spawn(air_owner_session)
    client_backend, address = expect(pipe, "air")

    async def main() -> int:
        lost = Disconnects()
        values = Collector()
        client = BleakClient(address, lost, backend=client_backend)
        await client.connect()
        await client.start_notify(HEART_RATE_MEASUREMENT, values)
        await values.wait_for(3)
        owner.kill()  # no power-off, no goodbye: the socket just closes
        await lost.wait()
        assert not client.is_connected
        with pytest.raises(BleakError):
            await client.connect()
        return lost.count

    assert arun(main()) == 1
