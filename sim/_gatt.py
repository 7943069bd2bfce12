"""The emulated GATT database: Bumble attributes built from a spec, plus the checks
Bumble's server leaves out.

Bumble's GATT server does not check permissions ("TODO: check permissions"): a write to
a read-only value throws inside the server and no ATT response is ever sent, so the
client waits out the 30 s ATT timeout. :meth:`GattTable.refusal` gives the answer a
real server gives (Read/Write Not Permitted) before a request reaches Bumble, and the
value callbacks turn every application error into an ATT error response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from bumble import att, gatt
from bumble.core import UUID
from bumble.device import Connection

from blerun.gatt import AttErrorCode

from ._spec import AttError, CharacteristicSpec, Property, ServiceSpec

__all__ = [
    "ATT_CID",
    "CharState",
    "GattTable",
    "Op",
    "to_bumble_uuid",
]

logger = logging.getLogger(__name__)

ATT_CID: Final = 0x0004


class Op:
    """ATT opcodes the emulated peripheral looks at (Vol 3, Part F, 3.4.8)."""

    ERROR_RSP: Final = 0x01
    READ_BY_TYPE_REQ: Final = 0x08
    READ_REQ: Final = 0x0A
    READ_BLOB_REQ: Final = 0x0C
    WRITE_REQ: Final = 0x12
    PREPARE_WRITE_REQ: Final = 0x16
    EXECUTE_WRITE_REQ: Final = 0x18
    NOTIFICATION: Final = 0x1B
    INDICATION: Final = 0x1D
    CONFIRMATION: Final = 0x1E
    WRITE_CMD: Final = 0x52


_SIG_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"

_PROPERTY_BITS: Final = (
    (Property.READ, gatt.Characteristic.Properties.READ),
    (Property.WRITE, gatt.Characteristic.Properties.WRITE),
    (Property.WRITE_WITHOUT_RESPONSE, gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE),
    (Property.NOTIFY, gatt.Characteristic.Properties.NOTIFY),
    (Property.INDICATE, gatt.Characteristic.Properties.INDICATE),
)
_USER_DESCRIPTION = UUID.from_16_bits(0x2901)
_CCCD = UUID.from_16_bits(0x2902)


def to_bumble_uuid(normalized: str) -> UUID:
    """A Bumble UUID from bleak's normalised 128-bit string (16-bit when SIG-based)."""
    if normalized.startswith("0000") and normalized.endswith(_SIG_BASE_SUFFIX):
        return UUID.from_16_bits(int(normalized[4:8], 16))
    return UUID(normalized)


class CharState:
    """One emulated characteristic at run time: its value, handles and sequence."""

    __slots__ = (
        "cccd_handle",
        "notify_sequence",
        "spec",
        "stored",
        "value_handle",
    )

    def __init__(self, spec: CharacteristicSpec) -> None:
        self.spec = spec
        self.stored: bytes = spec.value if isinstance(spec.value, bytes) else b""
        self.value_handle = 0
        self.cccd_handle = 0
        self.notify_sequence = 0

    @property
    def properties(self) -> Property:
        return self.spec.properties

    def current_value(self) -> bytes:
        """The value a read returns now."""
        source = self.spec.value
        return self.stored if isinstance(source, bytes) else bytes(source())

    def next_notification(self) -> bytes:
        """The payload of the next notification; consumes one sequence number."""
        sequence = self.notify_sequence
        self.notify_sequence = sequence + 1
        build = self.spec.notify_value
        return bytes(build(sequence)) if build is not None else self.current_value()


