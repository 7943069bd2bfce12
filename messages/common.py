"""Messages every actor understands, and the reply envelope for request/response."""

from __future__ import annotations

import dataclasses
import enum


class Role(enum.Enum):
    """Which actor of a device group a message is addressed to."""

    RADIO = "radio"
    RECONNECT = "reconnect"
    NOTIFY = "notify"
    SUPERVISOR = "supervisor"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    """Where the router delivers a message: one actor of one device group."""

    device: str
    """The device id (its normalized address), or ``""`` for runtime-wide actors."""
    role: Role
    """Which actor of that group."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """The answer to a request: exactly one of ``value`` or ``error`` is meaningful."""

    request_id: int
    """The id the caller got from ``Router.request()``."""
    value: object = None
    """The result on success (bytes, a services snapshot, statistics, ...)."""
    error: BaseException | None = None
    """The failure, one of blerun's exceptions; ``None`` on success."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Poison:
    """Fault injection: the receiving actor raises ``InjectedCrash`` and dies.

    It exercises the supervisor's restart path exactly as a real bug would.
    """

    note: str = ""
    """Free text carried into the crash message, for the test's log."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GetStats:
    """Ask an actor for its counters; answered with a ``Reply`` carrying a dict."""

    request_id: int
    """Where the answer goes."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Resync:
    """Sent by the supervisor after it restarted a sibling: re-announce what peers need."""

    generation: int
    """Restart generation of the group, for the log."""
