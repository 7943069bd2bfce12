"""Where bleak's notification callbacks land: one batch per device per loop iteration.

bleak calls the sink on the loop thread for every notification. The sink stamps it,
numbers it per characteristic, and keeps it; the first notification of a loop iteration
schedules a flush at the end of that iteration, which sends everything collected as ONE
``NotificationBatch`` message. So a burst of notifications costs one message (and one
wake-up of the consumer), not one each, and the order bleak delivered is kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from blerun.messages import NotificationBatch, RawNotification

_MAX_BATCH = 256
"""A batch is sent early when it reaches this size, to bound latency and message size."""


class SessionSink:
    """One connection's notifications, batched; loop thread only."""

    __slots__ = (
        "_batch",
        "_count",
        "_items",
        "_loop",
        "_now",
        "_open",
        "_send",
        "_seq",
        "received",
        "session",
    )

    def __init__(
        self,
        *,
        session: int,
        send: Callable[[NotificationBatch], None],
        now: Callable[[], float],
        loop: asyncio.AbstractEventLoop,
        count: Callable[[int], None] | None = None,
    ) -> None:
        self.session = session
        self._count = count
        self._send = send
        self._now = now
        self._loop = loop
        self._items: list[RawNotification] = []
        self._seq: dict[str, int] = {}
        self._batch = 0
        self.received = 0

    def push(self, uuid: str, data: bytes) -> None:
        """bleak's callback, through the link: keep one notification.

        A late callback after the session ended still goes out, tagged with its (ended)
        session: the NotificationActor drops it and counts it as stale.
        """
        seq = self._seq.get(uuid, 0) + 1
        self._seq[uuid] = seq
        items = self._items
        items.append(RawNotification(uuid, seq, data, self._now(), self.session))
        if len(items) == 1:
            self._loop.call_soon(self.flush)
        elif len(items) >= _MAX_BATCH:
            self.flush()

    def flush(self) -> None:
        """Send what was collected as one batch (nothing if empty)."""
        items = self._items
        if not items:
            return
        self._items = []
        self._batch += 1
        self.received += len(items)
        if self._count is not None:
            self._count(len(items))  # before the send: a fault plan may drop the batch
        self._send(NotificationBatch(session=self.session, batch=self._batch, items=tuple(items)))

    def close(self) -> None:
        """The session ended: send what is left now, before the transition is published."""
        self.flush()
