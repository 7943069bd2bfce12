"""Bounded, idempotent shutdown, even while the radio hangs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from blerun.actors import ConnectionState, Runtime
from blerun.actors.errors import RuntimeClosed

from helpers import start_connect
from scripted import STUBBORN, ScriptedWorld, heart_rate

TESTS = Path(__file__).parent


def _hanging_runtime(world: ScriptedWorld) -> tuple[Runtime, list[object]]:
    """A runtime with one device whose connect hangs and one whose disconnect hangs."""
    rt = Runtime(backend=world.backend).start()
    world.loop = rt.loop
    stuck_connect = heart_rate(world, "AA:BB:CC:DD:EE:01")
    stuck_disconnect = heart_rate(world, "AA:BB:CC:DD:EE:02", hang_disconnect=STUBBORN)
    world.run(lambda: stuck_connect.connect_script.append(STUBBORN))
    a = rt.device(stuck_connect.address)
    b = rt.device(stuck_disconnect.address)
    b.connect(timeout=5)
    pending = start_connect(a)
    stuck_connect.wait_until(lambda p: not p.connect_script)  # the attempt hangs in bleak
    return rt, [a, b, pending]


def test_close_returns_in_bound_while_connect_and_disconnect_hang(world: ScriptedWorld) -> None:
    rt, (a, b, pending) = _hanging_runtime(world)
    started = time.perf_counter()
    report = rt.close(timeout=1.0)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.5, report
    assert report.elapsed < 1.5
    assert not report.clean  # the wedged disconnect is reported, not waited for
    assert report.pending_teardowns or report.unjoined
    with pytest.raises(RuntimeClosed):
        pending.result(1)  # type: ignore[attr-defined]
    assert a.state is ConnectionState.CLOSED  # type: ignore[attr-defined]
    assert b.state is ConnectionState.CLOSED  # type: ignore[attr-defined]


def test_a_process_running_that_scenario_exits_by_itself(tmp_path: Path) -> None:
    script = tmp_path / "scenario.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(TESTS)!r})
            from scripted import ScriptedWorld
            from test_shutdown import _hanging_runtime
            rt, _ = _hanging_runtime(ScriptedWorld())
            print(rt.close(timeout=1.0).elapsed < 1.5)
            rt2, _ = _hanging_runtime(ScriptedWorld())
            print("forgot to close rt2")
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=20, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "forgot", "to", "close", "rt2"]


def test_close_is_idempotent_and_refuses_new_work(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime()
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    first = rt.close(timeout=2)
    assert first.clean and rt.close() is first
    with pytest.raises(RuntimeClosed):
        dev.read("2a6e")
    with pytest.raises(RuntimeClosed):
        dev.connect(timeout=1)
    with pytest.raises(RuntimeClosed):
        rt.device("AA:BB:CC:DD:EE:09")
    dev.disconnect()  # teardown never raises
    assert peripheral.client is None  # the link was torn down (the loop is gone now)


def test_context_manager_closes(world: ScriptedWorld) -> None:
    peripheral = heart_rate(world)
    with Runtime(backend=world.backend) as rt:
        world.loop = rt.loop
        dev = rt.device(peripheral.address)
        dev.connect(timeout=5)
    assert rt.closed and dev.state is ConnectionState.CLOSED
    assert peripheral.client is None


def test_disconnect_is_bounded_when_the_backend_hangs(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world, hang_disconnect=True)
    rt = make_runtime(disconnect_timeout=0.2)
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    started = time.perf_counter()
    dev.disconnect(timeout=5)
    assert time.perf_counter() - started < 2.0
    assert dev.state is ConnectionState.DISCONNECTED
    dev.disconnect(timeout=5)  # idempotent


def test_close_before_start_and_without_devices() -> None:
    assert Runtime().close().clean
    rt = Runtime().start()
    assert rt.close(timeout=1).clean
