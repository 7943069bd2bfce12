"""One emulated peripheral on the loop thread: Bumble device, GATT, notifications, faults.

Everything here runs on the air's loop thread and is reached from other threads only
through :class:`~blerun.sim.Peripheral`. Three mechanisms carry the emulation:

* **The ATT gate.** Every ATT PDU from the central passes :meth:`Node.gate` before
  Bumble's server sees it. The gate applies armed faults (stall: drop the request; ATT
  error: answer it; delay: hand it over later), refuses what the characteristic's
  properties do not allow, counts reads and writes, and takes indication confirmations.
* **The transmitter.** Notifications and indications are queued per link and handed to
  the host only while its ACL queue has room, so a notification counted as sent is
  already on the air: a link drop, queued behind it on the virtual link, cannot lose it.
  Bumble's own notify path formats every PDU into a log string; this one builds the PDU
  bytes directly.
* **Streams.** A characteristic with ``notify_rate_hz`` sends on a fixed clock while a
  central is subscribed, skipping ticks (never bursting) when the loop falls behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from bleak.uuids import normalize_uuid_str
from bumble import hci
from bumble.core import AdvertisingData
from bumble.device import Connection, Device
from bumble.host import DataPacketQueue

from blerun.gatt import AttErrorCode

from ._faults import Counters, FaultPlan, Operation, PeripheralCounters, Ruling
from ._gatt import ATT_CID, CharState, GattTable, Op, to_bumble_uuid
from ._hci import (
    PROCEED,
    Admission,
    PeripheralController,
    QuietHost,
    SimLink,
    Verdict,
)
from ._spec import PeripheralSpec, Property

if TYPE_CHECKING:
    from ._peripheral import Peripheral

__all__ = ["Node"]

logger = logging.getLogger(__name__)

# HCI reason a supervision timeout reports (Vol 1, Part F, 1.3: Connection Timeout).
_CONNECTION_TIMEOUT = 0x08
# What the central hears when the air closes under it: the peripheral powered off.
_POWER_OFF = 0x15
# A stream skips its tick rather than queue more behind a central that cannot keep up.
_STREAM_BACKLOG = 64
_CCCD_NOTIFY = 0x0001
_CCCD_INDICATE = 0x0002
_FLAGS_LE_ONLY = bytes([0x06])  # LE General Discoverable, BR/EDR not supported


class _PeripheralDevice(Device):
    """A Bumble device whose incoming ATT PDUs pass a gate before its GATT server."""

    gate: Callable[[int, bytes], bool] | None = None

    # Bumble registers this for the ATT channel, called with the connection handle.
    def on_gatt_pdu(self, connection_handle: int, pdu: bytes) -> None:
        gate = self.gate
        if gate is None or not gate(connection_handle, pdu):
            super().on_gatt_pdu(connection_handle, pdu)

    def forward_gatt_pdu(self, connection_handle: int, pdu: bytes) -> None:
        super().on_gatt_pdu(connection_handle, pdu)


class _Link:
    """One link of this peripheral to the central, from connection to disconnection."""

    __slots__ = ("alive", "connection", "indication_pending", "queue", "subs")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.alive = True
        # CCCD bits per value handle, as the central last wrote them.
        self.subs: dict[int, int] = {}
        # (characteristic, explicit payload or None for the next one, forced)
        self.queue: deque[tuple[CharState, bytes | None, bool]] = deque()
        self.indication_pending = False


class _Stream:
    """Periodic notifications of one characteristic while anyone is subscribed."""

    __slots__ = ("char", "handle", "next_at", "period")

    def __init__(self, char: CharState, rate_hz: float) -> None:
        self.char = char
        self.period = 1.0 / rate_hz
        self.handle: asyncio.Handle | None = None
        self.next_at = 0.0


class Node:
    """The loop-side half of an emulated peripheral."""

    def __init__(
        self,
        spec: PeripheralSpec,
        address: hci.Address,
        owner: Peripheral,
        *,
        link: SimLink,
        quiet: bool,
    ) -> None:
        self.spec = spec
        self.address = address
        self._owner = owner
        self._loop = asyncio.get_running_loop()
        self.faults = FaultPlan()
        self.counters = Counters()
        self._links: dict[int, _Link] = {}
        self._streams: dict[int, _Stream] = {}
        self._silence: asyncio.TimerHandle | None = None
        self._closed = False
        self._watchers: list[
            tuple[Callable[[PeripheralCounters], bool], asyncio.Future[PeripheralCounters]]
        ] = []

        self.controller = PeripheralController(spec.name, link=link, quiet=quiet)
        self.device = _PeripheralDevice(name=spec.name, address=address)
        self.device.host = QuietHost(self.controller)
        self.table = GattTable(spec.services, self._on_app_write)
        self.device.add_services(self.table.services)
        self.table.index(self.device.gatt_server.attributes)
        self.device.gatt_server.max_mtu = spec.mtu
        for char in self.table.chars:
            if char.spec.notify_rate_hz is not None:
                self._streams[char.value_handle] = _Stream(char, char.spec.notify_rate_hz)
        self.device.gate = self.gate
        self.device.on("connection", self._on_connection)
        self.device.on("characteristic_subscription", self._on_subscription)
        self._acl_queue: DataPacketQueue | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Power on and start advertising (auto-restarted after every disconnection)."""
        await self.device.power_on()
        queue = self.device.host.le_acl_packet_queue
        assert queue is not None, "Bumble host without an LE ACL queue after power-on"
        self._acl_queue = queue
        queue.on("flow", self._pump_all)
        self.device.advertising_data = self._advertising_data()
        interval_ms = self.spec.advertising_interval * 1000.0
        self.device.advertising_interval_min = interval_ms
        self.device.advertising_interval_max = interval_ms
        await self.device.start_advertising(auto_restart=True)

    def _advertising_data(self) -> bytes:
        fields: list[tuple[int, bytes]] = [
            (AdvertisingData.FLAGS, _FLAGS_LE_ONLY),
            (AdvertisingData.COMPLETE_LOCAL_NAME, self.spec.name.encode()),
        ]
        uuids = [to_bumble_uuid(u) for u in self.spec.service_uuids]
        short = b"".join(u.to_bytes() for u in uuids if len(u.to_bytes()) == 2)
        long = b"".join(u.to_bytes() for u in uuids if len(u.to_bytes()) == 16)
        if short:
            fields.append((AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, short))
        if long:
            fields.append((AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, long))
        for company, payload in self.spec.manufacturer_data.items():
            fields.append(
                (
                    AdvertisingData.MANUFACTURER_SPECIFIC_DATA,
                    company.to_bytes(2, "little") + payload,
                )
            )
        return bytes(AdvertisingData(fields))

    def close(self) -> None:
        """Stop timers and radio activity; the loop may stop right after."""
        self._closed = True
        for stream in self._streams.values():
            self._stop_stream(stream)
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None
        self.controller.silent = True
        for link in self._links.values():
            link.alive = False
            link.queue.clear()
        self.controller.drop_links(_POWER_OFF)

    # -- links and subscriptions ---------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        link = _Link(connection)
        self._links[connection.handle] = link
        self.counters.connects += 1
        connection.on("disconnection", lambda _reason: self._on_disconnection(link))
        self._changed()

    def _on_disconnection(self, link: _Link) -> None:
        link.alive = False
        link.queue.clear()
        self._links.pop(link.connection.handle, None)
        self.counters.disconnects += 1
        for handle in [h for h, bits in link.subs.items() if bits]:
            link.subs[handle] = 0
            self._update_stream(handle)
        self._changed()

    def _on_subscription(
        self, connection: Connection, characteristic: object, notify: bool, indicate: bool
    ) -> None:
        link = self._links.get(connection.handle)
        handle = getattr(characteristic, "handle", None)
        if link is None or not isinstance(handle, int):
            return
        link.subs[handle] = (_CCCD_NOTIFY if notify else 0) | (_CCCD_INDICATE if indicate else 0)
        self._update_stream(handle)
        self._changed()

    def subscriber_count(self, handle: int) -> int:
        return sum(1 for link in self._links.values() if link.alive and link.subs.get(handle))

    def active_subscriptions(self) -> int:
        return sum(
            1 for link in self._links.values() if link.alive for bits in link.subs.values() if bits
        )

    def snapshot(self) -> PeripheralCounters:
        return self.counters.snapshot(self.active_subscriptions())

    def _changed(self) -> None:
        if not self._watchers:
            return
        snapshot = self.snapshot()
        for predicate, future in list(self._watchers):
            if future.done():
                continue
            try:
                if predicate(snapshot):
                    future.set_result(snapshot)
            except Exception as exc:  # noqa: BLE001  # raised in the waiting caller
                future.set_exception(exc)

    async def wait_until(
        self, predicate: Callable[[PeripheralCounters], bool]
    ) -> PeripheralCounters:
        """Wait until ``predicate`` holds for the counters; returns that snapshot."""
        snapshot = self.snapshot()
        if predicate(snapshot):
            return snapshot
        future: asyncio.Future[PeripheralCounters] = self._loop.create_future()
        entry = (predicate, future)
        self._watchers.append(entry)
        try:
            return await future
        finally:
            self._watchers.remove(entry)

    @property
    def connected(self) -> bool:
        return any(link.alive for link in self._links.values())

    # -- the ATT gate --------------------------------------------------------------

    def gate(self, handle: int, pdu: bytes) -> bool:
        """Look at an ATT PDU from the central; True when it must not reach Bumble."""
        opcode = pdu[0]
        if opcode == Op.CONFIRMATION:
            link = self._links.get(handle)
            if link is not None:
                link.indication_pending = False
                self._pump(link)
            return True
        op: Operation
        if opcode == Op.READ_REQ:
            op = "read"
        elif opcode == Op.WRITE_REQ:
            target = int.from_bytes(pdu[1:3], "little")
            op = "subscribe" if target in self.table.by_cccd_handle else "write"
        elif opcode in (Op.WRITE_CMD, Op.EXECUTE_WRITE_REQ):
            op = "write"
        elif opcode in (Op.READ_BLOB_REQ, Op.PREPARE_WRITE_REQ):
            # Continuations of a long read or write: checked, never a fault's target.
            self._admit(handle, pdu)
            return True
        elif opcode == Op.READ_BY_TYPE_REQ:
            # The request that ends every characteristic discovery: Bumble's server
            # answers it with a logging.debug() on the root logger, which also
            # configures logging for an application that has not.
            if not GattTable.finds_nothing(pdu, self.device.gatt_server.attributes):
                return False
            self._answer_error(handle, pdu, AttErrorCode.ATTRIBUTE_NOT_FOUND)
            return True
        else:
            return False
        ruling = self.faults.rule(op)
        if ruling.stall:
            return True
        if ruling.error:
            self._answer_error(handle, pdu, ruling.error)
            return True
        if ruling.delay > 0:
            self._loop.call_later(ruling.delay, self._admit, handle, pdu)
            return True
        self._admit(handle, pdu)
        return True

    def _admit(self, connection_handle: int, pdu: bytes) -> None:
        link = self._links.get(connection_handle)
        if link is None or not link.alive:
            return
        opcode = pdu[0]
        if opcode == Op.EXECUTE_WRITE_REQ:
            self.device.forward_gatt_pdu(connection_handle, pdu)
            return
        handle = int.from_bytes(pdu[1:3], "little")
        attribute = self.device.gatt_server.get_attribute(handle)
        refusal = self.table.refusal(opcode, handle, attribute)
        if refusal:
            if opcode != Op.WRITE_CMD:
                self._answer_error(connection_handle, pdu, refusal)
            return
        if handle in self.table.by_value_handle and opcode == Op.READ_REQ:
            self.counters.reads += 1
            self._changed()
        self.device.forward_gatt_pdu(connection_handle, pdu)

    def _answer_error(self, connection_handle: int, pdu: bytes, code: int) -> None:
        opcode = pdu[0]
        if opcode == Op.WRITE_CMD:
            return  # a command has no response, not even an error
        target = pdu[1:3] if opcode != Op.EXECUTE_WRITE_REQ else b"\x00\x00"
        self.device.send_l2cap_pdu(
            connection_handle, ATT_CID, bytes([Op.ERROR_RSP, opcode]) + target + bytes([code])
        )

    def _on_app_write(self, char: CharState, value: bytes) -> None:
        handler = char.spec.on_write
        if handler is None:
            char.stored = value
        else:
            handler(self._owner, value)  # raising refuses the write: not counted
        # Counted once the application took it: a request, a command, or the Execute
        # of a long write, never one the server or the application refused.
        self.counters.writes += 1
        self._changed()

    # -- transmitter ---------------------------------------------------------------

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
            self._pump(link)
        return queued

    def _pump_all(self) -> None:
        for link in list(self._links.values()):
            self._pump(link)

    def _pump(self, link: _Link) -> None:
        queue = self._acl_queue
        if queue is None or self.faults.notifications_paused:
            return
        room = queue.max_in_flight - queue.pending
        sent = self.counters.notifications_sent
        try:
            self._transmit(link, queue, room)
        finally:
            if self.counters.notifications_sent != sent:
                self._changed()

    def _transmit(self, link: _Link, queue: DataPacketQueue, room: int) -> None:
        connection = link.connection
        while link.queue and link.alive:
            char, payload, force = link.queue[0]
            bits = link.subs.get(char.value_handle, 0)
            if not bits and not force:
                link.queue.popleft()  # unsubscribed meanwhile: never sent
                continue
            indicate = bool(bits & _CCCD_INDICATE) and not bits & _CCCD_NOTIFY
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
            self.counters.notifications_sent += 1
            if bits:
                self.counters.notifications_while_subscribed += 1

    # -- streams -------------------------------------------------------------------

    def _update_stream(self, handle: int) -> None:
        stream = self._streams.get(handle)
        if stream is None or self._closed:
            return
        if self.subscriber_count(handle) == 0:
            self._stop_stream(stream)
        elif stream.handle is None:
            # The first value goes out right after the subscription's write response
            # (which Bumble sends before this callback returns to the loop), so a new
            # subscriber never waits a whole period for its first value.
            stream.next_at = self._loop.time()
            stream.handle = self._loop.call_soon(self._tick, stream)

    def _stop_stream(self, stream: _Stream) -> None:
        if stream.handle is not None:
            stream.handle.cancel()
            stream.handle = None

    def _tick(self, stream: _Stream) -> None:
        now = self._loop.time()
        stream.next_at += stream.period
        if stream.next_at < now:
            stream.next_at = now + stream.period  # fell behind: skip, never burst
        stream.handle = self._loop.call_at(stream.next_at, self._tick, stream)
        if self.faults.notifications_paused:
            return
        for link in self._links.values():
            if (
                len(link.queue) < _STREAM_BACKLOG
                and link.alive
                and link.subs.get(stream.char.value_handle)
            ):
                link.queue.append((stream.char, None, False))
                self._pump(link)

    # -- faults that act on the radio ----------------------------------------------

    def drop_link(self) -> bool:
        """Lose the link as a supervision timeout would; False when not connected."""
        live = [link for link in self._links.values() if link.alive]
        if not live:
            return False
        for link in live:
            # Nothing more leaves this peripheral on a link that is going down.
            link.alive = False
            link.queue.clear()
        self.counters.drops_injected += len(live)
        self._changed()
        self.controller.drop_links(_CONNECTION_TIMEOUT)
        return True

    def silence(self, duration: float | None) -> None:
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None
        self.controller.silent = True
        if duration is not None:
            self._silence = self._loop.call_later(duration, self.unsilence)

    def unsilence(self) -> None:
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None
        if not self._closed:
            self.controller.silent = False

    def resume_notifications(self) -> None:
        self.faults.notifications_paused = False
        self._pump_all()

    # -- what the central controller asks (LinkPolicy, via the air) ----------------

    def admit(self, op: Operation) -> Admission:
        ruling: Ruling = self.faults.rule(op)
        if ruling.refuse:
            self.counters.refused_connects += 1
            self._changed()
            return Admission(Verdict.REFUSE)
        if ruling.stall:
            return Admission(Verdict.STALL)
        if ruling.delay > 0:
            return Admission(Verdict.PROCEED, ruling.delay)
        return PROCEED

    def char_by_uuid(self, uuid: str | None, *, subscribable: bool = False) -> CharState:
        """The characteristic with ``uuid``; without one, the first that can notify."""
        if uuid is None:
            for char in self.table.chars:
                if char.properties & (Property.NOTIFY | Property.INDICATE):
                    return char
            raise ValueError(f"{self.spec.name} has no characteristic that can notify")
        found = self.table.by_uuid.get(normalize_uuid_str(uuid))
        if found is None:
            raise ValueError(f"{self.spec.name} has no characteristic {uuid}")
        if subscribable and not found.properties & (Property.NOTIFY | Property.INDICATE):
            raise ValueError(f"characteristic {uuid} of {self.spec.name} cannot notify")
        return found
