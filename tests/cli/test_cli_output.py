"""What a person sees: structured logs with -v, a spinner and a live view on a terminal."""

from __future__ import annotations

import io
import json

import pytest

from blerun.cli import main
from blerun.cli._output import Output

from clikit import run

pytestmark = pytest.mark.e2e


class FakeTerminal(io.StringIO):
    """Text output that says it is a terminal, as a console does."""

    def isatty(self) -> bool:
        return True


def test_verbose_logs_carry_the_runtimes_fields(capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, "-v", "read", "F0:00:00:00:00:01", "2a38", "--sim")

    assert ran.code == 0
    connected = [line for line in ran.err.splitlines() if "connecting -> connected" in line]
    assert connected, ran.err
    assert " info blerun.actors." in connected[0]
    assert "device=F0:00:00:00:00:01" in connected[0]
    assert "state_version=2" in connected[0]


def test_verbose_logs_are_json_lines_with_json(capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, "read", "F0:00:00:00:00:01", "2a38", "--sim", "--json", "-v")

    assert ran.code == 0
    records = [json.loads(line) for line in ran.err.splitlines()]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any(r.get("reason") == "connected" and r["state_version"] == 2 for r in records)


def test_without_verbose_nothing_is_logged(capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, "read", "F0:00:00:00:00:01", "2a38", "--sim")

    assert (ran.code, ran.err) == (0, "")


def test_the_spinner_shows_on_a_terminal_only() -> None:
    terminal, pipe = FakeTerminal(), io.StringIO()

    with Output(json_mode=False, stderr=terminal).progress("connecting to F0:00:00:00:00:01"):
        pass
    with Output(json_mode=False, stderr=pipe).progress("connecting to F0:00:00:00:00:01"):
        pass
    with Output(json_mode=True, stderr=FakeTerminal()).progress("connecting"):
        pass

    assert "connecting to F0:00:00:00:00:01" in terminal.getvalue()
    assert pipe.getvalue() == ""


def test_the_demo_draws_a_live_table_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    screen = FakeTerminal()
    monkeypatch.setattr("sys.stdout", screen)
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: headers on one line

    code = main(["demo", "--duration", "1", "--seed", "3"])

    drawn = screen.getvalue()
    assert code == 0, drawn[-3000:]
    for column in ("state", "version", "attempt", "next delay", "notif/s", "drops survived"):
        assert column in drawn
    assert "HR-1 F0:00:00:00:00:01" in drawn
    assert drawn.count("drops survived") >= 3  # redrawn in place while it ran, then kept
    assert "demo passed in" in drawn
    assert capsys.readouterr().err == ""
