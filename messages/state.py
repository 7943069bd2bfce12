"""The connection state every device is in, the reasons it changes, and the event.

These are values, not behaviour: the transition table that guards them lives with the
RadioActor (``blerun.actors._state``), the only place that changes a device's state.
"""

from __future__ import annotations

import dataclasses
import enum

from blerun.messages.gatt import ServicesSnapshot


class ConnectionState(enum.Enum):
    """Where a device's link stands. Compare with ``is``; read ``StateChanged`` for why."""

    DISCONNECTED = "disconnected"
    """No link and no wish for one: the initial state, and where ``disconnect()`` ends."""

    CONNECTING = "connecting"
    """A connection attempt (connect, discovery) is in flight."""

    CONNECTED = "connected"
    """Link up, services discovered; wanted subscriptions are being (re)applied."""

    DISCONNECTING = "disconnecting"
    """A requested disconnect is in flight."""

    RECONNECTING = "reconnecting"
    """The link is down against the user's wish; the next attempt waits on the policy."""

    FAILED = "failed"
    """The runtime stopped trying: the policy gave up, the error is permanent, or the
    supervisor escalated."""

    CLOSED = "closed"
    """The device or its runtime was closed; terminal."""


class Reason(enum.Enum):
    """Why a transition happened; carried by ``StateChanged.reason``."""

    USER_CONNECT = "user_connect"
    """The application asked to connect."""

    USER_DISCONNECT = "user_disconnect"
    """The application asked to disconnect."""

    CONNECTED = "connected"
    """A connection attempt succeeded."""

    CONNECT_FAILED = "connect_failed"
    """A connection attempt failed; the error is in ``StateChanged.error``."""

    UNAVAILABLE = "unavailable"
    """A connection attempt failed for a reason retrying cannot fix (no Bluetooth stack
    or adapter, adapter off, permission denied, wrong event loop); see the error."""

    ATTEMPT_TIMEOUT = "attempt_timeout"
    """A connection attempt took longer than ``ReconnectPolicy.attempt_timeout``."""

    LINK_LOST = "link_lost"
    """The link dropped without being asked to (peripheral, radio or range)."""

    RETRY_DUE = "retry_due"
    """The policy's delay elapsed and the next attempt starts."""

    DISCONNECTED = "disconnected"
    """A requested disconnect completed."""

    GAVE_UP = "gave_up"
    """The reconnect policy ran out of attempts or of its deadline."""

    ESCALATED = "escalated"
    """The supervisor restarted this device's actors too often and stopped it."""

    RESTARTED = "restarted"
    """The RadioActor was restarted by its supervisor; the link it held is gone, and the
    successor resumes the user's wish."""

    CLOSED = "closed"
    """The device or the runtime was closed."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StateChanged:
    """One applied transition of a device's state machine."""

    address: str
    """The device's address."""
    old: ConnectionState
    """State before the transition."""
    new: ConnectionState
    """State after the transition."""
    reason: Reason
    """Why it happened."""
    version: int
    """The state_version after the transition; strictly increasing per device."""
    attempt: int
    """Connection attempt number within the current run (0 when not relevant)."""
    error: BaseException | None = None
    """The failure behind the transition, if any (connect errors, give-up cause)."""
    services: ServicesSnapshot | None = None
    """On entering CONNECTED: the services of the new connection."""
