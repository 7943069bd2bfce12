"""The NotificationActor's protocol: wanted subscriptions and batches of notifications.

``Subscribe`` carries the user's callables, so it stays inside the process; what crosses
the RadioActor's boundary (``NotificationBatch``, ``NotifyStarted``) carries only
picklable values.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from blerun.messages.common import GetStats, Poison
from blerun.messages.state import StateChanged


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Subscribe:
    """Record a wanted subscription; applied now if connected, and on every reconnect."""

    request_id: int
    """Answered once the backend confirmed (if connected) or at once (if not)."""
    token: int
    """The subscription's identity, unique within the runtime; a second Subscribe with
    the same token changes nothing."""
    uuid: str
    """Normalized characteristic UUID."""
    callback: Callable[[Any], None]
    """The user's function (it gets a ``blerun.actors.Notification``), or, with ``loop``,
    the stream's own function taking a tuple of ``RawNotification``."""
    decode: Callable[[bytes], object] | None
    """Turns the payload into ``Notification.value``; ``None`` keeps the bytes."""
    skip_undecodable: bool
    """True: a payload the decoder rejects is skipped; False: delivered as UNDECODABLE."""
    cancelled: threading.Event
    """Set by ``Subscription.cancel()`` before anything else, so no delivery follows it."""
    loop: asyncio.AbstractEventLoop | None = None
    """For an async stream: the consumer's loop, where ``callback`` runs with each batch
    (no thread in between). ``None``: ``callback`` runs on the device's callback lane."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Unsubscribe:
    """Forget a subscription; stops the backend notification when it was the last one."""

    request_id: int
    """Answered once the backend stopped (or its bound passed); at once if inactive."""
    token: int
    """The subscription to forget; unknown tokens are answered at once (idempotent)."""


class RawNotification(NamedTuple):
    """One notification as bleak delivered it, stamped on the loop thread.

    A named tuple, not a dataclass: one is built per notification on the hot path.
    """

    uuid: str
    """Normalized characteristic UUID."""
    seq: int
    """Per (session, characteristic) sequence number, from 1."""
    data: bytes
    """The payload, copied out of bleak's bytearray."""
    received_at: float
    """Clock time when bleak's callback ran."""
    session: int = 0
    """The CONNECTED state_version of the connection it arrived on."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NotificationBatch:
    """The notifications one loop iteration collected for one device, in arrival order."""

    session: int
    """The CONNECTED state_version whose subscriptions produced them."""
    batch: int
    """Per-session batch number from 1: fences duplicated, delayed and reordered batches."""
    items: tuple[RawNotification, ...]
    """The notifications, in the order bleak delivered them."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NotifyStarted:
    """From the RadioActor: the backend answered a ``StartNotify``."""

    uuid: str
    """Normalized characteristic UUID."""
    session: int
    """The session it was started on."""
    error: BaseException | None
    """Why it could not be started, or ``None``."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Drain:
    """A barrier: answered once everything received before it reached its callbacks.

    Sent to the RadioActor, which flushes what bleak handed over so far and passes it on
    to the NotificationActor, which answers it from the device's callback lane."""

    request_id: int
    """Answered from the device's callback lane, after every job queued before it ran."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ReorderWindowElapsed:
    """The Clock's signal: a missing batch of ``session`` did not come in time; skip it."""

    session: int
    """The session the gap is in."""
    batch: int
    """The first missing batch number when the timer was set."""


NotifyCommand = (
    Subscribe
    | Unsubscribe
    | NotificationBatch
    | NotifyStarted
    | ReorderWindowElapsed
    | Drain
    | StateChanged
    | GetStats
    | Poison
)
"""Everything the NotificationActor accepts."""
