"""The chaos campaign: many scenarios, one table.

``run_campaign`` runs ``runs`` scenarios (seeds ``seed``, ``seed + 1``...) in one radio
mode or both, checks each with the invariant checker, and sums them up as the table the
README quotes: runs, faults by kind, notifications sent / delivered / dropped by the plan
/ counted lost, violations by invariant, worst and p99 close time against its bound,
restarts. A failing run is reported with its seed, its replay command and its scenario.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ._invariants import Invariant
from ._scenario import Radio, Scenario, generate

if TYPE_CHECKING:
    from ._chaos_run import RunResult

PROCESS_SHARE = 5
"""With ``radio="both"``, one run in this many runs in process mode (a radio host costs
0.3-1 s to start)."""


def radio_of(index: int, radio: str) -> Radio:
    """The radio mode of the ``index``-th run of a campaign in mode ``radio``."""
    if radio == "both":
        return "process" if index % PROCESS_SHARE == PROCESS_SHARE - 1 else "inprocess"
    if radio not in ("inprocess", "process"):
        raise ValueError(f"radio must be 'inprocess', 'process' or 'both', got {radio!r}")
    return radio  # type: ignore[return-value]


def scenarios(runs: int, seed: int, radio: str) -> Iterable[Scenario]:
    """The campaign's scenarios, in order."""
    for index in range(runs):
        yield generate(seed + index, radio_of(index, radio))


def replay_command(scenario: Scenario) -> str:
    return f"blerun chaos --runs 1 --seed {scenario.seed} --radio {scenario.radio}"


@dataclasses.dataclass
class CampaignResult:
    """Sums over the runs of a campaign."""

    runs: int = 0
    by_radio: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    faults: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    sent: int = 0
    received: int = 0
    delivered: int = 0
    dropped: int = 0
    counted_lost: int = 0
    violations: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    failed: list[tuple[Scenario, list[str]]] = dataclasses.field(default_factory=list)
    close_ratios: list[float] = dataclasses.field(default_factory=list)
    """close() time over its bound, per run."""
    close_times: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    """(elapsed, timeout) per run."""
    restarts: int = 0
    escalations: int = 0
    outcomes: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def add(self, result: RunResult) -> None:
        self.runs += 1
        self.by_radio[result.scenario.radio] += 1
        self.faults.update(result.faults)
        self.sent += result.sent
        self.received += result.received
        self.delivered += result.delivered
        self.dropped += result.dropped
        self.counted_lost += result.counted_lost
        for violation in result.violations:
            self.violations[violation.invariant.value] += 1
        if result.violations:
            self.failed.append((result.scenario, [str(v) for v in result.violations]))
        if result.close_elapsed is not None:
            self.close_times.append((result.close_elapsed, result.close_timeout))
            self.close_ratios.append(result.close_elapsed / result.close_timeout)
        self.restarts += result.restarts
        self.escalations += result.escalations
        self.outcomes.update(result.outcomes)

    def faults_injected(self) -> int:
        return sum(n for key, n in self.faults.items() if not key.startswith("call:"))

    def as_dict(self) -> dict[str, object]:
        worst = max(self.close_times, key=lambda t: t[0] / t[1], default=None)
        return {
            "runs": self.runs,
            "by_radio": dict(self.by_radio),
            "faults_injected": self.faults_injected(),
            "faults": dict(sorted(self.faults.items())),
            "notifications": {
                "sent_while_subscribed": self.sent,
                "received": self.received,
                "delivered": self.delivered,
                "dropped_by_plan": self.dropped,
                "counted_lost": self.counted_lost,
            },
            "violations": {inv.value: self.violations[inv.value] for inv in Invariant},
            "failed_runs": [
                {"seed": s.seed, "radio": s.radio, "replay": replay_command(s), "violations": v}
                for s, v in self.failed
            ],
            "close": {
                "worst_seconds": worst[0] if worst else None,
                "worst_bound": worst[1] if worst else None,
                "p99_ratio_to_bound": _percentile(self.close_ratios, 99),
                "worst_ratio_to_bound": max(self.close_ratios, default=None),
            },
            "restarts": self.restarts,
            "escalations": self.escalations,
            "calls": dict(sorted(self.outcomes.items())),
            "seconds": round(self.seconds, 1),
        }


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def run_campaign(
    runs: int,
    seed: int,
    radio: str,
    *,
    on_run: Callable[[int, RunResult], None] | None = None,
) -> CampaignResult:
    """Run the campaign; ``on_run(index, result)`` is told of each run as it ends."""
    from blerun.actors._clock import monotonic  # noqa: PLC0415

    from ._chaos_run import run  # noqa: PLC0415 -- needs the sim extra

    total = CampaignResult()
    started = monotonic()
    for index, scenario in enumerate(scenarios(runs, seed, radio)):
        result = run(scenario)
        total.add(result)
        if on_run is not None:
            on_run(index, result)
    total.seconds = monotonic() - started
    return total
