"""The guarded connection state machine: one table of allowed transitions.

::

                 connect()                    attempt succeeded
    DISCONNECTED ─────────▶ CONNECTING ─────────────────────────▶ CONNECTED
        ▲   ▲                 │     ▲                               │     │
        │   │  attempt failed │     │ retry due        link lost    │     │ disconnect()
        │   │                 ▼     │                               │     ▼
        │   └──────────── RECONNECTING ◀───────────────────────────┘  DISCONNECTING
        │   disconnect()      │                                           │
        │                     │ policy spent           done (or bound)    │
        │                     ▼                                           │
        │   disconnect()   FAILED ──connect()──▶ CONNECTING               │
        ├──────────────────────┘                                          │
        └─────────────────────────────────────────────────────────────────┘

    CONNECTING ──disconnect()──▶ DISCONNECTING (the attempt is cancelled, then torn down)
    CONNECTING ──permanent error (no Bluetooth, ...)──▶ FAILED
    any state but CLOSED ──supervisor escalation──▶ FAILED (terminal for the group)
    any state but CLOSED ──close()──▶ CLOSED (terminal)

A transition to the current state is a no-op. A transition not in the table is refused:
logged, counted, never applied. Every applied transition bumps ``state_version`` and
yields a ``StateChanged``; work started under an older version is stale and changes
nothing (the RadioActor compares versions before it acts on any completion).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from blerun.actors._metrics import Metrics
from blerun.messages import ConnectionState, Reason, ServicesSnapshot, StateChanged

log = logging.getLogger(__name__)

S = ConnectionState

ALLOWED: Mapping[ConnectionState, frozenset[ConnectionState]] = {
    S.DISCONNECTED: frozenset({S.CONNECTING, S.FAILED, S.CLOSED}),
    S.CONNECTING: frozenset({S.CONNECTED, S.RECONNECTING, S.DISCONNECTING, S.FAILED, S.CLOSED}),
    S.CONNECTED: frozenset({S.RECONNECTING, S.DISCONNECTING, S.FAILED, S.CLOSED}),
    S.RECONNECTING: frozenset({S.CONNECTING, S.DISCONNECTED, S.FAILED, S.CLOSED}),
    S.DISCONNECTING: frozenset({S.DISCONNECTED, S.FAILED, S.CLOSED}),
    S.FAILED: frozenset({S.CONNECTING, S.DISCONNECTED, S.CLOSED}),
    S.CLOSED: frozenset(),
}
"""Every allowed (old -> new) pair; anything else is refused."""


def allowed(old: ConnectionState, new: ConnectionState) -> bool:
    """Whether ``old -> new`` is in the table (same-state is not a transition)."""
    return new in ALLOWED[old]


class StateMachine:
    """The state and ``state_version`` of one device; owned by its RadioActor alone."""

    def __init__(
        self,
        address: str,
        metrics: Metrics,
        *,
        state: ConnectionState = S.DISCONNECTED,
        version: int = 0,
    ) -> None:
        self.address = address
        self._metrics = metrics
        self._tags = {"device": address}
        self.state = state
        self.version = version
        self.refused = 0
        self.stale = 0

    def transition(
        self,
        new: ConnectionState,
        reason: Reason,
        *,
        attempt: int = 0,
        error: BaseException | None = None,
        services: ServicesSnapshot | None = None,
    ) -> StateChanged | None:
        """Apply ``state -> new``; returns the event, or ``None`` for a no-op or refusal."""
        old = self.state
        if new is old:
            return None
        if not allowed(old, new):
            self.refused += 1
            self._metrics.increment("state.refused_transitions", tags=self._tags)
            log.warning(
                "refused transition %s -> %s (%s)",
                old.value,
                new.value,
                reason.value,
                extra={"device": self.address, "state_version": self.version, "reason": reason},
            )
            return None
        self.state = new
        self.version += 1
        return StateChanged(
            address=self.address,
            old=old,
            new=new,
            reason=reason,
            version=self.version,
            attempt=attempt,
            error=error,
            services=services,
        )

    def is_current(self, version: int) -> bool:
        """True if ``version`` is the current one; otherwise counts a stale completion."""
        if version == self.version:
            return True
        self.stale += 1
        self._metrics.increment("state.stale_completions", tags=self._tags)
        log.debug(
            "stale completion for version %d ignored",
            version,
            extra={"device": self.address, "state_version": self.version},
        )
        return False
