"""blerun chaos: the campaign of blerun.testing behind the command line, same table and
exit status as ``python -m blerun.testing``."""

from __future__ import annotations

import pytest

from clikit import run_child

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(180)
def test_chaos_json_sums_the_runs_and_exits_0_when_no_invariant_broke() -> None:
    ran = run_child(
        "chaos", "--runs", "2", "--seed", "3", "--radio", "inprocess", "--json", timeout=150
    )

    assert ran.code == 0, ran.out[-3000:] + ran.err[-3000:]
    summary = ran.json()
    assert summary["runs"] == 2
    assert summary["by_radio"] == {"inprocess": 2}
    assert summary["failed_runs"] == []
    assert set(summary["violations"].values()) == {0}


@pytest.mark.timeout(180)
def test_chaos_text_names_each_run_and_ends_with_the_table() -> None:
    ran = run_child("chaos", "--runs", "1", "--seed", "5", "--radio", "inprocess", timeout=150)

    assert ran.code == 0, ran.out[-3000:] + ran.err[-3000:]
    assert "run 1/1 seed 5 (inprocess): ok" in ran.out
    assert "exactly-once" in ran.out  # the table lists every invariant
    # The faults it provoked (a dozen, logged as warnings) stay off stderr without -v.
    assert "faults injected" in ran.out
    assert ran.err == ""


@pytest.mark.timeout(180)
def test_chaos_verbose_shows_the_logs_of_the_faults_it_provoked() -> None:
    ran = run_child("-v", "chaos", "--runs", "1", "--seed", "5", "--radio", "inprocess")

    assert ran.code == 0, ran.out[-3000:] + ran.err[-3000:]
    assert " blerun." in ran.err  # structured log lines of the runtime
