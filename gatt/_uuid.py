"""Bluetooth UUIDs as one text form: lower-case 128-bit, the form bleak reports."""

from __future__ import annotations

import re
import uuid as uuidlib

BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"
"""The Bluetooth base UUID after its first 32 bits (Core spec Vol 3, Part B, 2.5.1)."""

_SHORT = re.compile(r"^(0x)?([0-9A-Fa-f]{4}|[0-9A-Fa-f]{8})$")


class InvalidUUIDValue(ValueError):
    """Not a 16-, 32- or 128-bit Bluetooth UUID; ``blerun.actors`` raises its own subclass."""


def from_short(value: int) -> str:
    """The 128-bit text of a 16- or 32-bit assigned number."""
    return f"{value:08x}{BASE_SUFFIX}"


def normalize_uuid(value: object) -> str:
    """A Bluetooth UUID as lower-case 128-bit text.

    Accepts 16-bit (``"180d"``, ``"0x180D"``, ``0x180D``), 32-bit and 128-bit text and
    ``uuid.UUID``.

    Raises:
        InvalidUUIDValue: anything else, with the offending value in the message.
    """
    if isinstance(value, uuidlib.UUID):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= 0xFFFFFFFF:
            return from_short(value)
        raise InvalidUUIDValue(f"integer UUID {value:#x} is out of the 16/32-bit range")
    if not isinstance(value, str):
        raise InvalidUUIDValue(f"a UUID must be str, int or uuid.UUID, not {type(value).__name__}")
    text = value.strip()
    short = _SHORT.match(text)
    if short:
        return from_short(int(short.group(2), 16))
    try:
        return str(uuidlib.UUID(text))
    except ValueError:
        raise InvalidUUIDValue(
            f"{value!r} is not a Bluetooth UUID (16-bit like '180d', or 128-bit)"
        ) from None


def short_uuid(value: object) -> str:
    """The shortest text of a UUID: ``"2a37"`` for assigned numbers, 128-bit otherwise."""
    full = normalize_uuid(value)
    if full.endswith(BASE_SUFFIX):
        head = full[:8]
        return head[4:] if head.startswith("0000") else head
    return full
