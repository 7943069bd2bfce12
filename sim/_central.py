"""One central (an adapter) of the air: a Bumble device on a host; connects, scans,
value fan-out.

The host is in this process on the air's loop (the air's own adapters), or in another
process, talking to its controller in the air's process through a socket
(:mod:`._remote`); nothing here depends on which. Loop thread only. Three jobs beyond
Bumble's own central:

* **Connects, one at a time, cancellable.** A central has one pending LE connection
  (Bumble refuses a second: "connection already pending"), so connects queue on a lock;
  a second connect to a device that is already being connected is refused at once
  (:class:`ConnectInProgress`, BlueZ's "InProgress"). A cancelled connect (bleak's
  timeout, or the caller's cancel) sends *LE Create Connection Cancel*, waits for the
  controller's answer, and tears down a connection that won the race, before the next
  connect may start.
* **Scanning shared by every scanner.** Scanners subscribe; the first starts Bumble's
  scan, the last stops it.
* **Notifications without Bumble's GATT client.** Notification and indication PDUs go
  straight to the link's sink (Bumble's client logs every PDU through ``str()`` and
  timestamps it into a cache), and indications are confirmed here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from bleak.exc import CONTROLLER_ERROR_CODES
from bumble import att, core, hci
from bumble.device import Connection, Device
from bumble.host import Host

from ._advert import Advert, parse_advertising_data
from ._gatt import ATT_CID, Op

__all__ = ["Central", "ConnectFailed", "ConnectInProgress", "ScanReport", "ValueSink"]

logger = logging.getLogger(__name__)

ValueSink = Callable[[int, bytes], None]
"""Receives (value handle, value) for each notification or indication on a link."""

_CONFIRMATION = bytes([Op.CONFIRMATION])
_RESPONSES = frozenset(int(opcode) for opcode in att.ATT_RESPONSES)


class ConnectFailed(Exception):
    """The controller reported a failed connect (HCI status in ``status``)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status

    def __str__(self) -> str:
        return f"{CONTROLLER_ERROR_CODES.get(self.status, 'HCI error')} ({self.status:#04x})"


class ConnectInProgress(Exception):
    """A connect to this device is already pending on this central."""


class ScanReport:
    """One advertising report as the scanners see it."""

    __slots__ = ("address", "advert", "rssi")

    def __init__(self, address: hci.Address, rssi: int, advert: Advert) -> None:
        self.address = address
        self.rssi = rssi
        self.advert = advert


class _CentralDevice(Device):
    """A Bumble device that hands notifications to per-link sinks itself."""

    def __init__(self, *, name: str, address: hci.Address) -> None:
        super().__init__(name=name, address=address)
        self.value_sinks: dict[int, ValueSink] = {}

    # Bumble registers this for the ATT channel, called with the connection handle.
    def on_gatt_pdu(self, connection_handle: int, pdu: bytes) -> None:
        opcode = pdu[0]
        if opcode in (Op.NOTIFICATION, Op.INDICATION):
            if opcode == Op.INDICATION:
                # Confirmed by the stack before the application sees the value, as
                # bluetoothd does: what the application does cannot stall the stream.
                self.send_l2cap_pdu(connection_handle, ATT_CID, _CONFIRMATION)
            sink = self.value_sinks.get(connection_handle)
            if sink is not None:
                sink(int.from_bytes(pdu[1:3], "little"), pdu[3:])
            return
        if opcode in _RESPONSES and not self._awaited(connection_handle, pdu):
            # The late answer to a request its caller cancelled. Bumble would log it, or
            # take it for the answer to the next request, or raise InvalidStateError if
            # it lands while the cancel unwinds.
            return
        super().on_gatt_pdu(connection_handle, pdu)

    def _awaited(self, connection_handle: int, pdu: bytes) -> bool:
        """Whether an ATT response answers the request its link is waiting on."""
        connection = self.lookup_connection(connection_handle)
        if connection is None:
            return False
        client = connection.gatt_client
        pending, request = client.pending_response, client.pending_request
        if pending is None or pending.done() or request is None:
            return False
        if pdu[0] == Op.ERROR_RSP:
            return len(pdu) > 1 and pdu[1] == request.op_code
        # Vol 3, Part F, 3.4.8: each response's opcode is its request's plus one.
        return pdu[0] == request.op_code + 1


