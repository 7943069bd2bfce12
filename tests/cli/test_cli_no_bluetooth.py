"""On a machine with no Bluetooth stack, the command says so at once, in one line, exit 6.

These run only where there is no D-Bus system bus (as on CI here); elsewhere the same
commands would reach a real stack.
"""

from __future__ import annotations

import pytest

from clikit import run
from helpers import no_bluetooth_stack

pytestmark = pytest.mark.skipif(not no_bluetooth_stack(), reason="a Bluetooth stack is here")


@pytest.mark.parametrize(
    "args",
    [["scan", "--timeout", "5"], ["read", "F3:4A:7B:21:9C:05", "2a19", "--timeout", "20"]],
    ids=["scan", "connect"],
)
def test_no_stack_is_one_line_with_the_fix_and_exit_6(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    ran = run(capsys, *args)

    assert ran.code == 6
    lines = [line for line in ran.err.splitlines() if line.startswith("blerun: ")]
    assert len(lines) == 1, ran.err
    assert lines[0].startswith("blerun: BluetoothUnavailable: no Bluetooth stack")
    assert "D-Bus" in lines[0]
    assert "bluetoothd" in lines[0]  # the fix
