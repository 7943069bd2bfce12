"""How closely an air imitates one platform stack: its errors and its adapters' limits.

One place owns every error text the backends raise for a condition a platform reports in
its own words, so a profile changes them all at once:

* ``Realism()`` (the default): plain ``BleakError`` whose text carries BlueZ's words, so
  code that classifies errors by text (bleak-retry-connector) classifies them as on
  Linux; unlimited links per adapter; ``mtu_size`` is the negotiated MTU.
* ``Realism.bluez()`` (``VirtualAir.start(realism="bluez")``): what bleak's BlueZ backend
  raises, ``BleakDBusError`` with BlueZ's D-Bus error names and texts; a number of
  connection slots per adapter; ``mtu_size`` as bleak reports it on BlueZ.

References (bleak 3.1, BlueZ 5.8x): ``src/device.c`` ``att_connect_cb`` answers every LE
connect that fails below it with ``org.bluez.Error.Failed`` "le-connection-abort-by-local"
(``btd_error_le_errno(-ECONNABORTED)``) and ``dev_connect`` answers a second connect while
one is pending with ``org.bluez.Error.InProgress`` "In Progress"; ``src/gatt-client.c``
``create_gatt_dbus_error`` turns ATT Insufficient Authentication / Encryption / Key Size
into ``org.bluez.Error.NotPermitted`` "Not paired", which bleak's ``assert_gatt_reply``
leaves a ``BleakDBusError`` (it maps the other ATT errors back to
``BleakGATTProtocolError``); ``characteristic_stop_notify`` answers "No notify session
started"; ``BleakClientBlueZDBus.mtu_size`` is 23 with a ``UserWarning`` until
``_acquire_mtu()`` has run.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from bleak.exc import (
    CONTROLLER_ERROR_CODES,
    BleakDBusError,
    BleakError,
    BleakGATTProtocolError,
)

from blerun.gatt import AttErrorCode

__all__ = ["Realism", "RealismName", "realism_from"]

RealismName = Literal["default", "bluez"]
"""The named profiles ``VirtualAir`` accepts as ``realism=``."""

_FAILED = "org.bluez.Error.Failed"
_IN_PROGRESS = "org.bluez.Error.InProgress"
_NOT_PERMITTED = "org.bluez.Error.NotPermitted"
_ABORT_BY_LOCAL = "le-connection-abort-by-local"
_NOT_PAIRED_CODES = frozenset(
    {
        AttErrorCode.INSUFFICIENT_AUTHENTICATION,
        AttErrorCode.INSUFFICIENT_ENCRYPTION,
        AttErrorCode.INSUFFICIENT_ENCRYPTION_KEY_SIZE,
    }
)
# Most cheap CSR dongles hold 5 links, Broadcom parts 7 (bleak-retry-connector's notes);
# the smaller is what a user meets first.
_BLUEZ_SLOTS = 5


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Realism:
    """A platform profile for an air: which errors its backends raise, and its limits.

    Use ``Realism()`` (the default) or :meth:`bluez`; pass it, or its name, as
    ``realism=`` to :meth:`VirtualAir.start` or :meth:`VirtualAir.create`.
    """

    name: str = "default"
    """Shown in reprs and error texts."""
    dbus_errors: bool = False
    """Raise ``BleakDBusError`` with BlueZ's error names where bleak's BlueZ backend does;
    otherwise a plain ``BleakError`` (``BleakGATTProtocolError`` for ATT errors) whose
    text carries the same words."""
    connection_slots: int | None = None
    """Links one adapter holds at once; a connect past it fails as BlueZ reports a
    controller that refused it. ``None``: no limit."""
    default_mtu_until_acquired: bool = False
    """``mtu_size`` reads 23, with bleak's ``UserWarning``, until the backend's
    ``_acquire_mtu()`` has run, as on BlueZ (the characteristics'
    ``max_write_without_response_size`` follows the negotiated MTU either way)."""

    def __post_init__(self) -> None:
        if self.connection_slots is not None and self.connection_slots < 1:
            raise ValueError(f"connection_slots must be >= 1, got {self.connection_slots}")

    @classmethod
    def bluez(cls, *, connection_slots: int = _BLUEZ_SLOTS) -> Realism:
        """What bleak's BlueZ backend shows: D-Bus errors, slots, BlueZ's MTU reporting.

        Args:
            connection_slots: Links per adapter (5 on common CSR dongles, 7 on Broadcom).

        Returns:
            The profile.
        """
        return cls(
            name="bluez",
            dbus_errors=True,
            connection_slots=connection_slots,
            default_mtu_until_acquired=True,
        )

    # -- the errors, one method per condition --------------------------------------

    def connect_failed(self, address: str, status: int) -> BleakError:
        """A connect that failed below the host (refused, out of slots, aborted)."""
        if self.dbus_errors:
            return BleakDBusError(_FAILED, [_ABORT_BY_LOCAL])
        reason = CONTROLLER_ERROR_CODES.get(status, "HCI error")
        return BleakError(f"{address}: {_ABORT_BY_LOCAL} ({reason} ({status:#04x}))")

    def connect_in_progress(self, address: str) -> BleakError:
        """A second connect to a device while one is pending on the same adapter."""
        if self.dbus_errors:
            return BleakDBusError(_IN_PROGRESS, ["In Progress"])
        return BleakError(f"{address}: In Progress (a connect to it is already pending)")

    def att_error(self, code: int) -> BleakError:
        """An ATT Error Response to a read, write or subscribe."""
        if self.dbus_errors and code in _NOT_PAIRED_CODES:
            return BleakDBusError(_NOT_PERMITTED, ["Not paired"])
        return BleakGATTProtocolError(code)

    def no_notify_session(self, address: str, uuid: str) -> BleakError:
        """``stop_notify`` on a characteristic this client is not subscribed to."""
        if self.dbus_errors:
            return BleakDBusError(_FAILED, ["No notify session started"])
        return BleakError(f"{address}: characteristic {uuid}: No notify session started")


_PROFILES: dict[str, Realism] = {"default": Realism(), "bluez": Realism.bluez()}


def realism_from(value: RealismName | Realism) -> Realism:
    """The profile for ``value`` (a profile, or one of the names in :data:`RealismName`)."""
    if isinstance(value, Realism):
        return value
    try:
        return _PROFILES[value]
    except (KeyError, TypeError):
        raise ValueError(
            f"realism must be a Realism or one of {sorted(_PROFILES)}, got {value!r}"
        ) from None
