"""The campaign's table, as text (what the command prints and the README quotes)."""

from __future__ import annotations

import collections

from ._campaign import CampaignResult, replay_command
from ._invariants import Invariant


def _n(value: int) -> str:
    return f"{value:,}"


def format_table(result: CampaignResult) -> str:
    """The campaign's sums as a Markdown table, then its failing runs, if any."""
    data = result.as_dict()
    radios = ", ".join(f"{mode} {n}" for mode, n in sorted(result.by_radio.items()))
    rows: list[tuple[str, str]] = [
        ("runs", f"{_n(result.runs)} ({radios}) in {result.seconds:.0f} s"),
        ("faults injected", _n(result.faults_injected())),
    ]
    groups: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for key, n in result.faults.items():
        group, _, what = key.partition(":")
        if group != "call":
            groups[group][what] += n
    for group in ("message", "radio", "actor", "process"):
        if groups[group]:
            detail = ", ".join(f"{k} {_n(v)}" for k, v in sorted(groups[group].items()))
            rows.append((f"  {group} faults", detail))
    rows += [
        ("notifications sent while subscribed", _n(result.sent)),
        ("  received by the runtime", _n(result.received)),
        ("  delivered, exactly once", _n(result.delivered)),
        ("  dropped by the fault plan", _n(result.dropped)),
        ("  counted stale (their session had ended)", _n(result.counted_lost)),
    ]
    for invariant in Invariant:
        rows.append((f"violations: {invariant.value}", _n(result.violations[invariant.value])))
    close = data["close"]
    assert isinstance(close, dict)
    if close["worst_seconds"] is not None:
        rows.append(
            (
                "close() worst",
                f"{close['worst_seconds']:.3f} s for a {close['worst_bound']:g} s bound",
            )
        )
        rows.append(("close() p99, as a share of its bound", f"{close['p99_ratio_to_bound']:.2f}"))
    rows += [
        ("restarts (actors and radio hosts)", _n(result.restarts)),
        ("escalations", _n(result.escalations)),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'what':<{width}} | count |", f"|{'-' * (width + 2)}|---|"]
    lines += [f"| {k:<{width}} | {v} |" for k, v in rows]
    for scenario, violations in result.failed:
        lines += [
            "",
            f"FAILED seed {scenario.seed} ({scenario.radio}); replay: {replay_command(scenario)}",
            *(f"  {v}" for v in violations),
            scenario.describe(),
        ]
    return "\n".join(lines)
