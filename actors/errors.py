"""blerun's exceptions: one root, structured attributes, and every one of them pickles.

The tree::

    BleRuntimeError
    ├── RuntimeClosed            you closed it: the runtime or the device is closed/removed
    ├── UsageError               bad input, refused at the call before any message is sent
    │   ├── InvalidAddress       (also a ValueError)
    │   ├── InvalidUUID          (also a ValueError)
    │   ├── InvalidTimeout       (also a ValueError)
    │   ├── InvalidPolicy        (also a ValueError) a policy or option out of its bounds
    │   ├── InvalidArgument      (also a TypeError) a callback that is not callable, ...
    │   ├── InvalidPayload       (also a TypeError)
    │   ├── PayloadTooLong       (also a ValueError)
    │   ├── CharacteristicNotFound
    │   ├── NotSupported         the characteristic lacks the property the call needs
    │   └── WrongThread          a blocking call made on the event loop it would block
    ├── LinkError                the world broke it
    │   ├── ConnectFailed        one connection attempt failed (transient: retried)
    │   │   ├── DeviceNotFound   the adapter did not see the device within its scan window
    │   │   ├── OutOfSlots       the adapter has no free connection slot (retry later)
    │   │   └── BluetoothUnavailable   permanent: no stack or adapter, adapter off,
    │   │                        permission denied, backend on the wrong loop
    │   ├── NotConnected         an operation was issued while the link was not up
    │   ├── Disconnected         the link dropped while the operation was in flight
    │   └── GaveUp               the reconnect policy is spent; the device is FAILED
    ├── DeviceFailed             the supervisor stopped the device after too many crashes
    ├── GattError                the peripheral answered with an ATT error (``code``)
    ├── OperationTimeout         (also a TimeoutError) a call waited past its timeout
    │   └── ConnectTimeout       ... waiting for the link to come up
    └── InternalError            a bug in blerun; please report it
        └── InjectedCrash        an actor crashed on purpose (fault injection)

"You closed it" (``RuntimeClosed``) is kept apart from "the world broke it"
(``LinkError``), as trio keeps ``ClosedResourceError`` apart from ``BrokenResourceError``.
bleak's exceptions are mapped to these by one table (``_bleak_errors``) and chained with
``raise ... from``; blerun never subclasses them. Timeouts chain the last error the
runtime saw while waiting (``__cause__``) and name it in their message.
"""

from __future__ import annotations

import pickle
from typing import Any

from blerun.gatt import AttErrorCode

__all__ = [
    "BleRuntimeError",
    "BluetoothUnavailable",
    "CharacteristicNotFound",
    "ConnectFailed",
    "ConnectTimeout",
    "DeviceFailed",
    "DeviceNotFound",
    "Disconnected",
    "GattError",
    "GaveUp",
    "InjectedCrash",
    "InternalError",
    "InvalidAddress",
    "InvalidArgument",
    "InvalidPayload",
    "InvalidPolicy",
    "InvalidTimeout",
    "InvalidUUID",
    "LinkError",
    "NotConnected",
    "NotSupported",
    "OperationTimeout",
    "OutOfSlots",
    "PayloadTooLong",
    "RuntimeClosed",
    "UsageError",
    "WrongThread",
]


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    cause = state.pop("__cause__", None)
    error.__dict__.update(state)
    error.__cause__ = cause
    return error


class BleRuntimeError(Exception):
    """Root of every error blerun raises.

    Attributes carry the detail (``address``, ``uuid``, ``code``...); the message is built
    from them. Instances pickle with their attributes (and their ``__cause__``), so they
    cross process boundaries inside reply messages.
    """

    address: str | None

    def __init__(self, message: str, *, address: str | None = None) -> None:
        super().__init__(message)
        self.address = address

    def __reduce__(self) -> tuple[Any, ...]:
        state = dict(self.__dict__)
        if self.__cause__ is not None:
            state["__cause__"] = _portable(self.__cause__)
        return (_rebuild, (type(self), self.args, state))


class RuntimeClosed(BleRuntimeError):
    """The runtime or the device was closed (or removed); no new work is accepted."""


class UsageError(BleRuntimeError):
    """The call itself is wrong; nothing was sent."""


class InvalidAddress(UsageError, ValueError):
    """Not a Bluetooth address (``AA:BB:CC:DD:EE:FF``) nor a platform UUID."""


class InvalidUUID(UsageError, ValueError):
    """Not a 16-, 32- or 128-bit Bluetooth UUID."""


class InvalidTimeout(UsageError, ValueError):
    """Negative, NaN or infinite where a finite bound is required."""


class InvalidPolicy(UsageError, ValueError):
    """A ``ReconnectPolicy`` (or runtime option) value out of its bounds."""

    field: str
    bound: str

    def __init__(self, field: str, bound: str, value: object) -> None:
        super().__init__(f"{field} must be {bound}, got {value!r}")
        self.field = field
        self.bound = bound


