"""Honest connect errors: permanent failures fail connect() at once, naming cause and fix."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from blerun.actors import ConnectionState, Reason, ReconnectPolicy, Runtime
from blerun.actors.errors import BluetoothUnavailable, ConnectTimeout, DeviceNotFound
from blerun.sim import VirtualAir, heart_rate_monitor

from helpers import StateRecorder


def test_no_bluetooth_stack_fails_connect_within_a_second() -> None:
    # The platform backend, pointed at a D-Bus system bus that does not exist (as on a
    # machine or container without BlueZ): what a new user with no stack meets first.
    script = textwrap.dedent(
        """
        import time
        from blerun.actors import Runtime
        started = time.perf_counter()
        with Runtime() as rt:
            dev = rt.device("AA:BB:CC:DD:EE:FF")
            try:
                dev.connect(timeout=30)
            except Exception as exc:
                print(type(exc).__name__, dev.state.value, round(time.perf_counter() - started, 3))
                print(exc)
        """
    )
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/system_bus_socket"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    head, message = done.stdout.splitlines()[:2]
    name, state, elapsed = head.split()
    assert (name, state) == ("BluetoothUnavailable", "failed")
    assert float(elapsed) < 1.0
    assert "D-Bus" in message and "BlueZ" in message  # the cause, and how to fix it


@pytest.fixture
def air() -> Iterator[VirtualAir]:
    air = VirtualAir.start()
    yield air
    air.close(timeout=5.0)


def test_the_sim_on_the_wrong_loop_fails_at_once_and_says_why(air: VirtualAir) -> None:
    hr = air.add_peripheral(heart_rate_monitor(name="wrong-loop"))
    with Runtime(backend=air.client_backend) as rt:  # forgot loop=air.loop
        dev = rt.device(hr.address)
        rec = StateRecorder(dev)
        started = time.perf_counter()
        with pytest.raises(BluetoothUnavailable, match="loop") as info:
            dev.connect(timeout=30)
        assert time.perf_counter() - started < 1.0
        assert "loop=air.loop" in info.value.fix
        assert info.value.__cause__ is not None  # the sim's own message is kept
        failed = rec.wait_state(ConnectionState.FAILED)
        assert failed.reason is Reason.UNAVAILABLE


def test_an_unknown_device_fails_the_first_attempt_at_once(air: VirtualAir) -> None:
    policy = ReconnectPolicy(initial=60.0, cap=60.0, attempt_timeout=5.0)
    with Runtime(loop=air.loop, backend=air.client_backend, policy=policy) as rt:
        dev = rt.device("F0:00:00:00:00:99")  # nobody advertises this address
        with pytest.raises(DeviceNotFound) as info:
            dev.connect(timeout=30)
        assert "F0:00:00:00:00:99" in str(info.value) and info.value.__cause__ is not None
        # The wish stands: the device keeps trying under its policy, like after a timeout.
        assert dev.state is ConnectionState.RECONNECTING


def test_a_connect_timeout_names_and_chains_the_last_error(air: VirtualAir) -> None:
    hr = air.add_peripheral(heart_rate_monitor(name="refuser"))
    hr.refuse_connects(1000)
    policy = ReconnectPolicy(initial=0.01, cap=0.05, jitter=0.0, attempt_timeout=5.0)
    with Runtime(loop=air.loop, backend=air.client_backend, policy=policy) as rt:
        dev = rt.device(hr.address)
        with pytest.raises(ConnectTimeout) as info:
            dev.connect(timeout=0.5)
        assert "last error" in str(info.value)
        assert info.value.__cause__ is not None
        assert str(info.value.__cause__) in str(info.value)
