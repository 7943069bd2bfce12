"""Input checks made at the call, before any message is sent; each names what is wrong."""

from __future__ import annotations

import logging
import math
import re
import uuid as uuidlib

from blerun.actors.errors import (
    InvalidAddress,
    InvalidArgument,
    InvalidPayload,
    InvalidPolicy,
    InvalidTimeout,
    InvalidUUID,
)
from blerun.gatt import InvalidUUIDValue
from blerun.gatt import normalize_uuid as _normalize_uuid

_log = logging.getLogger(__name__)
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


def normalize_uuid(value: object, *, name: str = "uuid") -> str:
    """A Bluetooth UUID as lower-case 128-bit text (see ``blerun.gatt.normalize_uuid``).

    Raises:
        InvalidUUID: anything else, naming the argument and the offending value.
    """
    try:
        return _normalize_uuid(value)
    except InvalidUUIDValue as exc:
        raise InvalidUUID(f"{name}: {exc}") from None


def normalize_address(value: object, *, name: str = "address") -> str:
    """A device address as the runtime keys it: upper-case MAC, or a platform UUID.

    macOS hides MAC addresses and identifies devices by a UUID instead; both are accepted.

    Raises:
        InvalidAddress: anything else, naming the argument (``name``).
    """
    if not isinstance(value, str):
        raise InvalidAddress(
            f"{name} must be a str like 'AA:BB:CC:DD:EE:FF', not {type(value).__name__}"
        )
    text = value.strip()
    if _MAC.match(text):
        return text.upper()
    try:
        return str(uuidlib.UUID(text)).upper()
    except ValueError:
        raise InvalidAddress(
            f"{name} {value!r} is neither a Bluetooth address like 'AA:BB:CC:DD:EE:FF' "
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


def clamp_timeout(value: float) -> float:
    """A computed remainder (``deadline - now``) as a usable bound: never negative."""
    return value if value > 0 else 0.0


def check_callable(value: object, *, name: str, optional: bool = False) -> None:
    """Raises ``InvalidArgument`` (a ``TypeError``) unless ``value`` is callable."""
    if optional and value is None:
        return
    if not callable(value):
        raise InvalidArgument(name, "callable" + (" or None" if optional else ""), value)


def check_flag(value: object, *, name: str) -> bool:
    """Raises ``InvalidArgument`` (a ``TypeError``) unless ``value`` is True or False."""
    if not isinstance(value, bool):
        raise InvalidArgument(name, "True or False", value)
    return value


def check_count(value: object, *, name: str, low: int = 1) -> int:
    """An int >= ``low`` (a queue size, a worker count).

    Raises:
        InvalidPolicy: anything else, naming the argument and the bound.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidPolicy(name, f"an int >= {low}", value)
    return value


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
    raise InvalidPayload(f"data must be bytes-like, not {type(value).__name__}{hint}")


def teardown_timeout(value: object, default: float, *, name: str = "timeout") -> float:
    """A bound for a teardown call (close, disconnect, cancel), which never raises.

    A computed remainder easily goes slightly negative: negatives and NaN become 0, an
    infinite or missing bound becomes ``default``, and anything that is not a number is
    logged and replaced by ``default`` instead of leaving the thing open.
    """
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        _log.warning("%s=%r is not a number of seconds; using %g s", name, value, default)
        return default
    seconds = float(value)
    if math.isinf(seconds):
        return default
    if math.isnan(seconds) or seconds < 0:
        return 0.0
    return seconds
