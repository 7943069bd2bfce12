"""The RadioActor's protocol: the commands it accepts and the events it emits.

Everything here crosses the RadioActor's boundary and therefore pickles (the radio can
run in a process of its own): payloads are ``bytes``, characteristics are normalized UUID
strings, errors are blerun's own picklable exceptions.
"""

from __future__ import annotations

import dataclasses

from blerun.messages.common import GetStats, Poison, Resync
from blerun.messages.gatt import ServicesSnapshot
from blerun.messages.notify import Drain
from blerun.messages.reconnect import GiveUp, ReconnectDue
from blerun.messages.state import ConnectionState, StateChanged

# --- commands ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Connect:
    """The application wants the link up; answered when CONNECTED, FAILED or CLOSED."""

    request_id: int
    """Where the answer goes."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Disconnect:
    """The application wants the link down and no reconnection; idempotent."""

    request_id: int
    """Where the answer goes (after the link is down, or the bound passed)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Read:
    """Read a characteristic's value; answered with ``bytes``."""

    request_id: int
    """Where the answer goes."""
    uuid: str
    """Normalized characteristic UUID."""
    retry: bool
    """Wait out link losses (reconnected under the policy) until the request's deadline."""
    timeout: float
    """Seconds the caller waits; parked retries are dropped after it."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Write:
    """Write a characteristic's value, with or without response."""

    request_id: int
    """Where the answer goes."""
    uuid: str
    """Normalized characteristic UUID."""
    data: bytes
    """The payload, already checked against the link's limits when they were known."""
    response: bool
    """True: ATT write request (acknowledged); False: write command."""
    retry: bool
    """Wait out link losses (reconnected under the policy) until the request's deadline."""
    timeout: float
    """Seconds the caller waits; parked retries are dropped after it."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GetServices:
    """Ask for the services of the current connection; answered with a snapshot."""

    request_id: int
    """Where the answer goes."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WaitForState:
    """Answered as soon as the device is in one of ``states`` (at once if it already is)."""

    request_id: int
    """Where the answer goes."""
    states: frozenset[ConnectionState]
    """Any of these ends the wait; CLOSED always ends it, with ``RuntimeClosed``."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StartNotify:
    """From the NotificationActor: enable notifications on ``uuid`` for ``session``."""

    uuid: str
    """Normalized characteristic UUID."""
    session: int
    """The state_version of the CONNECTED state this is meant for; stale ones are ignored."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StopNotify:
    """From the NotificationActor: disable notifications on ``uuid``; idempotent."""

    uuid: str
    """Normalized characteristic UUID."""
    session: int
    """The session the subscription was active in."""
    request_id: int | None
    """The unsubscribing caller, answered once the backend confirmed (or failed)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Close:
    """Terminal: cancel in-flight work, tear the link down without waiting, go CLOSED."""

    request_id: int | None
    """Answered once the teardown is under way (never waits on I/O)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Escalate:
    """From the supervisor: the group restarted too often; go FAILED for good and say so."""

    error: BaseException
    """The ``DeviceFailed`` every waiting and later caller gets (its cause chained)."""


# --- completions, tagged with the version they started under ---------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AttemptDone:
    """A connection attempt ended (the coroutine on the loop finished)."""

    version: int
    """The state_version of the CONNECTING state it started under."""
    attempt: int
    """Attempt number within the current run."""
    services: ServicesSnapshot | None
    """Discovered services on success."""
    error: BaseException | None
    """The mapped failure, or ``None`` on success."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AttemptDeadline:
    """The Clock's signal that the attempt started under ``version`` took too long."""

    version: int
    """The state_version of the CONNECTING state the timer was set for."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LinkLost:
    """bleak's ``disconnected_callback`` fired for the link made by attempt ``link``."""

    link: int
    """The state_version of the CONNECTING state whose attempt made this link."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DisconnectDone:
    """A requested disconnect finished (or its bound expired)."""

    version: int
    """The state_version of the DISCONNECTING state it started under."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OpDone:
    """A read, write, notify start/stop ended on the loop."""

    op_id: int
    """The radio's own id for the in-flight operation."""
    version: int
    """The session (CONNECTED state_version) it ran on."""
    value: object
    """The result (``bytes`` for reads), ``None`` otherwise."""
    error: BaseException | None
    """The mapped failure, or ``None`` on success."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OpExpired:
    """The Clock's signal that a parked (retrying) operation ran out of time."""

    request_id: int
    """The request that gave up waiting for the link."""


RadioCommand = (
    Connect
    | Disconnect
    | Read
    | Write
    | GetServices
    | WaitForState
    | StartNotify
    | StopNotify
    | Close
    | Escalate
    | AttemptDone
    | AttemptDeadline
    | LinkLost
    | DisconnectDone
    | OpDone
    | OpExpired
    | ReconnectDue
    | GiveUp
    | GetStats
    | Resync
    | Drain
    | Poison
)
"""Everything the RadioActor accepts."""

RadioEvent = StateChanged
"""What the RadioActor publishes (through the router, to its peers and the listeners)."""
