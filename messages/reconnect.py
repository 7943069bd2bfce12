"""The ReconnectActor's protocol.

It learns the device's state from ``StateChanged`` events and answers with timers:
``ReconnectDue`` when the policy's delay elapsed, ``GiveUp`` when the policy is spent.
"""

from __future__ import annotations

import dataclasses

from blerun.messages.common import GetStats, Poison
from blerun.messages.state import StateChanged


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StableWindowElapsed:
    """The Clock's signal: the connection of ``version`` stayed up for the stable window."""

    version: int
    """The CONNECTED state_version the timer was set for."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class IoSucceeded:
    """From the RadioActor: a read or write succeeded on session ``version``."""

    version: int
    """The CONNECTED state_version the operation ran on."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ReconnectDue:
    """To the RadioActor: the policy's delay elapsed, start attempt ``attempt``."""

    version: int
    """The RECONNECTING state_version the delay was computed for."""
    attempt: int
    """The attempt number to start (1-based within the current run)."""
    delay: float
    """The delay that was waited, for the log."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GiveUp:
    """To the RadioActor: the policy is spent (attempts or deadline); go FAILED."""

    version: int
    """The RECONNECTING state_version the decision was made for."""
    attempt: int
    """How many attempts were made in this run."""
    error: BaseException | None
    """The last connection error, if any."""


ReconnectCommand = StateChanged | StableWindowElapsed | IoSucceeded | GetStats | Poison
"""Everything the ReconnectActor accepts."""

ReconnectEvent = ReconnectDue | GiveUp
"""What the ReconnectActor emits, to the RadioActor."""
