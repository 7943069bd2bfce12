"""The ATT gate of one emulated peripheral: every ATT PDU from a central passes it first.

The gate applies the armed faults (stall: drop the request; ATT error: answer it; delay:
hand it over later; zombie: drop everything), refuses what the characteristic's
properties (and its pairing requirement) do not allow, counts reads, and takes
indication confirmations, before Bumble's GATT server sees a request. It also answers
the empty Read By Type request that ends every characteristic discovery, which Bumble's
server answers with a ``logging.debug()`` on the root logger (that call also configures
logging for an application that has not). Loop thread only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bumble.device import Device

from blerun.gatt import AttErrorCode

from ._faults import Counters, FaultPlan, Operation
from ._gatt import ATT_CID, GattTable, Op
from ._transmitter import PeripheralLink, Transmitter

__all__ = ["AttGate", "GatedDevice"]


class GatedDevice(Device):
    """A Bumble device whose incoming ATT PDUs pass a gate before its GATT server."""

    gate: Callable[[int, bytes], bool] | None = None

    # Bumble registers this for the ATT channel, called with the connection handle.
    def on_gatt_pdu(self, connection_handle: int, pdu: bytes) -> None:
        gate = self.gate
        if gate is None or not gate(connection_handle, pdu):
            super().on_gatt_pdu(connection_handle, pdu)

    def forward_gatt_pdu(self, connection_handle: int, pdu: bytes) -> None:
        """Hand a PDU the gate let through to Bumble's GATT server."""
        super().on_gatt_pdu(connection_handle, pdu)


class AttGate:
    """Decides each ATT PDU a peripheral receives (install as ``GatedDevice.gate``)."""

    def __init__(
        self,
        *,
        device: GatedDevice,
        table: GattTable,
        links: dict[int, PeripheralLink],
        faults: FaultPlan,
        counters: Counters,
        transmitter: Transmitter,
        changed: Callable[[], None],
    ) -> None:
        self._device = device
        self._table = table
        self._links = links
        self._faults = faults
        self._counters = counters
        self._transmitter = transmitter
        self._changed = changed
        self._loop = asyncio.get_running_loop()

    def __call__(self, connection_handle: int, pdu: bytes) -> bool:
        """Look at an ATT PDU from the central; True when it must not reach Bumble."""
        if self._faults.zombie:
            return True  # the peripheral's host is dead; its link layer is not
        opcode = pdu[0]
        if opcode == Op.CONFIRMATION:
            link = self._links.get(connection_handle)
            if link is not None:
                self._transmitter.confirmed(link)
            return True
        op: Operation
        if opcode == Op.READ_REQ:
            op = "read"
        elif opcode == Op.WRITE_REQ:
            target = int.from_bytes(pdu[1:3], "little")
            op = "subscribe" if target in self._table.by_cccd_handle else "write"
        elif opcode in (Op.WRITE_CMD, Op.EXECUTE_WRITE_REQ):
            op = "write"
        elif opcode in (Op.READ_BLOB_REQ, Op.PREPARE_WRITE_REQ):
            # Continuations of a long read or write: checked, never a fault's target.
            self._admit(connection_handle, pdu)
            return True
        elif opcode == Op.READ_BY_TYPE_REQ:
            if not GattTable.finds_nothing(pdu, self._device.gatt_server.attributes):
                return False
            self._answer(connection_handle, pdu, AttErrorCode.ATTRIBUTE_NOT_FOUND)
            return True
        else:
            return False
        ruling = self._faults.rule(op)
        if ruling.stall:
            return True
        if ruling.code:
            self._answer(connection_handle, pdu, ruling.code)
            return True
        if ruling.delay > 0:
            self._loop.call_later(ruling.delay, self._admit, connection_handle, pdu)
            return True
        self._admit(connection_handle, pdu)
        return True

    def _admit(self, connection_handle: int, pdu: bytes) -> None:
        link = self._links.get(connection_handle)
        if link is None or not link.alive or self._faults.zombie:
            return
        opcode = pdu[0]
        if opcode == Op.EXECUTE_WRITE_REQ:
            self._device.forward_gatt_pdu(connection_handle, pdu)
            return
        handle = int.from_bytes(pdu[1:3], "little")
        attribute = self._device.gatt_server.get_attribute(handle)
        refusal = self._table.refusal(opcode, handle, attribute)
        if refusal:
            if opcode != Op.WRITE_CMD:
                self._answer(connection_handle, pdu, refusal)
            return
        if handle in self._table.by_value_handle and opcode == Op.READ_REQ:
            self._counters.reads += 1
            self._changed()
        self._device.forward_gatt_pdu(connection_handle, pdu)

    def _answer(self, connection_handle: int, pdu: bytes, code: int) -> None:
        opcode = pdu[0]
        if opcode == Op.WRITE_CMD:
            return  # a command has no response, not even an error
        target = pdu[1:3] if opcode != Op.EXECUTE_WRITE_REQ else b"\x00\x00"
        self._device.send_l2cap_pdu(
            connection_handle, ATT_CID, bytes([Op.ERROR_RSP, opcode]) + target + bytes([code])
        )
