"""Armed faults and counters of one emulated peripheral (loop-thread state).

Both are plain state touched only on the air's loop thread; the public
:class:`~blerun.sim.Peripheral` methods reach them through the loop, and
:class:`PeripheralCounters` is the frozen snapshot handed to other threads.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Final, Literal, get_args

__all__ = [
    "ATT_OPERATIONS",
    "OPERATIONS",
    "Counters",
    "FaultPlan",
    "Operation",
    "PeripheralCounters",
    "Ruling",
    "check_operation",
]

Operation = Literal["connect", "disconnect", "read", "write", "subscribe"]
"""The operations a fault can target.

``read``: ATT Read Request; ``write``: ATT Write Request, Write Command and the Execute
of a long write; ``subscribe``: a write to a Client Characteristic Configuration
descriptor (subscribe and unsubscribe); ``connect`` and ``disconnect``: the link layer
procedures the central starts.
"""

OPERATIONS: Final = frozenset(get_args(Operation))
ATT_OPERATIONS: Final = frozenset({"read", "write", "subscribe"})


def check_operation(op: str, *, att_only: bool = False) -> Operation:
    """Return ``op`` as an :data:`Operation`, or raise ValueError naming the choices."""
    allowed = ATT_OPERATIONS if att_only else OPERATIONS
    if op not in allowed:
        raise ValueError(f"operation must be one of {sorted(allowed)}, got {op!r}")
    return op  # type: ignore[return-value]  # narrowed by the membership test above


@dataclasses.dataclass(frozen=True, slots=True)
class Ruling:
    """What to do with one operation."""

    stall: bool = False
    """Never answer it."""
    refuse: bool = False
    """Refuse it (connect only)."""
    code: int = 0
    """Answer it with this ATT error code (read, write, subscribe); 0: do not."""
    delay: float = 0.0
    """Seconds to hold it before carrying it out."""


_GO = Ruling()


class FaultPlan:
    """The faults armed on one peripheral. Loop thread only."""

    def __init__(self) -> None:
        self.refuse_connects = 0
        self.stalls: dict[Operation, int] = dict.fromkeys(OPERATIONS, 0)
        self.codes: dict[Operation, deque[int]] = {op: deque() for op in OPERATIONS}
        self.delays: dict[Operation, float] = dict.fromkeys(OPERATIONS, 0.0)
        self.notifications_paused = False
        # The peripheral answers and sends nothing, and its links stay up.
        self.zombie = False

    def clear(self) -> None:
        """Disarm every fault (advertising silence is the peripheral's own state)."""
        self.refuse_connects = 0
        for op in OPERATIONS:
            self.stalls[op] = 0
            self.codes[op].clear()
            self.delays[op] = 0.0
        self.notifications_paused = False
        self.zombie = False

    def rule(self, op: Operation) -> Ruling:
        """Decide the next ``op`` and consume the one-shot fault that decided it."""
        if op == "connect" and self.refuse_connects > 0:
            self.refuse_connects -= 1
            return Ruling(refuse=True)
        if self.stalls[op] > 0:
            self.stalls[op] -= 1
            return Ruling(stall=True)
        codes = self.codes[op]
        if codes:
            return Ruling(code=codes.popleft())
        delay = self.delays[op]
        return Ruling(delay=delay) if delay > 0 else _GO


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PeripheralCounters:
    """A snapshot of what one emulated peripheral has done since it was added."""

    connects: int
    """Links established."""
    refused_connects: int
    """Connect attempts refused by :meth:`~blerun.sim.Peripheral.refuse_connects`."""
    drops_injected: int
    """Links lost through :meth:`~blerun.sim.Peripheral.drop_link`."""
    disconnects: int
    """Links that ended, for any reason (a drop included): ``connects - disconnects`` is
    the number of links up now."""
    reads: int
    """Read requests on the spec's characteristics that reached the application."""
    writes: int
    """Writes (requests, commands, executed long writes) on the spec's characteristics
    that reached the application."""
    notifications_sent: int
    """Notification and indication PDUs transmitted, to anyone."""
    notifications_while_subscribed: int
    """Of those, the ones sent on a link whose central had subscribed to them. A link
    drop never loses one of these: the drop is queued behind them."""
    active_subscriptions: int
    """Characteristics with notifications or indications enabled right now."""


class Counters:
    """Mutable counters behind :class:`PeripheralCounters`. Loop thread only."""

    __slots__ = (
        "connects",
        "disconnects",
        "drops_injected",
        "notifications_sent",
        "notifications_while_subscribed",
        "reads",
        "refused_connects",
        "writes",
    )

    def __init__(self) -> None:
        self.connects = 0
        self.refused_connects = 0
        self.drops_injected = 0
        self.disconnects = 0
        self.reads = 0
        self.writes = 0
        self.notifications_sent = 0
        self.notifications_while_subscribed = 0

    def snapshot(self, active_subscriptions: int) -> PeripheralCounters:
        return PeripheralCounters(
            connects=self.connects,
            refused_connects=self.refused_connects,
            drops_injected=self.drops_injected,
            disconnects=self.disconnects,
            reads=self.reads,
            writes=self.writes,
            notifications_sent=self.notifications_sent,
            notifications_while_subscribed=self.notifications_while_subscribed,
            active_subscriptions=active_subscriptions,
        )
