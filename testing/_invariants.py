"""The invariants the checker verifies, and what a broken one looks like."""

from __future__ import annotations

import dataclasses
import enum


class Invariant(enum.Enum):
    """One promise of the runtime that a recorded run can break."""

    TRANSITIONS = "transitions"
    """Every transition a listener sees is in the allowed table, starts where the previous
    one ended, and a closed device's last one is CLOSED (or FAILED by escalation)."""
    VERSIONS = "versions"
    """``state_version`` grows by exactly one per transition: each transition is seen by a
    listener once, none is skipped, none comes twice."""
    STALE = "stale-session"
    """No notification is delivered after a later session was announced (CONNECTED) to
    the device's listeners. Not judged once the fault plan delayed or reordered the state
    events themselves: then the actors learn that a session ended after the listeners do,
    and what reached them before that is delivered, not lost."""
    DUPLICATE = "duplicate"
    """No notification is delivered twice to one subscription."""
    ORDER = "order"
    """Within a session, a subscription gets notifications in the order they arrived."""
    EXACTLY_ONCE = "exactly-once"
    """Every notification the peripheral sent while subscribed, that the fault plan did not
    drop and the runtime did not count as lost for a documented reason, is delivered."""
    SUBSCRIPTIONS = "subscriptions"
    """Once faults heal and the device is wanted connected: CONNECTED, one link, and each
    wanted characteristic subscribed on the peripheral exactly once."""
    AFTER_CLOSE = "after-close"
    """After close: no link and no subscription left on the peripheral (unless the close
    report admits a teardown that did not finish)."""
    EXCEPTIONS = "exceptions"
    """Nothing undocumented reaches user code: a call raises only what it documents
    (teardown nothing), and nothing is logged as an unexpected error or crash."""
    CLOSE_BOUND = "close-bound"
    """``close(timeout)`` returns within ``timeout`` + 10%."""
    LEFTOVERS = "leftovers"
    """No thread, actor or process started with the runtime outlives its close."""


@dataclasses.dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant: which, where, and what was seen."""

    invariant: Invariant
    """The promise that was broken."""
    address: str | None
    """The device it concerns (``None``: the runtime as a whole)."""
    detail: str
    """What was observed, in words."""

    def __str__(self) -> str:
        where = f" on {self.address}" if self.address else ""
        return f"[{self.invariant.value}]{where}: {self.detail}"
