"""Running the ``blerun`` command from tests: in process, or as a child process."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from blerun.cli import main


@dataclasses.dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    """``blerun ARGS`` in this process (faster than a child; same code path)."""
    code = main(list(args))
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)


def command(*args: str) -> list[str]:
    """The argv of ``python -m blerun ARGS`` in a child process."""
    return [sys.executable, "-W", "error", "-m", "blerun", *args]


def child_env() -> dict[str, str]:
    # Plain, uncoloured output whatever the terminal the tests run in.
    return {**os.environ, "NO_COLOR": "1", "TERM": "dumb"}


def run_child(*args: str, timeout: float = 30.0) -> Ran:
    done = subprocess.run(
        command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=child_env(),
    )
    return Ran(done.returncode, done.stdout, done.stderr)
