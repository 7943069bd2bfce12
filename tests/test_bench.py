"""``python -m bench --quick`` runs every figure of the performance issue and writes its
outputs. Timings are not asserted: they depend on the machine and its load."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The rows of the table, one figure each (1,000 devices gives four).
FIGURES = {
    "pipeline_flat_out",
    "cpu_per_notification_10k",
    "latency_p99_10k",
    "sim_notify_ratio",
    "read_write_round_trip",
    "devices_threads",
    "devices_rss_per_device",
    "devices_cpu_at_1hz",
    "devices_close",
    "drop_to_first_notification",
    "close_radio_hung",
    "user_loop_heartbeat_p99",
    "sim_latency_p99",
}
# With the radio in a host process: the figures over the sim, and the host's own.
PROCESS_FIGURES = {
    "sim_notify_ratio",
    "read_write_round_trip",
    "drop_to_first_notification",
    "user_loop_heartbeat_p99",
    "sim_latency_p99",
    "host_freeze_recovery",
    "host_rss",
    "close_host_frozen",
}
# About a minute on two busy cores; the bound only catches a hang.
_BOUND_S = 400


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _quick_bench(out: Path, *args: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=_BOUND_S,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


@pytest.mark.timeout(_BOUND_S + 60)
def test_quick_run_writes_every_figure_with_its_baselines(tmp_path: Path) -> None:
    _quick_bench(tmp_path)

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["errors"] == []
    assert results["quick"] is True
    assert results["radios"] == ["inprocess"]
    machine = results["machine"]
    assert machine["cpu"] and machine["cores"] >= 1 and machine["python"]
    assert set(machine["versions"]) >= {"bleak", "bumble", "pykka"}
    figures = {f["name"]: f for f in results["figures"]}
    assert set(figures) == FIGURES
    for name, figure in figures.items():
        assert _finite(figure["blerun"]), name
        assert figure["baselines"], name
        assert all(_finite(v) for v in figure["baselines"].values()), name
        assert figure["ratio"] is None or _finite(figure["ratio"]), name
        assert isinstance(figure["met"], bool), name
        assert figure["goal"] and figure["radio"] == "inprocess", name

    table = (tmp_path / "results.md").read_text()
    for figure in figures.values():
        assert figure["title"] in table
    assert machine["cpu"] in table
    png = (tmp_path / "results.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.timeout(_BOUND_S + 60)
def test_quick_process_mode_run_measures_the_host_figures(tmp_path: Path) -> None:
    _quick_bench(tmp_path, "--radio", "process")

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["errors"] == []
    assert results["radios"] == ["process"]
    figures = {f["name"]: f for f in results["figures"]}
    assert set(figures) == PROCESS_FIGURES
    for name, figure in figures.items():
        assert _finite(figure["blerun"]), name
        assert figure["radio"] == "process", name
        assert all(_finite(v) for v in figure["baselines"].values()), name
    # A frozen host never outlives close(): checked, not timed.
    assert figures["close_host_frozen"]["details"]["hosts_left"] == 0
    assert figures["host_rss"]["blerun"] > 0
