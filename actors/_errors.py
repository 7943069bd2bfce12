"""blerun's exceptions: one root, structured attributes, and every one of them pickles.

The tree::

    BleRuntimeError
    ├── RuntimeClosed            you closed it: the runtime or the device is closed
    ├── UsageError               bad input, refused at the call before any message is sent
    │   ├── InvalidAddress       (also a ValueError)
    │   ├── InvalidUUID          (also a ValueError)
    │   ├── InvalidTimeout       (also a ValueError)
    │   ├── InvalidPayload       (also a TypeError)
    │   ├── PayloadTooLong       (also a ValueError)
    │   ├── CharacteristicNotFound
    │   ├── NotSupported         the characteristic lacks the property the call needs
    │   └── WrongThread          a blocking call made on the event loop it would block
    ├── LinkError                the world broke it
    │   ├── DeviceNotFound       the backend does not know or cannot see the device
    │   ├── ConnectFailed        one connection attempt failed
    │   ├── NotConnected         an operation was issued while the link was not up
    │   ├── Disconnected         the link dropped while the operation was in flight
    │   └── GaveUp               the reconnect policy is spent; the device is FAILED
    ├── DeviceFailed             the supervisor stopped the device after too many crashes
    ├── GattError                the peripheral answered with an ATT error (``status``)
    ├── OperationTimeout         (also a TimeoutError) a call waited past its timeout
    │   └── ConnectTimeout       ... waiting for the link to come up
    └── InternalError            a bug in blerun; please report it

"You closed it" (``RuntimeClosed``) is kept apart from "the world broke it"
(``LinkError``), as trio keeps ``ClosedResourceError`` apart from ``BrokenResourceError``.
bleak's exceptions are mapped to these in one place (``_link.map_bleak_errors``) and
chained with ``raise ... from``; blerun never subclasses them.
"""

from __future__ import annotations

from typing import Any


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class BleRuntimeError(Exception):
    """Root of every error blerun raises.

    Attributes carry the detail (``device``, ``char_uuid``, ``status``...); the message is
    built from them. Instances pickle with their attributes, so they cross process
    boundaries inside reply messages.
    """

    device: str | None

    def __init__(self, message: str, *, device: str | None = None) -> None:
        super().__init__(message)
        self.device = device

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class RuntimeClosed(BleRuntimeError):
    """The runtime or the device was closed; no new work is accepted."""


class UsageError(BleRuntimeError):
    """The call itself is wrong; nothing was sent."""


class InvalidAddress(UsageError, ValueError):
    """Not a Bluetooth address (``AA:BB:CC:DD:EE:FF``) nor a platform UUID."""


class InvalidUUID(UsageError, ValueError):
    """Not a 16-, 32- or 128-bit Bluetooth UUID."""


class InvalidTimeout(UsageError, ValueError):
    """Negative, NaN or infinite where a finite bound is required."""


class InvalidPayload(UsageError, TypeError):
    """A payload that is not bytes-like."""


class PayloadTooLong(UsageError, ValueError):
    """A write longer than the link allows."""

    length: int
    limit: int
    char_uuid: str

    def __init__(
        self, *, length: int, limit: int, char_uuid: str, response: bool, device: str | None
    ) -> None:
        kind = "write with response" if response else "write without response"
        super().__init__(
            f"{kind} of {length} bytes to {char_uuid} exceeds the link's limit of {limit} bytes",
            device=device,
        )
        self.length = length
        self.limit = limit
        self.char_uuid = char_uuid


class CharacteristicNotFound(UsageError):
    """The device has no characteristic with this UUID."""

    char_uuid: str

    def __init__(self, char_uuid: str, *, device: str | None) -> None:
        super().__init__(f"device {device} has no characteristic {char_uuid}", device=device)
        self.char_uuid = char_uuid


class NotSupported(UsageError):
    """The characteristic exists but lacks the property the call needs."""

    char_uuid: str
    needed: str

    def __init__(self, char_uuid: str, *, needed: str, device: str | None) -> None:
        super().__init__(
            f"characteristic {char_uuid} of {device} does not support {needed}", device=device
        )
        self.char_uuid = char_uuid
        self.needed = needed


class WrongThread(UsageError):
    """A blocking call was made on the event-loop thread it would have to wait for."""


class LinkError(BleRuntimeError):
    """The radio link failed, not the caller."""


class DeviceNotFound(LinkError):
    """The backend does not know the device or cannot see it."""


class ConnectFailed(LinkError):
    """One connection attempt failed; the cause is chained."""


class NotConnected(LinkError):
    """An operation was issued while the link was not up."""


class Disconnected(LinkError):
    """The link dropped while the operation was in flight."""


class GaveUp(LinkError):
    """The reconnect policy is spent; the device is FAILED until ``connect()`` again."""

    attempts: int

    def __init__(self, message: str, *, attempts: int, device: str | None) -> None:
        super().__init__(message, device=device)
        self.attempts = attempts


class DeviceFailed(BleRuntimeError):
    """The supervisor stopped this device's actors after too many restarts."""


class GattError(BleRuntimeError):
    """The peripheral answered an operation with an ATT error."""

    status: int
    char_uuid: str | None

    def __init__(self, *, status: int, char_uuid: str | None, device: str | None) -> None:
        super().__init__(
            f"ATT error 0x{status:02X} on {char_uuid or 'the device'} of {device}",
            device=device,
        )
        self.status = status
        self.char_uuid = char_uuid


class OperationTimeout(BleRuntimeError, TimeoutError):
    """A call waited longer than its timeout; the runtime itself keeps going."""

    timeout: float

    def __init__(self, message: str, *, timeout: float, device: str | None) -> None:
        super().__init__(message, device=device)
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


class InvalidPolicy(UsageError, ValueError):
    """A ``ReconnectPolicy`` (or runtime option) value out of its bounds."""

    field: str
    bound: str

    def __init__(self, field: str, bound: str, value: object) -> None:
        super().__init__(f"{field} must be {bound}, got {value!r}")
        self.field = field
        self.bound = bound
