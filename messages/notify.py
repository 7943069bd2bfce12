"""The NotificationActor's protocol: wanted subscriptions, raw notifications, listeners.

``Subscribe`` and the listener messages carry the user's callables, so they stay inside
the process; the messages that cross the RadioActor's boundary (``RawNotification``,
``NotifyStarted``) carry only picklable values.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from blerun.messages.common import GetStats, Poison, Resync
from blerun.messages.state import StateChanged


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Subscribe:
    """Record a wanted subscription; applied now if connected, and on every reconnect."""

    request_id: int
    """Answered once the backend confirmed (if connected) or at once (if not)."""
    token: int
    """The subscription's identity, unique within the runtime."""
    char: str
    """Normalized characteristic UUID."""
    callback: Callable[[Any], None]
    """The user's function; it receives a ``blerun.actors.Notification``."""
    decode: Callable[[bytes], object] | None
    """Turns the payload into ``Notification.value``; ``None`` keeps the bytes."""
    skip_undecodable: bool
    """True: a payload the decoder rejects is skipped; False: delivered as UNDECODABLE."""
    cancelled: threading.Event
    """Set by ``Subscription.cancel()`` before anything else, so no delivery follows it."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Unsubscribe:
    """Forget a subscription; stops the backend notification when it was the last one."""

    request_id: int
    """Answered once the backend stopped (or its bound passed); at once if inactive."""
    token: int
    """The subscription to forget; unknown tokens are answered at once (idempotent)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RawNotification:
    """One notification as bleak delivered it, stamped on the loop thread."""

    char: str
    """Normalized characteristic UUID."""
    session: int
    """The CONNECTED state_version whose subscription produced it."""
    seq: int
    """Per (session, characteristic) sequence number from 1: fences duplicates and reorders."""
    data: bytes
    """The payload, copied out of bleak's bytearray."""
    received_at: float
    """Clock time when bleak's callback ran."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NotifyStarted:
    """From the RadioActor: the backend answered a ``StartNotify``."""

    char: str
    """Normalized characteristic UUID."""
    session: int
    """The session it was started on."""
    error: BaseException | None
    """Why it could not be started, or ``None``."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AddStateListener:
    """Register a function called with every ``StateChanged`` of the device."""

    token: int
    """The listener's identity, for removal."""
    callback: Callable[[StateChanged], None]
    """The user's function, run inside the error guard."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RemoveStateListener:
    """Forget a state listener; idempotent."""

    token: int
    """The listener to forget."""


NotifyCommand = (
    Subscribe
    | Unsubscribe
    | RawNotification
    | NotifyStarted
    | AddStateListener
    | RemoveStateListener
    | StateChanged
    | GetStats
    | Resync
    | Poison
)
"""Everything the NotificationActor accepts."""
