"""The soak (``python -m bench.soak``) in its quick form: cycles of drop and reconnect leave
nothing behind. The 10,000-cycle figures are in the README; this keeps the bench honest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_a_short_soak_leaves_nothing_behind() -> None:
    # A fresh process: thread, descriptor and object counts are its own.
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--cycles", "40", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout.splitlines()[-1])
    assert figures["problems"] == []
    assert figures["links_made"] >= 41  # the first connect, then one (or more) per cycle
    assert figures["notifications_delivered"] >= 40  # at least one per session
    before, after = figures["threads"]
    assert after == before
    assert figures["peripheral_subscriptions_after_close"] == 0