class _Attempt:
    """The outcome of one LE Create Connection, whichever event brings it."""

    def __init__(self, device: Device, peer: hci.Address) -> None:
        self._device = device
        self.peer = peer
        self.outcome: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()
        device.on("connection", self._on_connection)
        device.on("connection_failure", self._on_failure)

    def _on_connection(self, connection: Connection) -> None:
        if connection.peer_address == self.peer and not self.outcome.done():
            self.outcome.set_result(connection)

    def _on_failure(self, error: core.ConnectionError) -> None:
        if not self.outcome.done():
            self.outcome.set_exception(ConnectFailed(error.error_code or 0))

    def close(self) -> None:
        self._device.remove_listener("connection", self._on_connection)
        self._device.remove_listener("connection_failure", self._on_failure)
        if not self.outcome.done():
            self.outcome.cancel()
        elif not self.outcome.cancelled():
            self.outcome.exception()  # retrieved, so asyncio does not log it


class Central:
    """One central of the air, on whatever host it is given. Loop thread only."""

    def __init__(
        self,
        *,
        name: str,
        host: Host,
        address: hci.Address,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self.name = name
        self.device = _CentralDevice(name=f"blerun-sim-{name}", address=address)
        self.device.host = host
        self._spawn = spawn
        self._connect_lock = asyncio.Lock()
        self._connecting: set[hci.Address] = set()
        self._scan_lock = asyncio.Lock()
        self._scan_listeners: dict[object, Callable[[ScanReport], None]] = {}

    async def start(self) -> None:
        await self.device.power_on()
        # Bumble's connect_le sets this for the duration of its own connect; ours never
        # calls it, and Device.on_le_connection asserts the value is set.
        self.device.connect_own_address_type = hci.OwnAddressType.RANDOM
        self.device.host.on("advertising_report", self._on_report)

    @property
    def value_sinks(self) -> dict[int, ValueSink]:
        return self.device.value_sinks

    # -- connecting ----------------------------------------------------------------

    @property
    def address(self) -> hci.Address:
        return self.device.random_address

    async def connect(self, peer: hci.Address) -> Connection:
        """Connect to ``peer``; raises ConnectFailed, ConnectInProgress, or CancelledError
        when cancelled.

        A cancel returns at once; the lock that serialises connects is released only
        once the controller has dropped the attempt, so the next connect starts clean.
        """
        if peer in self._connecting:
            raise ConnectInProgress()
        self._connecting.add(peer)
        acquired = False
        try:
            await self._connect_lock.acquire()
            acquired = True
        finally:
            if not acquired:  # cancelled while waiting for the lock: no longer connecting
                self._connecting.discard(peer)
        attempt = _Attempt(self.device, peer)
        command = asyncio.ensure_future(self.device.send_async_command(self._create(peer)))
        handed_over = False
        try:
            try:
                await asyncio.shield(command)
            except hci.HCI_Error as exc:
                raise ConnectFailed(exc.error_code or 0) from exc
            return await asyncio.shield(attempt.outcome)
        except asyncio.CancelledError:
            # The attempt is over for its caller (BlueZ forgets it too): a new connect
            # to the same device queues behind the cleanup instead of being refused.
            handed_over = True
            self._connecting.discard(peer)
            self._spawn(self._abort(attempt, command))
            raise
        finally:
            if not handed_over:
                attempt.close()
                self._connecting.discard(peer)
                self._connect_lock.release()

    @staticmethod
    def _create(peer: hci.Address) -> hci.HCI_LE_Create_Connection_Command:
        # The values Bumble's connect_le uses by default (units of 0.625 and 1.25 ms).
        return hci.HCI_LE_Create_Connection_Command(
            le_scan_interval=96,
            le_scan_window=96,
            initiator_filter_policy=0,
            peer_address_type=peer.address_type,
            peer_address=peer,
            own_address_type=hci.OwnAddressType.RANDOM,
            connection_interval_min=12,
            connection_interval_max=24,
            max_latency=0,
            supervision_timeout=420,
            min_ce_length=0,
            max_ce_length=0,
        )

    async def _abort(self, attempt: _Attempt, command: asyncio.Future[Any]) -> None:
        try:
            try:
                await command
            except hci.HCI_Error:
                return  # the controller never took the connect up
            # Command Disallowed means nothing is pending any more: its outcome is on
            # its way.
            with contextlib.suppress(hci.HCI_Error):
                await self.device.send_sync_command(hci.HCI_LE_Create_Connection_Cancel_Command())
            # Either answer (the cancel's failure event, or a connection that won the
            # race) is already queued on the loop.
            try:
                connection = await attempt.outcome
            except ConnectFailed:
                return
            await _disconnect_quietly(connection)
        finally:
            attempt.close()
            self._connect_lock.release()

    async def wait_unlinked(self) -> None:
        """Return once this central's host holds no link any more."""
        host = self.device.host
        if not host.connections:
            return
        loop = asyncio.get_running_loop()
        unlinked: asyncio.Future[None] = loop.create_future()

        def check() -> None:
            if not host.connections and not unlinked.done():
                unlinked.set_result(None)

        def on_disconnection(*_: object) -> None:
            loop.call_soon(check)  # the host forgets the link after its listeners ran

        host.on("disconnection", on_disconnection)
        try:
            await unlinked
        finally:
            host.remove_listener("disconnection", on_disconnection)

    def lose_links(self, reason: int) -> None:
        """End every link as the controller would report it (its controller is gone)."""
        host = self.device.host
        for handle in list(host.connections):
            host.on_hci_event_packet(
                hci.HCI_Disconnection_Complete_Event(
                    status=hci.HCI_SUCCESS, connection_handle=handle, reason=reason
                )
            )

    # -- flow control ----------------------------------------------------------------

    def acl_backlogged(self) -> bool:
        """Whether the host holds more ACL packets than the controller takes at once."""
        queue = self.device.host.le_acl_packet_queue
        return queue is not None and queue.pending >= queue.max_in_flight

    async def acl_room(self) -> None:
        """Wait until :meth:`acl_backlogged` is False."""
        queue = self.device.host.le_acl_packet_queue
        host = self.device.host
        if queue is None:
            return
        loop = asyncio.get_running_loop()
        room = loop.create_future()

        def check(*_: object) -> None:
            if queue.pending < queue.max_in_flight and not room.done():
                room.set_result(None)

        def on_disconnection(*_: object) -> None:
            # A disconnection frees its packets without a "flow" event, and only after
            # its listeners ran.
            loop.call_soon(check)

        queue.on("flow", check)
        host.on("disconnection", on_disconnection)
        try:
            check()
            await room
        finally:
            queue.remove_listener("flow", check)
            host.remove_listener("disconnection", on_disconnection)

    # -- scanning ------------------------------------------------------------------

    async def add_scan_listener(self, listener: Callable[[ScanReport], None]) -> object:
        """Start delivering advertising reports to ``listener``; returns a token."""
        token = object()
        async with self._scan_lock:
            self._scan_listeners[token] = listener
            if not self.device.scanning:
                await self.device.start_scanning(active=True, filter_duplicates=False)
        return token

    async def remove_scan_listener(self, token: object) -> None:
        async with self._scan_lock:
            self._scan_listeners.pop(token, None)
            if not self._scan_listeners and self.device.scanning:
                await self.device.stop_scanning()

    def _on_report(self, report: hci.HCI_LE_Extended_Advertising_Report_Event.Report) -> None:
        if not self._scan_listeners:
            return
        scan = ScanReport(report.address, report.rssi, parse_advertising_data(report.data))
        for listener in list(self._scan_listeners.values()):
            try:
                listener(scan)
            except Exception:
                logger.exception("scan listener failed")


async def _disconnect_quietly(connection: Connection) -> None:
    try:
        await connection.disconnect()
    except (hci.HCI_Error, core.BaseBumbleError) as exc:
        logger.debug("disconnect of %s failed: %r", connection.peer_address, exc)
