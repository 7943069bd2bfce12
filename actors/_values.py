"""Public value types: what callbacks receive and what statistics and close report.

Frozen values only; each actor fills its own statistics type, and ``DeviceStatistics``
is their union, built so that a counter an actor collects can never go missing from it
(``DeviceStatistics.merge`` passes every field by name: a missing one fails loudly).
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, NamedTuple

from blerun.messages import ConnectionState


class Sentinel(enum.Enum):
    """Marker values delivered in place of a decoded value."""

    UNDECODABLE = "undecodable"
    """``Notification.value`` when the subscription's decoder raised (the error is logged
    and counted as ``decode_errors``); ``data`` still holds the bytes."""


UNDECODABLE = Sentinel.UNDECODABLE


class Notification(NamedTuple):
    """What a subscriber's callback receives (immutable; one is built per delivery).

    A named tuple rather than a frozen dataclass: it is built once per notification per
    subscriber on the hot path, where it costs a quarter of a frozen dataclass here.
    """

    address: str
    """The device's address."""
    uuid: str
    """Normalized characteristic UUID."""
    data: bytes
    """The payload as the peripheral sent it."""
    value: Any
    """``decode(data)``; ``data`` without a decoder; ``UNDECODABLE`` if decoding failed."""
    seq: int
    """Sequence number within the connection and characteristic, from 1."""
    received_at: float
    """Clock time when bleak delivered it."""
    session: int = 0
    """The connection it came on: the ``state_version`` of its CONNECTED event. ``seq``
    starts again at 1 on every new session."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RadioStats:
    """The RadioActor's counters."""

    connect_attempts: int
    """Connection attempts started (initial and reconnections)."""
    connect_successes: int
    """Attempts that reached CONNECTED."""
    links_lost: int
    """Unrequested link losses."""
    refused_transitions: int
    """Illegal transitions refused by the state machine."""
    stale_completions: int
    """Completions that arrived after their version was over."""
    operations_in_flight: int
    """Reads, writes and notify starts/stops running on the loop now."""
    operations_parked: int
    """Retrying reads and writes waiting for the link to come back."""
    waiters: int
    """Callers parked until a state (connect(), wait_connected(), disconnect())."""
    notifications_received: int
    """Notifications bleak delivered to this device's sessions."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ReconnectStats:
    """The ReconnectActor's counters."""

    reconnect_attempt: int
    """The reconnect counter now (0 after a reset)."""
    retries_scheduled: int
    """Reconnection attempts scheduled."""
    counter_resets: int
    """Times the counter went back to 0 (stable window, successful I/O)."""
    give_ups: int
    """Times the policy was spent."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NotifyStats:
    """The NotificationActor's counters."""

    subscriptions: int
    """Wanted subscriptions."""
    active_characteristics: int
    """Characteristics notifying on the current session."""
    notifications_routed: int
    """Notifications handed to subscribers' delivery (before callbacks ran)."""
    notifications_stale: int
    """Dropped because their connection was over."""
    notifications_out_of_order: int
    """Duplicated batches, and batches that came after their gap was skipped."""
    notifications_gaps: int
    """Batches never seen within the reorder window (lost between actors)."""
    notifications_held: int
    """Held now, waiting for an earlier batch or for their session to be announced."""
    notifications_unsubscribed: int
    """Arrived for a characteristic nobody wants any more."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryStats:
    """The device's callback lane: where user code runs."""

    notifications_delivered: int
    """Notifications handed to subscriber callbacks (and to async streams)."""
    callback_errors: int
    """User callbacks, listeners and policy hooks that raised (logged, delivery went on)."""
    decode_errors: int
    """Decoders that raised."""
    notifications_overflow: int
    """Dropped, oldest first, because the device's callback backlog was full."""
    callback_backlog: int
    """Notifications and events waiting for their callback now."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStatistics:
    """A device's state and every counter of its actors and its callback lane."""

    address: str
    """The device's address."""
    state: ConnectionState
    """The latest published state."""
    state_version: int
    """Its state_version."""
    connect_attempts: int
    """See ``RadioStats``."""
    connect_successes: int
    """See ``RadioStats``."""
    links_lost: int
    """See ``RadioStats``."""
    refused_transitions: int
    """See ``RadioStats``."""
    stale_completions: int
    """See ``RadioStats``."""
    operations_in_flight: int
    """See ``RadioStats``."""
    operations_parked: int
    """See ``RadioStats``."""
    waiters: int
    """See ``RadioStats``."""
    notifications_received: int
    """See ``RadioStats``."""
    reconnect_attempt: int
    """See ``ReconnectStats``."""
    retries_scheduled: int
    """See ``ReconnectStats``."""
    counter_resets: int
    """See ``ReconnectStats``."""
    give_ups: int
    """See ``ReconnectStats``."""
    subscriptions: int
    """See ``NotifyStats``."""
    active_characteristics: int
    """See ``NotifyStats``."""
    notifications_routed: int
    """See ``NotifyStats``."""
    notifications_stale: int
    """See ``NotifyStats``."""
    notifications_out_of_order: int
    """See ``NotifyStats``."""
    notifications_gaps: int
    """See ``NotifyStats``."""
    notifications_held: int
    """See ``NotifyStats``."""
    notifications_unsubscribed: int
    """See ``NotifyStats``."""
    notifications_delivered: int
    """See ``DeliveryStats``."""
    callback_errors: int
    """See ``DeliveryStats``."""
    decode_errors: int
    """See ``DeliveryStats``."""
    notifications_overflow: int
    """See ``DeliveryStats``."""
    callback_backlog: int
    """See ``DeliveryStats``."""

    @classmethod
    def merge(
        cls,
        *,
        address: str,
        state: ConnectionState,
        state_version: int,
        radio: RadioStats,
        reconnect: ReconnectStats,
        notify: NotifyStats,
        delivery: DeliveryStats,
    ) -> DeviceStatistics:
        """One record from the four parts; every field of every part by name."""
        parts: dict[str, Any] = {}
        for part in (radio, reconnect, notify, delivery):
            parts.update({f.name: getattr(part, f.name) for f in dataclasses.fields(part)})
        return cls(address=address, state=state, state_version=state_version, **parts)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CloseReport:
    """What ``close()`` achieved within its bound."""

    clean: bool
    """True if every actor stopped, every callback finished and every teardown ended."""
    unjoined: tuple[str, ...]
    """What did not stop in time ("AA:..#1/radio", "supervisor", "loop", "callbacks")."""
    pending_teardowns: int
    """Link teardowns that had not finished (or gave up) when the bound expired."""
    elapsed: float
    """Seconds ``close()`` took."""
