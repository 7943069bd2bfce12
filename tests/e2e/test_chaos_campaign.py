"""The chaos campaign as CI runs it (``blerun chaos --runs 50``): 50 scenarios over the
sim, both radio modes, checked by the invariant checker; not one invariant may break. A
failing run is printed with its seed and plan (``blerun chaos --runs 1 --seed S --radio R``
replays it)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(600)
def test_fifty_chaos_runs_break_no_invariant() -> None:
    # A process of its own: the campaign starts and stops 50 runtimes, airs and radio
    # hosts, and counts threads and processes against its own start.
    done = subprocess.run(
        [sys.executable, "-m", "blerun", "chaos", "--runs", "50", "--seed", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    result = json.loads(done.stdout[done.stdout.index("{") :])
    failed = result["failed_runs"]
    assert done.returncode == 0 and not failed, json.dumps(failed, indent=2) + done.stderr
    assert result["runs"] == 50
    assert result["by_radio"] == {"inprocess": 40, "process": 10}
    assert set(result["violations"].values()) == {0}
    assert result["faults_injected"] > 300  # it did inject faults
    notifications = result["notifications"]
    assert notifications["delivered"] > 0
