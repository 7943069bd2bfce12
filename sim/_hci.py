"""Bumble's virtual link and controllers, adjusted for an emulated air (the host that goes
with them is in ``_quiet_host.py``, what a central asks the air in ``_link_policy.py``).

Changes to Bumble's stock classes, each for a measured or observed reason:

* **Quiet packet paths.** Bumble's controller and host build a coloured log string
  (``f"... {packet}"``) for every HCI packet before the logger decides to drop it; that
  formatting was most of the CPU of a notification stream. The quiet subclasses dispatch
  without it, hand ACL packets across as objects instead of serialising and parsing
  them again, and report completed packets once per loop iteration instead of once per
  packet. ``quiet=False`` keeps Bumble's stock paths, for measuring the difference
  (``bench/bench_sim.py``: about x5 on notifications).
* **Realistic buffers.** 251-byte ACL packets (LE Data Length Extension) and 255 of
  them, instead of 27 and 64: a 244-byte notification is one packet, not ten.
* **A working connect cancel.** The stock controller acknowledges *LE Create Connection
  Cancel* but keeps ``pending_le_connection`` and never sends the *LE Connection
  Complete* (status Unknown Connection Identifier) a real controller sends, so a timed
  out connect left the central unable to connect again. Likewise a disconnect of an
  unknown handle is rejected instead of left pending forever.
* **Hooks for fault injection and scale.** The central controller asks a
  :class:`LinkPolicy` before it completes a connect or a disconnect (refuse, stall,
  delay); a peripheral controller can go radio-silent or lose its links; the link
  delivers advertising only to a central that listens and connection requests only to
  their target, instead of to every controller on the air.

Nothing here knows about bleak.
"""

from __future__ import annotations

import asyncio

from bumble import hci, ll
from bumble.controller import Connection as ControllerConnection
from bumble.controller import Controller
from bumble.core import PhysicalTransport
from bumble.link import LocalLink
from bumble.transport.common import TransportSink, TransportSource

from ._link_policy import LinkPolicy, Verdict, _OpenPolicy
from ._quiet_host import QuietHost

__all__ = ["CentralController", "PeripheralController", "QuietController", "SimLink"]

# Real controllers with LE Data Length Extension carry a whole 251-byte L2CAP frame per
# packet; Bumble's default (27) splits every notification larger than 20 bytes.
_LE_ACL_PACKET_LENGTH = 251
# The largest value the 1-octet HCI field can report.
_LE_ACL_PACKETS = 255
# Reported to the central host as the RSSI of every advertising report when the
# policy knows no better.
# An extended advertising report for a legacy ADV_IND PDU: connectable, scannable, legacy.
_ADV_IND_EVENT_TYPE = 0x13


_SUPERVISION_TIMEOUT = 0x08
"""HCI Connection Timeout: how a link to a peer that went silent ends."""


