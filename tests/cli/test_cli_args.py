"""The command line's grammar: help for every verb, one-line errors, exit codes."""

from __future__ import annotations

import pytest

from blerun.actors.errors import (
    BleRuntimeError,
    BluetoothUnavailable,
    CharacteristicNotFound,
    ConnectFailed,
    ConnectTimeout,
    DeviceNotFound,
    Disconnected,
    GattError,
    GaveUp,
    InvalidAddress,
    LinkError,
    OperationTimeout,
    RuntimeClosed,
    UsageError,
)
from blerun.cli import ExitCode
from blerun.cli._exit import exit_code_for, one_line
from blerun.cli._parse import build_parser

from clikit import run

VERBS = ["scan", "services", "read", "write", "monitor", "demo", "chaos"]


def test_help_lists_every_verb_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, "--help")

    assert ran.code == 0
    for verb in VERBS:
        assert verb in ran.out
    assert "130 interrupted" in ran.out


@pytest.mark.parametrize("verb", VERBS)
def test_each_verb_has_help(capsys: pytest.CaptureFixture[str], verb: str) -> None:
    ran = run(capsys, verb, "--help")

    assert ran.code == 0
    assert f"usage: blerun {verb}" in ran.out
    assert "--json" in ran.out


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        ([], "required: COMMAND"),
        (["fly"], "invalid choice: 'fly'"),
        (["read"], "required: ADDRESS, UUID"),
        (["read", "F0:00:00:00:00:01", "not-a-uuid"], "is not a Bluetooth UUID"),
        (["write", "F0:00:00:00:00:01", "2a39", "zz"], "is not hex bytes"),
        (["monitor", "F0:00:00:00:00:01"], "required: --notify"),
        (["monitor", "F0:00:00:00:00:01", "--notify", "2a37", "--count", "0"], "at least 1"),
        (["scan", "--timeout", "-1"], "positive number of seconds"),
        (["chaos", "--runs", "0"], "at least 1"),
        (["chaos", "--radio", "bluez"], "invalid choice: 'bluez'"),
        (["demo", "--devices", "many"], "not a whole number"),
        (
            ["monitor", "F0:00:00:00:00:01", "--notify", "2a37", "--sim-drop-every", "5"],
            "needs --sim",
        ),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], complaint: str
) -> None:
    ran = run(capsys, *args)

    assert ran.code == ExitCode.USAGE
    assert int(ExitCode.USAGE) == 2  # the documented status scripts test for
    assert ran.out == ""
    assert ran.err.count("\n") == 1, ran.err
    assert complaint in ran.err
    assert "Traceback" not in ran.err


def test_an_address_the_runtime_refuses_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No Bluetooth is touched: the runtime refuses the address before anything is sent.
    ran = run(capsys, "read", "not-an-address", "2a19")

    assert ran.code == 2
    assert ran.err.startswith("blerun: InvalidAddress: ")
    assert "'not-an-address'" in ran.err
    assert ran.err.count("\n") == 1


def test_json_and_verbose_are_accepted_before_and_after_the_verb() -> None:
    parser = build_parser()
    before = parser.parse_args(["--json", "-vv", "scan"])
    after = parser.parse_args(["scan", "--json", "-v"])
    neither = parser.parse_args(["scan"])

    assert (before.json, before.verbose) == (True, 2)
    assert (after.json, after.verbose) == (True, 1)
    assert (neither.json, neither.verbose) == (False, 0)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidAddress("bad"), ExitCode.USAGE),
        (UsageError("bad"), ExitCode.USAGE),
        (CharacteristicNotFound("2a19", address="AA"), ExitCode.NOT_FOUND),
        (DeviceNotFound("gone"), ExitCode.NOT_FOUND),
        (GaveUp("spent", attempts=3, address="AA"), ExitCode.GAVE_UP),
        (ConnectTimeout("slow", timeout=1.0, address="AA"), ExitCode.GAVE_UP),
        (OperationTimeout("slow", timeout=1.0, address="AA"), ExitCode.TIMEOUT),
        (ConnectFailed("refused"), ExitCode.FAILED),
        (Disconnected("dropped"), ExitCode.FAILED),
        (LinkError("no stack"), ExitCode.FAILED),
        (GattError(code=0x80, uuid="2a39", address="AA"), ExitCode.FAILED),
        (BluetoothUnavailable("no stack", fix="start it", address="AA"), ExitCode.UNAVAILABLE),
        (RuntimeClosed("closed"), ExitCode.FAILED),
        (BleRuntimeError("anything else"), ExitCode.FAILED),
    ],
)
def test_each_error_maps_to_its_exit_code(error: BleRuntimeError, code: ExitCode) -> None:
    assert exit_code_for(error) is code


def test_an_error_is_one_line_with_its_class() -> None:
    assert one_line(LinkError("no adapter\n  found")) == "LinkError: no adapter found"
    assert one_line(LinkError("")) == "LinkError"


def test_the_fix_is_said_once() -> None:
    # BluetoothUnavailable's message already ends with its fix.
    error = BluetoothUnavailable("no stack", fix="start bluetoothd", address=None)
    assert one_line(error) == "BluetoothUnavailable: no stack; start bluetoothd"
    error.fix = "something else"
    assert one_line(error).endswith("(fix: something else)")
