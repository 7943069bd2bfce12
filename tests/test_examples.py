"""Every example runs as a user would run it, and shows what it says it shows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", *args],
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
        cwd=ROOT,
    )


def test_every_example_is_run_here() -> None:
    covered = {
        "sync_script.py",
        "asyncio_server.py",
        "pykka_app.py",
        "many_devices.py",
    }
    assert {p.name for p in EXAMPLES.glob("*.py")} == covered


def test_every_example_shows_the_change_for_real_hardware() -> None:
    # The emulated runtimes all name the sim's backend; the hardware line does not.
    hardware_runtime = re.compile(r"Runtime\((?:(?!backend)[^)])*\)")
    for example in EXAMPLES.glob("*.py"):
        text = example.read_text()
        assert re.search(r"(Real|On) hardware", text), example.name
        assert hardware_runtime.search(text), example.name


def test_sync_script() -> None:
    done = run("examples/sync_script.py")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("found Polar H10 1A2B3C at ")
    assert "sensor location: 01 (01 = chest)" in lines
    assert lines.count("heart rate: 72 bpm") == 5
    assert "state: disconnecting -> disconnected (disconnected)" in lines


def test_asyncio_server_keeps_serving_while_streaming() -> None:
    done = run("examples/asyncio_server.py")

    assert done.returncode == 0, done.stderr
    assert done.stdout.count("client got: heart rate: 72 bpm") == 5
    assert "the loop never woke more than" in done.stdout


def test_pykka_app_actor_hears_events_and_sends_commands() -> None:
    done = run("examples/pykka_app.py")

    assert done.returncode == 0, done.stderr
    assert "coach: strap connected" in done.stdout
    assert "coach: the strap acknowledged the reset" in done.stdout
    assert done.stdout.rstrip().endswith("done after 10 beats")


def test_many_devices_under_one_supervisor() -> None:
    done = run("examples/many_devices.py")

    assert done.returncode == 0, done.stderr
    assert "restarted by the supervisor; every stream still flowing" in done.stdout
    assert done.stdout.count(": connected, ") == 5
    assert "clean: True" in done.stdout


def test_a_users_own_pytest_tests_pass() -> None:
    # examples/testing_your_app: an app and its tests (radio faults, message faults, an
    # actor crash, the invariant checker), run as its readers would run them.
    done = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "examples/testing_your_app")

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "4 passed" in done.stdout