class GattTable:
    """The spec's characteristics as Bumble services, indexed by handle."""

    def __init__(
        self,
        services: tuple[ServiceSpec, ...],
        on_write: Callable[[CharState, bytes], None],
    ) -> None:
        self._on_write = on_write
        self.chars: list[CharState] = []
        self.by_value_handle: dict[int, CharState] = {}
        self.by_cccd_handle: dict[int, CharState] = {}
        self.by_uuid: dict[str, CharState] = {}
        self._pairs: list[tuple[CharState, gatt.Characteristic[bytes]]] = []
        self.services = [self._service(spec) for spec in services]

    def _service(self, spec: ServiceSpec) -> gatt.Service:
        characteristics = [self._characteristic(c) for c in spec.characteristics]
        return gatt.Service(to_bumble_uuid(spec.uuid), characteristics)

    def _characteristic(self, spec: CharacteristicSpec) -> gatt.Characteristic[bytes]:
        state = CharState(spec)
        self.chars.append(state)
        # The first characteristic with a UUID wins lookups by UUID, as in bleak.
        self.by_uuid.setdefault(spec.uuid, state)
        properties = gatt.Characteristic.Properties(0)
        for ours, theirs in _PROPERTY_BITS:
            if spec.properties & ours:
                properties |= theirs
        permissions = att.Attribute.Permissions(0)
        if spec.properties & Property.READ:
            permissions |= att.Attribute.READABLE
        if spec.properties & (Property.WRITE | Property.WRITE_WITHOUT_RESPONSE):
            permissions |= att.Attribute.WRITEABLE
        descriptors = []
        if spec.description is not None:
            descriptors.append(
                gatt.Descriptor(
                    _USER_DESCRIPTION, att.Attribute.READABLE, spec.description.encode()
                )
            )

        def read(_connection: Connection) -> bytes:
            try:
                return state.current_value()
            except AttError as exc:
                raise att.ATT_Error(error_code=exc.code) from exc
            except Exception as exc:
                # Anything else would leave the read unanswered inside Bumble's server.
                logger.exception("value of %s failed", spec.uuid)
                raise att.ATT_Error(error_code=AttErrorCode.UNLIKELY_ERROR) from exc

        def write(_connection: Connection, value: bytes) -> None:
            self._write(state, value)

        characteristic: gatt.Characteristic[bytes] = gatt.Characteristic(
            to_bumble_uuid(spec.uuid),
            properties,
            permissions,
            gatt.CharacteristicValue(read=read, write=write),
            descriptors,
        )
        self._pairs.append((state, characteristic))
        return characteristic

    def _write(self, state: CharState, value: bytes) -> None:
        try:
            self._on_write(state, bytes(value))
        except AttError as exc:
            raise att.ATT_Error(error_code=exc.code) from exc
        except att.ATT_Error:
            raise
        except Exception as exc:
            # Anything else would leave the request unanswered inside Bumble's server.
            logger.exception("write handler of %s failed", state.spec.uuid)
            raise att.ATT_Error(error_code=AttErrorCode.UNLIKELY_ERROR) from exc

    def index(self, server_attributes: list[att.Attribute[bytes]]) -> None:
        """Record the handles the server assigned (call after the services are added)."""
        for state, characteristic in self._pairs:
            state.value_handle = characteristic.handle
            self.by_value_handle[state.value_handle] = state
            for attribute in server_attributes:
                if (
                    characteristic.handle < attribute.handle <= characteristic.end_group_handle
                    and attribute.type == _CCCD
                ):
                    state.cccd_handle = attribute.handle
                    self.by_cccd_handle[attribute.handle] = state

    @staticmethod
    def finds_nothing(pdu: bytes, attributes: list[att.Attribute[bytes]]) -> bool:
        """Whether a Read By Type request matches no attribute (a well-formed one)."""
        start = int.from_bytes(pdu[1:3], "little")
        end = int.from_bytes(pdu[3:5], "little")
        if start == 0 or start > end or len(pdu) not in (7, 21):
            return False  # Bumble answers these itself, without logging
        wanted = UUID.from_bytes(pdu[5:])
        return not any(a.type == wanted and start <= a.handle <= end for a in attributes)

    def refusal(self, opcode: int, handle: int, attribute: att.Attribute[bytes] | None) -> int:
        """The ATT error a real server answers ``opcode`` on ``handle`` with, or 0.

        For a write command a non-zero answer means "drop it": commands get no response.
        """
        if attribute is None:
            return 0  # Bumble answers Invalid Handle itself.
        state = self.by_value_handle.get(handle)
        guarded = state if state is not None else self.by_cccd_handle.get(handle)
        if guarded is not None and guarded.spec.requires_pairing:
            return AttErrorCode.INSUFFICIENT_AUTHENTICATION
        if opcode in (Op.READ_REQ, Op.READ_BLOB_REQ):
            allowed = (
                bool(state.properties & Property.READ)
                if state is not None
                else bool(attribute.permissions & att.Attribute.READABLE)
            )
            return 0 if allowed else AttErrorCode.READ_NOT_PERMITTED
        if opcode in (Op.WRITE_REQ, Op.PREPARE_WRITE_REQ):
            allowed = (
                bool(state.properties & Property.WRITE)
                if state is not None
                else bool(attribute.permissions & att.Attribute.WRITEABLE)
            )
            return 0 if allowed else AttErrorCode.WRITE_NOT_PERMITTED
        if opcode == Op.WRITE_CMD:
            allowed = (
                bool(state.properties & Property.WRITE_WITHOUT_RESPONSE)
                if state is not None
                else bool(attribute.permissions & att.Attribute.WRITEABLE)
            )
            return 0 if allowed else AttErrorCode.WRITE_NOT_PERMITTED
        return 0
