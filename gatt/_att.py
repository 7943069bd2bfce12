"""ATT error codes (Core spec v5.4, Vol 3, Part F, 3.4.1.1, and CSS Part B, 1.2)."""

from __future__ import annotations

import enum


class AttErrorCode(enum.IntEnum):
    """An ATT error code a peripheral answers with.

    Codes 0x80-0x9F are the application's own and have no member here: where a code is
    carried (``GattError.code``) it is an ``int``, and ``AttErrorCode.describe(code)``
    names any of them.
    """

    INVALID_HANDLE = 0x01
    READ_NOT_PERMITTED = 0x02
    WRITE_NOT_PERMITTED = 0x03
    INVALID_PDU = 0x04
    INSUFFICIENT_AUTHENTICATION = 0x05
    REQUEST_NOT_SUPPORTED = 0x06
    INVALID_OFFSET = 0x07
    INSUFFICIENT_AUTHORIZATION = 0x08
    PREPARE_QUEUE_FULL = 0x09
    ATTRIBUTE_NOT_FOUND = 0x0A
    ATTRIBUTE_NOT_LONG = 0x0B
    INSUFFICIENT_ENCRYPTION_KEY_SIZE = 0x0C
    INVALID_ATTRIBUTE_VALUE_LENGTH = 0x0D
    UNLIKELY_ERROR = 0x0E
    INSUFFICIENT_ENCRYPTION = 0x0F
    UNSUPPORTED_GROUP_TYPE = 0x10
    INSUFFICIENT_RESOURCES = 0x11
    DATABASE_OUT_OF_SYNC = 0x12
    VALUE_NOT_ALLOWED = 0x13
    WRITE_REQUEST_REJECTED = 0xFC
    CCCD_IMPROPERLY_CONFIGURED = 0xFD
    PROCEDURE_ALREADY_IN_PROGRESS = 0xFE
    OUT_OF_RANGE = 0xFF

    @staticmethod
    def describe(code: int) -> str:
        """A readable name for any ATT code: ``"READ_NOT_PERMITTED (0x02)"``."""
        try:
            name = AttErrorCode(code).name
        except ValueError:
            name = "APPLICATION_ERROR" if 0x80 <= code <= 0x9F else "UNKNOWN"
        return f"{name} (0x{code:02X})"