class SimLink(LocalLink):
    """A ``LocalLink`` that indexes controllers by address and routes advertising.

    The stock link looks a destination up by scanning every controller and every
    connection for each ACL packet, and copies every advertising PDU to every other
    controller: with N peripherals that is O(N) per packet and O(N^2) per advertising
    interval. Only the central needs advertising, and only while it scans or connects.
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # LocalLink.__init__ is unannotated
        self._by_address: dict[hci.Address, Controller] = {}
        # Every central on the air (adapters of one host, or of other processes).
        self.centrals: list[CentralController] = []

    def add_controller(self, controller: Controller) -> None:
        super().add_controller(controller)
        self.on_address_changed(controller)

    def remove_controller(self, controller: Controller) -> None:
        gone = [a for a, c in self._by_address.items() if c is controller]
        super().remove_controller(controller)
        for address in gone:
            del self._by_address[address]
        if controller in self.centrals:
            self.centrals.remove(controller)
        # A controller that leaves the air (its host process died, maybe in the middle of
        # making a link) is never heard again: its peers' ends of those links time out.
        for peer in self.controllers:
            if isinstance(peer, QuietController):
                peer.lose_peers(gone, _SUPERVISION_TIMEOUT)

    def on_address_changed(self, controller: Controller) -> None:
        # Called by Controller.random_address's setter, also during __init__ of the base
        # class, before our dict exists.
        by_address = getattr(self, "_by_address", None)
        if by_address is None:
            return
        for address in [a for a, c in by_address.items() if c is controller]:
            del by_address[address]
        for address in (controller.random_address, controller.public_address):
            if address not in (hci.Address.ANY, hci.Address.ANY_RANDOM):
                by_address[address] = controller

    def find_le_controller(self, address: hci.Address) -> Controller | None:
        found = self._by_address.get(address)
        if found is not None:
            return found
        return super().find_le_controller(address)

    def send_advertising_pdu(
        self, sender_controller: Controller, packet: ll.AdvertisingPdu
    ) -> None:
        loop = asyncio.get_running_loop()
        if isinstance(packet, ll.ConnectInd):
            target = self._by_address.get(packet.advertiser_address)
            if target is not None and target is not sender_controller:
                loop.call_soon(target.on_ll_advertising_pdu, packet)
            return
        for central in self.centrals:
            if central is not sender_controller and central.listening:
                loop.call_soon(central.on_ll_advertising_pdu, packet)


class QuietController(Controller):
    """A controller that dispatches HCI packets without formatting them."""

    le_acl_data_packet_length = _LE_ACL_PACKET_LENGTH
    total_num_le_acl_data_packets = _LE_ACL_PACKETS
    supported_max_tx_octets = _LE_ACL_PACKET_LENGTH
    supported_max_rx_octets = _LE_ACL_PACKET_LENGTH

    def __init__(
        self,
        name: str,
        *,
        link: SimLink,
        quiet: bool,
        host_source: TransportSource | None = None,
        host_sink: TransportSink | None = None,
    ) -> None:
        # Without a source and sink, a QuietHost in this process attaches itself.
        super().__init__(name, host_source=host_source, host_sink=host_sink, link=link)
        self.quiet = quiet
        self._loop = asyncio.get_running_loop()
        self._completed: dict[int, int] = {}
        self._completion_due = False

    def on_hci_acl_data_packet(self, packet: hci.HCI_AclDataPacket) -> None:
        if not self.quiet:
            super().on_hci_acl_data_packet(packet)
            return
        connection = self.find_connection_by_handle(packet.connection_handle)
        if connection is None:
            return
        connection.assembler.feed_packet(packet)
        # One Number Of Completed Packets event per loop iteration instead of one per
        # packet, as real controllers batch them: it was a third of the HCI traffic.
        handle = packet.connection_handle
        self._completed[handle] = self._completed.get(handle, 0) + 1
        if not self._completion_due:
            self._completion_due = True
            self._loop.call_soon(self._report_completed)

    def on_link_acl_data(
        self, sender_address: hci.Address, transport: PhysicalTransport, data: bytes
    ) -> None:
        # Data still on the air when its link went down is lost, as on a real radio;
        # the stock controller logs a warning for each such packet.
        if transport == PhysicalTransport.LE and sender_address not in self.le_connections:
            return
        super().on_link_acl_data(sender_address, transport, data)

    def drop_links(self, reason: int) -> int:
        """Lose every LE link at once, as a supervision timeout would; returns how many.

        The central learns it through the link, queued behind every packet this
        controller already put on the air, so what was sent before the drop arrives.
        """
        dropped = list(self.le_connections.values())
        for connection in dropped:
            self._lose(connection, reason)
        return len(dropped)

    def _lose(self, connection: ControllerConnection, reason: int) -> None:
        if self.link.find_le_controller(connection.peer_address) is not None:
            connection.send_ll_control_pdu(ll.TerminateInd(reason))
        self.on_le_disconnected(connection, reason)

    def lose_peers(self, addresses: list[hci.Address], reason: int) -> None:
        """End the links to controllers no longer on the air (nothing is sent to them)."""
        for connection in list(self.le_connections.values()):
            if connection.peer_address in addresses:
                self.on_le_disconnected(connection, reason)

    def _report_completed(self) -> None:
        self._completion_due = False
        completed, self._completed = self._completed, {}
        # A link that went down meanwhile: its host frees those packets itself.
        live = {h: n for h, n in completed.items() if self.find_connection_by_handle(h)}
        if live:
            self.send_hci_packet(
                hci.HCI_Number_Of_Completed_Packets_Event(
                    connection_handles=list(live), num_completed_packets=list(live.values())
                )
            )

    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if not self.quiet:
            super().on_hci_packet(packet)
        elif isinstance(packet, hci.HCI_AclDataPacket):
            self.on_hci_acl_data_packet(packet)
        elif isinstance(packet, hci.HCI_Command):
            self.on_hci_command_packet(packet)
        else:
            super().on_hci_packet(packet)

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if not self.quiet:
            super().send_hci_packet(packet)
            return
        host = self.host
        if host is None:
            return
        if isinstance(packet, hci.HCI_AclDataPacket) and isinstance(host, QuietHost):
            # ACL packets need no round trip through bytes: the host reads the same
            # fields a parse would give it.
            self._loop.call_soon(host.on_acl_object, packet)
        else:
            self._loop.call_soon(host.on_packet, bytes(packet))


class CentralController(QuietController):
    """A central's controller: fixed connect cancel, policy hooks, slots, quiet reports.

    Its host is a :class:`QuietHost` in this process, or any Bumble host at the other
    end of ``host_source`` / ``host_sink`` (another process, through a socket).
    """

    def __init__(
        self,
        name: str,
        *,
        link: SimLink,
        quiet: bool,
        slots: int | None = None,
        host_source: TransportSource | None = None,
        host_sink: TransportSink | None = None,
    ) -> None:
        super().__init__(name, link=link, quiet=quiet, host_source=host_source, host_sink=host_sink)
        self.policy: LinkPolicy = _OpenPolicy()
        self.slots = slots
        # State of the one pending LE connection, reset whenever a new one starts.
        self._admitted = False
        self._stalled = False
        self._hold_until = 0.0
        link.centrals.append(self)

    @property
    def listening(self) -> bool:
        """Whether advertising PDUs matter to this controller right now."""
        return self.le_scan_enable or self.pending_le_connection is not None

    def on_hci_le_create_connection_command(
        self, command: hci.HCI_LE_Create_Connection_Command
    ) -> None:
        if self.slots is not None and len(self.le_connections) >= self.slots:
            # A controller out of link resources refuses the command itself.
            self._send_hci_command_status(
                hci.HCI_ErrorCode.CONNECTION_LIMIT_EXCEEDED_ERROR, command.op_code
            )
            return
        if self.pending_le_connection is None:
            self._admitted = False
            self._stalled = False
            self._hold_until = 0.0
        super().on_hci_le_create_connection_command(command)

    def on_hci_le_create_connection_cancel_command(
        self, _command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        if pending is None:
            # Vol 4, Part E, 7.8.13: no create connection pending -> Command Disallowed.
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        # The Command Complete (sent after this handler returns) must reach the host
        # before the LE Connection Complete; call_soon keeps that order.
        self._loop.call_soon(
            self._send_connection_failure,
            pending.peer_address,
            hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
        )
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def abandon_pending(self) -> None:
        """Fail a pending connect at once (the air is shutting down)."""
        pending = self.pending_le_connection
        if pending is not None:
            self.pending_le_connection = None
            self._send_connection_failure(
                pending.peer_address, hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR
            )

    def _send_connection_failure(self, peer: hci.Address, status: int) -> None:
        self.send_hci_packet(
            hci.HCI_LE_Connection_Complete_Event(
                status=status,
                connection_handle=0,
                role=hci.Role.CENTRAL,
                peer_address_type=peer.address_type,
                peer_address=peer,
                connection_interval=0,
                peripheral_latency=0,
                supervision_timeout=0,
                central_clock_accuracy=0,
            )
        )

    def on_advertising_pdu(self, pdu: ll.AdvInd | ll.AdvExtInd) -> None:
        advertiser = pdu.advertiser_address
        if self.le_scan_enable:
            # One report per PDU: the virtual link carries no scan response, and the
            # stock controller's echo of the advertising data as a scan response made
            # every AD structure arrive twice.
            report = hci.HCI_LE_Extended_Advertising_Report_Event.Report(
                event_type=_ADV_IND_EVENT_TYPE,
                address_type=advertiser.address_type,
                address=advertiser,
                primary_phy=hci.Phy.LE_1M,
                secondary_phy=0,
                advertising_sid=0xFF,
                tx_power=hci.HCI_LE_Extended_Advertising_Report_Event.TX_POWER_INFORMATION_NOT_AVAILABLE,
                rssi=self.policy.rssi_of(advertiser),
                periodic_advertising_interval=0,
                direct_address_type=0,
                direct_address=hci.Address.ANY,
                data=pdu.data,
            )
            self.send_hci_packet(hci.HCI_LE_Extended_Advertising_Report_Event([report]))

        pending = self.pending_le_connection
        if pending is None or pending.peer_address != advertiser:
            return
        if not self._admitted:
            self._admitted = True
            admission = self.policy.admit_connect(advertiser)
            if admission.verdict is Verdict.REFUSE:
                self.pending_le_connection = None
                # What a central reports when the peripheral does not take up its
                # connection request.
                self._send_connection_failure(
                    pending.peer_address,
                    hci.HCI_ErrorCode.CONNECTION_FAILED_TO_BE_ESTABLISHED_ERROR,
                )
                return
            if admission.verdict is Verdict.STALL:
                self._stalled = True
            elif admission.delay > 0:
                self._hold_until = self._loop.time() + admission.delay
        if self._stalled or self._loop.time() < self._hold_until:
            return
        self.create_le_connection(advertiser)

    def on_hci_disconnect_command(self, command: hci.HCI_Disconnect_Command) -> None:
        connection = self.find_le_connection_by_handle(command.connection_handle)
        if connection is None:
            # The stock controller acknowledges an unknown handle as pending and then
            # never completes it; a real one rejects it at once.
            self._send_hci_command_status(
                hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR, command.op_code
            )
            return None
        admission = self.policy.admit_disconnect(connection.peer_address)
        if admission.verdict is Verdict.PROCEED and admission.delay <= 0:
            return super().on_hci_disconnect_command(command)
        self._send_hci_command_status(hci.HCI_COMMAND_STATUS_PENDING, command.op_code)
        if admission.verdict is Verdict.PROCEED:
            self._loop.call_later(
                admission.delay,
                self._terminate,
                connection.peer_address,
                connection.handle,
                command.reason,
            )
        # A stalled disconnect is acknowledged and then never completed, as a
        # controller that lost the command would do.
        return None

    def _terminate(self, peer: hci.Address, handle: int, reason: int) -> None:
        connection = self.le_connections.get(peer)
        if connection is None or connection.handle != handle:
            return
        connection.send_ll_control_pdu(ll.TerminateInd(reason))
        self.on_le_disconnected(connection, reason)


class PeripheralController(QuietController):
    """A peripheral's controller: can go radio-silent and can lose its link."""

    def __init__(self, name: str, *, link: SimLink, quiet: bool) -> None:
        super().__init__(name, link=link, quiet=quiet)
        self.silent = False

    def send_advertising_pdu(self, packet: ll.AdvertisingPdu) -> None:
        if self.silent:
            return
        if self.link:
            self.link.send_advertising_pdu(self, packet)
