"""Which exceptions each public call documents: what may reach user code, and when.

``RuntimeClosed`` means "you closed it": it is documented for every call, but only once
the runtime was closed or the device removed. ``DeviceFailed`` is documented once the
device was stopped by escalation. Teardown (``disconnect``, ``cancel``, ``remove``,
``close``) documents nothing: it never raises.
"""

from __future__ import annotations

from collections.abc import Mapping

from blerun.actors.errors import (
    BluetoothUnavailable,
    ConnectTimeout,
    DeviceFailed,
    DeviceNotFound,
    Disconnected,
    GattError,
    GaveUp,
    NotConnected,
    OperationTimeout,
    RuntimeClosed,
)

_IO: tuple[type[BaseException], ...] = (
    GattError,
    OperationTimeout,
    NotConnected,
    Disconnected,
    GaveUp,
)

DOCUMENTED: Mapping[str, tuple[type[BaseException], ...]] = {
    "connect": (ConnectTimeout, DeviceNotFound, BluetoothUnavailable, GaveUp),
    "wait_connected": (ConnectTimeout, GaveUp),
    "read": _IO,
    "write": _IO,
    "subscribe": _IO,
    "get_services": (NotConnected, OperationTimeout),
    "statistics": (OperationTimeout,),
    "wait_delivered": (OperationTimeout,),
    "disconnect": (),
    "cancel": (),
    "remove": (),
    "close": (),
}
"""Per call, what it may raise while the runtime and the device are open."""

TEARDOWN = frozenset({"disconnect", "cancel", "remove", "close"})
"""Calls that never raise, whatever the state."""

WHEN_CLOSED = (RuntimeClosed,)
"""Documented for every call but teardown, once the runtime was closed or the device
removed."""

WHEN_FAILED = (DeviceFailed,)
"""Documented for every call but teardown, once the device was stopped by escalation."""
