"""A Bumble host that dispatches HCI packets without formatting them (see ``_hci.py``
for why): ACL packets cross as objects to a controller in this process, as bytes over a
transport to one in another process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bumble import hci
from bumble.host import Host
from bumble.transport.common import TransportSink, TransportSource

if TYPE_CHECKING:  # _hci's controllers hand their packets to this host: no import cycle
    from ._hci import QuietController


class QuietHost(Host):
    """A host that dispatches HCI packets without formatting them.

    Attached to a controller in this process (:meth:`local`), ACL packets cross as
    objects; attached to a transport (:meth:`over`, another process's controller through
    a socket), every packet crosses as bytes. ``quiet=False`` keeps Bumble's stock paths.
    """

    def __init__(
        self,
        source: TransportSource,
        sink: TransportSink,
        *,
        quiet: bool,
        controller: QuietController | None = None,
    ) -> None:
        super().__init__(controller_source=source, controller_sink=sink)
        self._quiet = quiet
        self._controller = controller

    @classmethod
    def local(cls, controller: QuietController) -> QuietHost:
        """A host for a controller in this process."""
        return cls(controller, controller, quiet=controller.quiet, controller=controller)

    @classmethod
    def over(cls, source: TransportSource, sink: TransportSink) -> QuietHost:
        """A host for the controller at the other end of a transport."""
        return cls(source, sink, quiet=True)

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        controller = self._controller
        if not self._quiet:
            super().send_hci_packet(packet)
        elif controller is None:
            if self.hci_sink is not None:
                self.hci_sink.on_packet(bytes(packet))
        elif isinstance(packet, hci.HCI_AclDataPacket):
            controller.on_hci_acl_data_packet(packet)
        else:
            controller.on_packet(bytes(packet))

    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if not self._quiet:
            super().on_hci_packet(packet)
        elif isinstance(packet, hci.HCI_Event):
            self.on_hci_event_packet(packet)
        elif isinstance(packet, hci.HCI_AclDataPacket):
            self.on_hci_acl_data_packet(packet)
        else:
            super().on_hci_packet(packet)

    def on_acl_object(self, packet: hci.HCI_AclDataPacket) -> None:
        """Receive an ACL packet handed over as an object (local quiet path only)."""
        if self.ready:
            self.on_hci_acl_data_packet(packet)

    def send_acl_sdu(self, connection_handle: int, sdu: bytes) -> None:
        if not self._quiet:
            super().send_acl_sdu(connection_handle, sdu)
            return
        # Same fragmentation as Bumble's, without its per-packet ``pdu.hex()`` log.
        connection = self.connections.get(connection_handle)
        if connection is None:
            return
        queue = connection.acl_packet_queue
        size = queue.max_packet_size
        for offset in range(0, len(sdu), size):
            fragment = sdu[offset : offset + size]
            queue.enqueue(
                hci.HCI_AclDataPacket(
                    connection_handle=connection_handle,
                    pb_flag=1 if offset > 0 else 0,
                    bc_flag=0,
                    data_total_length=len(fragment),
                    data=fragment,
                ),
                connection_handle,
            )
