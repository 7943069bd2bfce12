"""Input checks made at the call, before any message is sent; each names what is wrong."""

from __future__ import annotations

import math
import re
import uuid as uuidlib

from blerun.actors._errors import InvalidAddress, InvalidPayload, InvalidTimeout, InvalidUUID

_BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_SHORT = re.compile(r"^(0x)?([0-9A-Fa-f]{4}|[0-9A-Fa-f]{8})$")


def normalize_uuid(value: object) -> str:
    """A Bluetooth UUID as lower-case 128-bit text.

    Accepts 16-bit (``"180d"``, ``"0x180D"``, ``0x180D``), 32-bit and 128-bit forms and
    ``uuid.UUID``.

    Raises:
        InvalidUUID: anything else, with the offending value in the message.
    """
    if isinstance(value, uuidlib.UUID):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= 0xFFFFFFFF:
            return f"{value:08x}{_BASE_UUID_SUFFIX}"
        raise InvalidUUID(f"integer UUID {value:#x} is out of the 16/32-bit range")
    if not isinstance(value, str):
        raise InvalidUUID(f"a UUID must be str, int or uuid.UUID, not {type(value).__name__}")
    text = value.strip()
    short = _SHORT.match(text)
    if short:
        return f"{int(short.group(2), 16):08x}{_BASE_UUID_SUFFIX}"
    try:
        return str(uuidlib.UUID(text))
    except ValueError:
        raise InvalidUUID(
            f"{value!r} is not a Bluetooth UUID (16-bit like '180d', or 128-bit)"
        ) from None


def normalize_address(value: object) -> str:
    """A device address as the runtime keys it: upper-case MAC, or a platform UUID.

    macOS hides MAC addresses and identifies devices by a UUID instead; both are accepted.

    Raises:
        InvalidAddress: anything else.
    """
    if not isinstance(value, str):
        raise InvalidAddress(f"a device address must be str, not {type(value).__name__}")
    text = value.strip()
    if _MAC.match(text):
        return text.upper()
    try:
        return str(uuidlib.UUID(text)).upper()
    except ValueError:
        raise InvalidAddress(
            f"{value!r} is neither a Bluetooth address like 'AA:BB:CC:DD:EE:FF' "
            "nor a platform device UUID"
        ) from None


def check_timeout(value: object, *, name: str = "timeout") -> float:
    """A finite, non-negative number of seconds.

    Raises:
        InvalidTimeout: negative, NaN, infinite, or not a number.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidTimeout(f"{name} must be a number of seconds, not {type(value).__name__}")
    seconds = float(value)
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise InvalidTimeout(f"{name} must be finite and >= 0 seconds, got {value!r}")
    return seconds


def as_payload(value: object) -> bytes:
    """A write payload as immutable ``bytes``.

    Raises:
        InvalidPayload: not bytes, bytearray or memoryview (a str must be encoded first).
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    hint = " (encode the str first, e.g. text.encode())" if isinstance(value, str) else ""
    raise InvalidPayload(f"payload must be bytes-like, not {type(value).__name__}{hint}")
