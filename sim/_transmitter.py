"""What one emulated peripheral sends: notifications, indications, periodic streams.

Values are queued per link and handed to the peripheral's host only while its ACL queue
has room, so a notification counted as sent is already on the air: a link drop, queued
behind it on the virtual link, cannot lose it. Bumble's own notify path formats every
PDU into a log string; this one builds the PDU bytes directly. A characteristic with
``notify_rate_hz`` sends on a fixed clock while a central is subscribed, skipping ticks
(never bursting) when the loop falls behind. Loop thread only.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from bumble.device import Connection
from bumble.host import DataPacketQueue

from ._faults import Counters, FaultPlan
from ._gatt import ATT_CID, CharState, Op
from ._spec import Property

__all__ = ["CCCD_INDICATE", "CCCD_NOTIFY", "PeripheralLink", "Transmitter"]

logger = logging.getLogger(__name__)

CCCD_NOTIFY = 0x0001
CCCD_INDICATE = 0x0002
# A stream skips its tick rather than queue more behind a central that cannot keep up.
_STREAM_BACKLOG = 64


class PeripheralLink:
    """One link of a peripheral to a central, from connection to disconnection."""

    __slots__ = ("alive", "connection", "indication_pending", "queue", "subs")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.alive = True
        # CCCD bits per value handle, as the central last wrote them.
        self.subs: dict[int, int] = {}
        # (characteristic, explicit payload or None for the next one, forced)
        self.queue: deque[tuple[CharState, bytes | None, bool]] = deque()
        self.indication_pending = False

    def end(self) -> None:
        """Nothing more leaves on this link."""
        self.alive = False
        self.queue.clear()


class _Stream:
    """Periodic notifications of one characteristic while anyone is subscribed."""

    __slots__ = ("char", "handle", "next_at", "period")

    def __init__(self, char: CharState, rate_hz: float) -> None:
        self.char = char
        self.period = 1.0 / rate_hz
        self.handle: asyncio.Handle | None = None
        self.next_at = 0.0


class Transmitter:
    """The outgoing values of one peripheral, over all its links."""

    def __init__(
        self,
        *,
        links: dict[int, PeripheralLink],
        faults: FaultPlan,
        counters: Counters,
        changed: Callable[[], None],
    ) -> None:
        self._links = links
        self._faults = faults
        self._counters = counters
        self._changed = changed
        self._loop = asyncio.get_running_loop()
        self._acl_queue: DataPacketQueue | None = None
        self._streams: dict[int, _Stream] = {}
        self._stopped = False

    def attach(self, queue: DataPacketQueue) -> None:
        """Start sending through the host's ACL queue (it exists once powered on)."""
        self._acl_queue = queue
        queue.on("flow", self.pump_all)

    def add_stream(self, char: CharState, rate_hz: float) -> None:
        self._streams[char.value_handle] = _Stream(char, rate_hz)

    def stop(self) -> None:
        """Stop every stream for good (the peripheral is closing)."""
        self._stopped = True
        for stream in self._streams.values():
            _cancel(stream)

    # -- queueing ------------------------------------------------------------------

    def enqueue(
        self,
        char: CharState,
        payload: bytes | None,
        *,
        count: int = 1,
        force: bool = False,
        split: bool = False,
    ) -> int:
        """Queue notifications of ``char`` on every subscribed link (every link when
        ``force``); returns on how many links they were queued.

        ``payload`` None means ``count`` values from the characteristic itself; with
        ``split``, a payload longer than a link's MTU allows goes as several.
        """
        queued = 0
        for link in self._links.values():
            if not link.alive or not (force or link.subs.get(char.value_handle)):
                continue
            if payload is not None and split:
                size = link.connection.att_mtu - 3
                chunks = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
                link.queue.extend((char, chunk, force) for chunk in chunks)
            else:
                link.queue.extend([(char, payload, force)] * count)
            queued += 1
            self.pump(link)
        return queued

    def confirmed(self, link: PeripheralLink) -> None:
        """The central confirmed the indication in flight on ``link``."""
        link.indication_pending = False
        self.pump(link)

    # -- sending -------------------------------------------------------------------

    def _holding(self) -> bool:
        return self._faults.notifications_paused or self._faults.zombie

    def pump_all(self) -> None:
        for link in list(self._links.values()):
            self.pump(link)

    def pump(self, link: PeripheralLink) -> None:
        queue = self._acl_queue
        if queue is None or self._holding():
            return
        room = queue.max_in_flight - queue.pending
        sent = self._counters.notifications_sent
        try:
            self._transmit(link, queue, room)
        finally:
            if self._counters.notifications_sent != sent:
                self._changed()

    def _transmit(self, link: PeripheralLink, queue: DataPacketQueue, room: int) -> None:
        connection = link.connection
        while link.queue and link.alive:
            char, payload, force = link.queue[0]
            bits = link.subs.get(char.value_handle, 0)
            if not bits and not force:
                link.queue.popleft()  # unsubscribed meanwhile: never sent
                continue
            indicate = bool(bits & CCCD_INDICATE) and not bits & CCCD_NOTIFY
            if not bits:
                indicate = not char.properties & Property.NOTIFY
            if indicate and link.indication_pending:
                return
            mtu = connection.att_mtu
            fragments = -(-(mtu + 4) // queue.max_packet_size)
            if room < fragments:
                return
            link.queue.popleft()
            if payload is not None:
                value = payload
            else:
                try:
                    value = char.next_notification()
                except Exception:
                    logger.exception("notify_value of %s failed; skipped", char.spec.uuid)
                    continue
            opcode = Op.INDICATION if indicate else Op.NOTIFICATION
            connection.send_l2cap_pdu(
                ATT_CID,
                bytes([opcode]) + char.value_handle.to_bytes(2, "little") + value[: mtu - 3],
            )
            room -= fragments
            if indicate:
                link.indication_pending = True
            self._counters.notifications_sent += 1
            if bits:
                self._counters.notifications_while_subscribed += 1

    # -- streams -------------------------------------------------------------------

    def _subscribers(self, handle: int) -> int:
        return sum(1 for link in self._links.values() if link.alive and link.subs.get(handle))

    def update_stream(self, handle: int) -> None:
        """Start or stop the stream of ``handle`` as its subscribers come and go."""
        stream = self._streams.get(handle)
        if stream is None or self._stopped:
            return
        if self._subscribers(handle) == 0:
            _cancel(stream)
        elif stream.handle is None:
            # The first value goes out right after the subscription's write response
            # (which Bumble sends before this callback returns to the loop), so a new
            # subscriber never waits a whole period for its first value.
            stream.next_at = self._loop.time()
            stream.handle = self._loop.call_soon(self._tick, stream)

    def _tick(self, stream: _Stream) -> None:
        now = self._loop.time()
        stream.next_at += stream.period
        if stream.next_at < now:
            stream.next_at = now + stream.period  # fell behind: skip, never burst
        stream.handle = self._loop.call_at(stream.next_at, self._tick, stream)
        if self._holding():
            return
        for link in self._links.values():
            if (
                len(link.queue) < _STREAM_BACKLOG
                and link.alive
                and link.subs.get(stream.char.value_handle)
            ):
                link.queue.append((stream.char, None, False))
                self.pump(link)


def _cancel(stream: _Stream) -> None:
    if stream.handle is not None:
        stream.handle.cancel()
        stream.handle = None
