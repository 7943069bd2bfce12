"""The README's examples run as written, and its commands are the ones that are tested.

Python blocks run as scripts. The one block fenced ``python hardware`` needs a device, so
it does not run here; instead it must be exactly its ``--sim`` twin (the block after it,
which runs) without the twin's lines marked ``# sim``. The ``blerun`` command lines run
as they are (they all use ``--sim``).
"""

from __future__ import annotations

import difflib
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from blerun.cli import main

from helpers import no_bluetooth_stack

README = Path(__file__).parent.parent / "README.md"
TEXT = README.read_text()
FENCES = re.findall(r"^```(\S*)( [^\n]*)?\n(.*?)^```", TEXT, flags=re.S | re.M)
BLOCKS = [body for lang, tag, body in FENCES if lang == "python" and not tag]
HARDWARE = [body for lang, tag, body in FENCES if lang == "python" and tag == " hardware"]
SHELL = [body for lang, tag, body in FENCES if lang == "sh"]
HARDWARE_AT = next(i for i, (_, tag, _) in enumerate(FENCES) if tag == " hardware")
COMMANDS = [line for body in SHELL for line in body.splitlines() if line.startswith("blerun ")]


def test_every_fence_is_of_a_kind_this_file_checks() -> None:
    kinds = {(lang, tag) for lang, tag, _ in FENCES}
    assert kinds <= {("python", ""), ("python", " hardware"), ("sh", ""), ("", "")}, kinds
    assert len(BLOCKS) >= 5
    assert len(HARDWARE) == 1
    assert len(COMMANDS) >= 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, tmp_path: Path) -> None:
    script = tmp_path / f"example_{index}.py"
    script.write_text(BLOCKS[index])
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_hardware_example_is_its_sim_twin_without_the_sim_lines() -> None:
    (hardware,) = HARDWARE
    twin = FENCES[HARDWARE_AT + 1][2]
    ours, theirs = hardware.splitlines(), twin.splitlines()
    replaced: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=ours, b=theirs).get_opcodes():
        if op == "equal":
            continue
        assert op in ("insert", "replace"), (op, ours[i1:i2])
        assert all("# sim" in line for line in theirs[j1:j2]), theirs[j1:j2]
        replaced += ours[i1:i2]
    # The one line the twin replaces: the runtime on the platform's Bluetooth.
    assert replaced == ["with Runtime() as rt:"]
    assert len(ours) <= 15


@pytest.mark.skipif(not no_bluetooth_stack(), reason="a Bluetooth stack is here")
def test_the_hardware_example_as_written_stops_at_the_missing_stack(tmp_path: Path) -> None:
    # Everything up to the radio runs as written; with no Bluetooth stack on this machine,
    # connect() fails at once (it is given 20 s) with the error that says what to do.
    script = tmp_path / "hardware.py"
    script.write_text(HARDWARE[0])
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("blerun.actors.errors.BluetoothUnavailable: no Bluetooth stack"), last


def test_the_sim_twin_comes_right_after_the_hardware_example() -> None:
    lang, tag, body = FENCES[HARDWARE_AT + 1]
    assert (lang, tag) == ("python", "")
    assert "from blerun.sim import" in body


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_runs(line: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = shlex.split(line)[1:]
    assert "--sim" in args, "a command the tests run works without hardware"

    code = main(args)

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out


def test_readme_commands_are_what_ci_and_the_demo_test_run() -> None:
    demo_command, test_command = [body.strip() for body in SHELL[:2]]
    ci = (README.parent / ".ci" / "run").read_text()
    assert test_command.startswith("python3 -m venv .venv && ")
    install_and_test = test_command.split(" && ", 1)[1]
    assert install_and_test.replace("pip install -e", "pip install -q -e") in ci
    # The demo: tests/cli/test_cli_demo.py runs `blerun demo` (through python -m blerun).
    assert demo_command.startswith("python3 -m venv .venv && ")
    assert demo_command.endswith(".venv/bin/blerun demo")
