"""The package's front door: an import that explains itself, a close that leaves nothing."""

from __future__ import annotations

import asyncio
import gc
import logging
import subprocess
import sys
import textwrap

import pytest
from bleak import BleakClient

import blerun.sim
from blerun.gatt import HEART_RATE_MEASUREMENT as GATT_HEART_RATE_MEASUREMENT
from blerun.sim import HEART_RATE_MEASUREMENT, VirtualAir, heart_rate_monitor

from simkit import arun

_PEERS = 6


def _asyncio_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "asyncio"]


def test_import_without_bumble_says_how_to_install_it() -> None:
    # A fresh interpreter in which Bumble cannot be found, as without the sim extra.
    script = textwrap.dedent(
        """
        import importlib.abc, sys

        class HideBumble(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "bumble" or name.startswith("bumble."):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, HideBumble())
        try:
            import blerun.sim
        except ImportError as exc:
            print("ImportError:", exc)
        else:
            print("imported")
        import blerun.gatt  # the rest of blerun does not need Bumble
        print("gatt ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ImportError:"), result.stdout + result.stderr
    assert 'pip install "blerun[sim]"' in lines[0]
    assert lines[1] == "gatt ok"


def test_the_standard_uuids_are_blerun_gatts() -> None:
    assert HEART_RATE_MEASUREMENT is GATT_HEART_RATE_MEASUREMENT
    for name in ("NUS_TX", "NUS_RX", "NUS_SERVICE", "TEMPERATURE", "HEART_RATE_SERVICE"):
        assert name in blerun.sim.__all__


async def _connect_some(air: VirtualAir, *, subscribe: bool) -> None:
    for peripheral in air.peripherals[::2]:
        client = BleakClient(peripheral.address, backend=air.client_backend)
        await client.connect()
        if subscribe:
            await client.start_notify(HEART_RATE_MEASUREMENT, lambda _c, _d: None)


def test_closing_a_started_air_leaves_no_task_and_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="asyncio")
    air = VirtualAir.start()
    for i in range(_PEERS):
        air.add_peripheral(heart_rate_monitor(name=f"HR-{i}", rate_hz=50.0))
    air.run(_connect_some(air, subscribe=True))
    loop = air.loop
    air.close(timeout=5.0)
    assert loop.is_closed()
    # A task left pending on the closed loop is reported when it is collected (for an
    # application: at exit, after its own output).
    del air
    gc.collect()
    assert _asyncio_records(caplog) == []


def test_aclose_leaves_no_task_of_the_air_on_the_callers_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="asyncio")

    async def main() -> set[asyncio.Task[object]]:
        before = asyncio.all_tasks()
        air = await VirtualAir.create()
        for i in range(_PEERS):
            await air.add_peripheral_async(heart_rate_monitor(name=f"HR-{i}", rate_hz=50.0))
        await _connect_some(air, subscribe=False)
        await air.aclose()
        return asyncio.all_tasks() - before

    assert arun(main()) == set()
    gc.collect()
    assert _asyncio_records(caplog) == []