class InvalidArgument(UsageError, TypeError):
    """An argument of the wrong kind (a callback that is not callable, a bad option)."""

    argument: str

    def __init__(self, argument: str, expected: str, value: object) -> None:
        super().__init__(f"{argument} must be {expected}, not {_describe(value)}")
        self.argument = argument


class InvalidPayload(UsageError, TypeError):
    """A payload that is not bytes-like."""


class PayloadTooLong(UsageError, ValueError):
    """A write longer than the link allows."""

    length: int
    limit: int
    uuid: str

    def __init__(
        self, *, length: int, limit: int, uuid: str, response: bool, address: str | None
    ) -> None:
        kind = "write with response" if response else "write without response"
        super().__init__(
            f"{kind} of {length} bytes to {uuid} exceeds the link's limit of {limit} bytes",
            address=address,
        )
        self.length = length
        self.limit = limit
        self.uuid = uuid


class CharacteristicNotFound(UsageError):
    """The device has no characteristic with this UUID."""

    uuid: str

    def __init__(self, uuid: str, *, address: str | None) -> None:
        super().__init__(f"device {address} has no characteristic {uuid}", address=address)
        self.uuid = uuid


class NotSupported(UsageError):
    """The characteristic exists but lacks the property the call needs."""

    uuid: str
    needed: str

    def __init__(self, uuid: str, *, needed: str, address: str | None) -> None:
        super().__init__(
            f"characteristic {uuid} of {address} does not support {needed}", address=address
        )
        self.uuid = uuid
        self.needed = needed


class WrongThread(UsageError):
    """A blocking call was made on the event-loop thread it would have to wait for."""


class LinkError(BleRuntimeError):
    """The radio link failed, not the caller."""


class ConnectFailed(LinkError):
    """One connection attempt failed; the cause is chained. Retried under the policy."""


class DeviceNotFound(ConnectFailed):
    """The adapter did not see the device within its scan window.

    ``connect()`` raises it at once; the wish stands (like ``ConnectTimeout``) and the
    device keeps trying under its policy, floored by ``min_delay_for[DeviceNotFound]``.
    """


class OutOfSlots(ConnectFailed):
    """The adapter has no free connection slot (too many links); retried later."""


class BluetoothUnavailable(ConnectFailed):
    """Retrying cannot help: no Bluetooth stack or adapter, adapter off, permission denied,
    or a backend driven from the wrong event loop. ``connect()`` fails at once and the
    device goes FAILED; ``fix`` says what to do."""

    fix: str

    def __init__(self, message: str, *, fix: str, address: str | None) -> None:
        super().__init__(f"{message}; {fix}", address=address)
        self.fix = fix


class NotConnected(LinkError):
    """An operation was issued while the link was not up."""


class Disconnected(LinkError):
    """The link dropped while the operation was in flight."""


class GaveUp(LinkError):
    """The reconnect policy is spent; the device is FAILED until ``connect()`` again."""

    attempts: int

    def __init__(self, message: str, *, attempts: int, address: str | None) -> None:
        super().__init__(message, address=address)
        self.attempts = attempts


class DeviceFailed(BleRuntimeError):
    """The supervisor stopped this device's actors after too many restarts."""


class GattError(BleRuntimeError):
    """The peripheral answered an operation with an ATT error."""

    code: int
    uuid: str | None

    def __init__(self, *, code: int, uuid: str | None, address: str | None) -> None:
        super().__init__(
            f"ATT error {AttErrorCode.describe(code)} on {uuid or 'the device'} of {address}",
            address=address,
        )
        self.code = code
        self.uuid = uuid


class OperationTimeout(BleRuntimeError, TimeoutError):
    """A call waited longer than its timeout; the runtime itself keeps going.

    ``__cause__`` is the last error the runtime saw while the caller waited, if any; the
    message names it.
    """

    timeout: float

    def __init__(self, message: str, *, timeout: float, address: str | None) -> None:
        super().__init__(message, address=address)
        self.timeout = timeout


class ConnectTimeout(OperationTimeout):
    """``connect()`` / ``wait_connected()`` waited past its timeout.

    The wish to be connected stands: the device keeps trying under its policy until
    ``disconnect()`` or until the policy gives up.
    """


class InternalError(BleRuntimeError):
    """A bug in blerun (an actor crashed while holding this request, an impossible state)."""


class InjectedCrash(InternalError):
    """Raised on purpose by an actor that received ``Poison`` (fault injection)."""


def _portable(cause: BaseException) -> BaseException:
    """``cause`` if it survives a round trip through pickle, else a stand-in naming it.

    A cause from another library need not unpickle (bleak's ``BleakGATTProtocolError``
    does not): sent as is, it would break the frame that carries the error to the other
    process, and everything in that frame with it.
    """
    try:
        pickle.loads(pickle.dumps(cause))
    except Exception:  # noqa: BLE001 -- any failure means: send a description instead
        kind = type(cause)
        return RuntimeError(f"{kind.__module__}.{kind.__qualname__}: {cause}")
    return cause


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"
