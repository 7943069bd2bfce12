"""blerun demo: passes with nothing lost and nothing on stderr; safe under | head."""

from __future__ import annotations

import subprocess

import pytest

from clikit import child_env, command, run_child

pytestmark = pytest.mark.e2e


# The seeds are fixed so each run injects the same faults.


def test_demo_json_reports_zero_loss_and_exits_0() -> None:
    ran = run_child("demo", "--duration", "2", "--seed", "7", "--json", timeout=40)

    assert ran.code == 0, ran.out[-3000:] + ran.err[-3000:]
    assert ran.err == ""
    records = ran.records()
    assert records[0]["type"] == "start"
    summary = records[-1]
    assert summary["type"] == "summary"
    assert summary["passed"] is True
    assert summary["problems"] == []
    devices = {d["name"]: d for d in summary["devices"]}
    assert set(devices) == {"HR-1", "UART-1", "Sensor-1"}
    for name in ("HR-1", "UART-1"):
        assert devices[name]["sent"] > 0
        assert devices[name]["delivered"] == devices[name]["sent"]
        assert (devices[name]["lost"], devices[name]["duplicates"]) == (0, 0)
    assert devices["Sensor-1"]["reads_ok"] > 0
    assert devices["Sensor-1"]["reads_failed"] == 0
    # The schedule did its work: drops (each one survived), refused connects, a crash.
    # Each loss once, by device and version (a restarted actor may announce one again).
    losses = {
        (r["device"], r["version"])
        for r in records
        if r["type"] == "state" and r["reason"] == "link_lost"
    }
    assert len(losses) >= 2
    assert sum(d["drops_survived"] for d in devices.values()) == len(losses)
    assert sum(d["refused_connects"] for d in devices.values()) == 3
    assert summary["actor_restarts"] == 1
    assert summary["reconnect_ms"]["count"] == len(losses)
    assert summary["close_clean"] is True
    faults = [r["text"] for r in records if r["type"] == "fault"]
    assert any("crash the NotificationActor of HR-1" in f for f in faults)


def test_demo_text_ends_with_a_summary_and_a_verdict() -> None:
    ran = run_child("demo", "--duration", "1.5", "--devices", "4", "--seed", "11", timeout=40)

    assert ran.code == 0, ran.out[-3000:] + ran.err[-3000:]
    assert ran.err == ""
    lines = ran.out.splitlines()
    assert lines[0].startswith("blerun demo: HR-1 (heart-rate), UART-1 (uart), Sensor-1")
    assert "HR-2 (heart-rate)" in lines[0]
    assert "duplicates" in ran.out
    assert "reconnect after a drop: p50" in ran.out
    assert lines[-1].startswith("demo passed in")


def test_demo_under_head_exits_quietly() -> None:
    # `blerun demo | head -3`: the reader leaves after three lines.
    child = subprocess.Popen(
        command("demo"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    try:
        assert child.stdout is not None
        first = [child.stdout.readline() for _ in range(3)]
        child.stdout.close()
        _, err = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()

    assert all(first)
    assert child.returncode == 141
    assert err == b""


def test_demo_loses_nothing_when_a_crashed_device_drops_its_link_right_after() -> None:
    # Seed 41921 crashes HR-1's NotificationActor and drops its link at once: the restarted
    # actor used to lose that session's last notifications (fixed with the session carried
    # in each notification and checkpointed by the NotificationActor).
    ran = run_child("demo", "--duration", "2", "--seed", "41921", "--json", timeout=40)

    assert ran.code == 0, ran.out[-3000:] + ran.err[-3000:]
    records = ran.records()
    faults = [r["text"] for r in records if r["type"] == "fault"]
    crash = faults.index("crash the NotificationActor of HR-1, mid-stream")
    injected = [f for f in faults[crash + 1 :] if "restarted by its supervisor" not in f]
    assert injected[0] == "drop the link of HR-1"  # the schedule this test is about
    summary = records[-1]
    assert summary["passed"] is True, summary["problems"]
    assert all(d.get("lost", 0) == 0 for d in summary["devices"])
