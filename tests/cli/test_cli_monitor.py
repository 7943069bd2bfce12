"""monitor: streams with timestamps, survives link loss, shows state changes, ends on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess

import pytest

from blerun.gatt import HEART_RATE_MEASUREMENT

from clikit import child_env, command, run

pytestmark = pytest.mark.e2e

ADDRESS = "F0:00:00:00:00:07"


def _sequence(data_hex: str) -> int:
    # The emulated monitor carries a sequence number in Energy Expended (bytes 2-3, LE).
    return int.from_bytes(bytes.fromhex(data_hex)[2:4], "little")


def test_monitor_survives_link_loss_without_losing_a_notification(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ran = run(
        capsys,
        "monitor", ADDRESS, "--notify", "2a37", "--sim", "--sim-drop-every", "8",
        "--count", "20", "--json",
    )  # fmt: skip

    assert ran.code == 0, ran.err
    records = ran.records()
    notes = [r for r in records if r["type"] == "notification"]
    states = [r for r in records if r["type"] == "state"]
    assert len(notes) == 20
    assert {n["uuid"] for n in notes} == {HEART_RATE_MEASUREMENT}
    assert {n["address"] for n in notes} == {ADDRESS}
    # Consecutive sequence numbers across the reconnections: nothing lost, nothing twice.
    assert [_sequence(n["data"]) for n in notes] == list(range(20))
    losses = [s for s in states if s["reason"] == "link_lost"]
    assert len(losses) == 2, states
    assert all(s["new"] == "reconnecting" for s in losses)
    assert sum(s["new"] == "connected" for s in states) == 3
    assert [s["version"] for s in states] == sorted({s["version"] for s in states})
    assert all(r["time"] for r in records)


def test_monitor_text_lines_show_time_uuid_name_and_payload(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ran = run(capsys, "monitor", ADDRESS, "--notify", "2a37", "--sim", "--count", "2")

    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert "state disconnected -> connecting (user_connect)" in lines[0]
    note = lines[-1].split("  ")
    assert len(note[0]) == len("12:34:56.789")
    assert note[1:] == ["2a37 (Heart Rate Measurement)", "#2", "08 48 01 00"]


def test_monitor_utf8_format_shows_text(capsys: pytest.CaptureFixture[str]) -> None:
    # The emulated UART device echoes nothing unless written to: a duration ends the run.
    ran = run(
        capsys,
        "monitor", ADDRESS, "--notify", "6e400003-b5a3-f393-e0a9-e50e24dcca9e",
        "--sim", "--sim-profile", "uart", "--format", "utf8", "--duration", "0.2",
    )  # fmt: skip

    assert ran.code == 0, ran.err
    assert "state connecting -> connected (connected)" in ran.out


@pytest.mark.parametrize(
    ("args", "started"),
    [
        (["monitor", ADDRESS, "--notify", "2a37", "--sim", "--json"], '"type":"notification"'),
        (["demo", "--json"], '"type":"fault"'),
    ],
    ids=["monitor", "demo"],
)
def test_ctrl_c_ends_with_130_and_nothing_on_stderr(args: list[str], started: str) -> None:
    child = subprocess.Popen(
        command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        assert child.stdout is not None
        while started not in child.stdout.readline():
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
        child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=15)  # the shutdown bound is about 4 s
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()

    assert child.returncode == 130
    assert err == ""
