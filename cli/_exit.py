"""Exit codes, and the one line a blerun error becomes on stderr."""

from __future__ import annotations

import enum

from blerun.actors.errors import (
    BleRuntimeError,
    BluetoothUnavailable,
    CharacteristicNotFound,
    ConnectTimeout,
    DeviceNotFound,
    GaveUp,
    OperationTimeout,
    UsageError,
)


class ExitCode(enum.IntEnum):
    """What the ``blerun`` command's exit status tells a script."""

    OK = 0
    """Done."""
    FAILED = 1
    """The link or the device failed, or the demo lost data."""
    USAGE = 2
    """Bad arguments: nothing was sent."""
    NOT_FOUND = 3
    """The device (or the characteristic) was not found."""
    GAVE_UP = 4
    """Could not connect in time, or the reconnect policy gave up."""
    TIMEOUT = 5
    """An operation on a connected device waited past its timeout."""
    UNAVAILABLE = 6
    """No Bluetooth to use: no stack or adapter, adapter off, permission denied."""
    INTERRUPTED = 130
    """Ctrl-C (128 + SIGINT), after a bounded shutdown."""
    OUTPUT_CLOSED = 141
    """The reader of the output went away (``| head``): 128 + SIGPIPE, as a shell says."""


# Most specific first: the first class the error is an instance of decides.
_CODES: tuple[tuple[type[BleRuntimeError], ExitCode], ...] = (
    (BluetoothUnavailable, ExitCode.UNAVAILABLE),
    (CharacteristicNotFound, ExitCode.NOT_FOUND),
    (UsageError, ExitCode.USAGE),
    (DeviceNotFound, ExitCode.NOT_FOUND),
    (GaveUp, ExitCode.GAVE_UP),
    (ConnectTimeout, ExitCode.GAVE_UP),
    (OperationTimeout, ExitCode.TIMEOUT),
    (BleRuntimeError, ExitCode.FAILED),
)


def exit_code_for(error: BleRuntimeError) -> ExitCode:
    """The exit code a blerun error ends the command with."""
    for cls, code in _CODES:
        if isinstance(error, cls):
            return code
    raise AssertionError("unreachable: BleRuntimeError closes the table")


def one_line(error: BaseException) -> str:
    """``ErrorClass: message``, on one line, with the error's ``fix`` if it has one."""
    text = " ".join(str(error).split())
    # BluetoothUnavailable carries what to do as ``fix`` (its message ends with it).
    fix = getattr(error, "fix", None)
    if isinstance(fix, str) and fix and fix not in text:
        text = f"{text} (fix: {' '.join(fix.split())})"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
