"""bleak's exceptions mapped to blerun's, by one table, most specific rule first.

Connect failures are classified by what the caller should do next, as
bleak-retry-connector sorts BlueZ's and ESPHome's errors: retry soon (``ConnectFailed``),
retry later (``OutOfSlots``, ``DeviceNotFound``: the policy floors them with
``min_delay_for``), or stop (``BluetoothUnavailable``: no stack, no adapter, adapter off,
permission denied, wrong event loop). Operation failures become ``GattError`` (with the
ATT code), ``CharacteristicNotFound``, ``Disconnected`` when the link is gone, or a plain
``LinkError``. Every mapped error chains the original (``raise ... from exc``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator

from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakCharacteristicNotFoundError,
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)

from blerun.actors.errors import (
    BleRuntimeError,
    BluetoothUnavailable,
    CharacteristicNotFound,
    ConnectFailed,
    DeviceNotFound,
    Disconnected,
    GattError,
    LinkError,
    OperationTimeout,
    OutOfSlots,
)

_PERMISSION_FIX = (
    "grant this program Bluetooth access (Linux: run as a member of the 'bluetooth' group "
    "or allow it in BlueZ's D-Bus policy; macOS: System Settings > Privacy > Bluetooth)"
)
_NO_STACK_FIX = (
    "install and start BlueZ (bluetoothd) and the D-Bus system bus; in a container, mount "
    "/run/dbus and the host's adapter; without hardware, use blerun.sim"
)
_WRONG_LOOP_FIX = (
    "run the runtime on the loop the backend lives on, e.g. "
    "Runtime(loop=air.loop, backend=air.client_backend) for blerun.sim"
)

_UNAVAILABLE_BY_REASON: dict[BleakBluetoothNotAvailableReason, tuple[str, str]] = {
    BleakBluetoothNotAvailableReason.NO_BLUETOOTH: (
        "this machine has no Bluetooth radio",
        "plug in a Bluetooth LE adapter",
    ),
    BleakBluetoothNotAvailableReason.NO_BLE_CENTRAL_ROLE: (
        "the Bluetooth radio cannot act as a BLE central",
        "use a Bluetooth 4.0+ (LE) adapter",
    ),
    BleakBluetoothNotAvailableReason.POWERED_OFF: (
        "Bluetooth is powered off",
        "turn it on (Linux: bluetoothctl power on)",
    ),
    BleakBluetoothNotAvailableReason.DENIED_BY_USER: (
        "permission to use Bluetooth was denied",
        _PERMISSION_FIX,
    ),
    BleakBluetoothNotAvailableReason.DENIED_BY_SYSTEM: (
        "permission to use Bluetooth was denied by the system",
        _PERMISSION_FIX,
    ),
    BleakBluetoothNotAvailableReason.DENIED_BY_UNKNOWN: (
        "permission to use Bluetooth was denied",
        _PERMISSION_FIX,
    ),
}

# Text markers, lower case, as the stacks word them.
_OUT_OF_SLOTS = (
    "out of connection slots",
    "no free connection slot",
    "esp_gatt_conn_no_slots",
    "esp_gatt_no_resources",
    "connection limit exceeded",
)
_NO_ADAPTER = ("no bluetooth adapters found", "no powered bluetooth adapters")
_WRONG_LOOP = ("different loop", "air.loop", "wrong event loop")
_DBUS_UNAVAILABLE: dict[str, tuple[str, str]] = {
    "org.bluez.Error.NotReady": (
        "the Bluetooth adapter is not ready (powered off?)",
        "turn it on (bluetoothctl power on)",
    ),
    "org.freedesktop.DBus.Error.AccessDenied": ("D-Bus denied access to BlueZ", _PERMISSION_FIX),
    "org.bluez.Error.NotAuthorized": ("BlueZ refused: not authorized", _PERMISSION_FIX),
    "org.freedesktop.DBus.Error.ServiceUnknown": (
        "BlueZ (bluetoothd) is not running",
        _NO_STACK_FIX,
    ),
}
_DBUS_NOT_FOUND = ("org.bluez.Error.DoesNotExist", "org.freedesktop.DBus.Error.UnknownObject")
_DBUS_DISCONNECTED = ("org.bluez.Error.NotConnected",)


@dataclasses.dataclass(frozen=True, slots=True)
class _Context:
    address: str
    uuid: str | None
    link_up: bool


Build = Callable[[BaseException, _Context], BleRuntimeError]


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    """One row: errors of ``kind`` (for which ``when`` holds) become ``build(error)``."""

    kind: type[BaseException] | tuple[type[BaseException], ...]
    build: Build
    when: Callable[[BaseException], bool] | None = None
    name: str = ""

    def applies(self, error: BaseException) -> bool:
        return isinstance(error, self.kind) and (self.when is None or self.when(error))


def _text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".lower()


def _mentions(*markers: str) -> Callable[[BaseException], bool]:
    return lambda error: any(marker in _text(error) for marker in markers)


def _dbus_name(*names: str) -> Callable[[BaseException], bool]:
    return lambda error: isinstance(error, BleakDBusError) and error.dbus_error in names


def _unavailable(message: str, fix: str) -> Build:
    return lambda _error, ctx: BluetoothUnavailable(message, fix=fix, address=ctx.address)


def _by_reason(error: BaseException, ctx: _Context) -> BleRuntimeError:
    assert isinstance(error, BleakBluetoothNotAvailableError)
    message, fix = _UNAVAILABLE_BY_REASON.get(
        error.reason, ("Bluetooth is not available", "check that the Bluetooth stack runs")
    )
    return BluetoothUnavailable(message, fix=fix, address=ctx.address)


def _by_dbus(error: BaseException, ctx: _Context) -> BleRuntimeError:
    assert isinstance(error, BleakDBusError)
    message, fix = _DBUS_UNAVAILABLE[error.dbus_error]
    return BluetoothUnavailable(message, fix=fix, address=ctx.address)


def _failed(kind: type[ConnectFailed], what: str) -> Build:
    return lambda error, ctx: kind(f"{what} {ctx.address}: {error}", address=ctx.address)


CONNECT_RULES: tuple[Rule, ...] = (
    Rule(BleakBluetoothNotAvailableError, _by_reason, name="bluetooth not available"),
    Rule(BleakDBusError, _by_dbus, _dbus_name(*_DBUS_UNAVAILABLE), name="BlueZ unavailable"),
    Rule(
        (FileNotFoundError, ConnectionRefusedError),
        _unavailable("no Bluetooth stack: the D-Bus system bus is not reachable", _NO_STACK_FIX),
        name="no D-Bus",
    ),
    Rule(PermissionError, _unavailable("permission denied", _PERMISSION_FIX), name="permission"),
    Rule(
        BleakError,
        _unavailable("no Bluetooth adapter found", "plug in or enable a Bluetooth LE adapter"),
        _mentions(*_NO_ADAPTER),
        name="no adapter",
    ),
    Rule(
        Exception,
        _unavailable("the backend runs on another event loop", _WRONG_LOOP_FIX),
        _mentions(*_WRONG_LOOP),
        name="wrong loop",
    ),
    Rule(
        BleakDeviceNotFoundError,
        lambda _e, ctx: DeviceNotFound(
            f"device {ctx.address} was not found: is it advertising, in range, and not "
            "connected to another central? (blerun scan lists what is visible)",
            address=ctx.address,
        ),
        name="device not found",
    ),
    Rule(
        BleakDBusError,
        _failed(DeviceNotFound, "BlueZ does not know"),
        _dbus_name(*_DBUS_NOT_FOUND),
        name="BlueZ unknown device",
    ),
    Rule(
        Exception,
        _failed(OutOfSlots, "no free connection slot for"),
        _mentions(*_OUT_OF_SLOTS),
        name="out of slots",
    ),
    Rule(
        TimeoutError,
        lambda _e, ctx: ConnectFailed(
            f"connecting to {ctx.address} timed out", address=ctx.address
        ),
        name="timeout",
    ),
    Rule(Exception, _failed(ConnectFailed, "connecting to"), name="any other"),
)
"""How a failed connection attempt is classified; the first rule that applies wins."""


def _gatt(error: BaseException, ctx: _Context) -> BleRuntimeError:
    assert isinstance(error, BleakGATTProtocolError)
    return GattError(code=int(error.code), uuid=ctx.uuid, address=ctx.address)


def _link_down(error: BaseException, ctx: _Context) -> BleRuntimeError:
    return Disconnected(
        f"link to {ctx.address} dropped during the operation on {ctx.uuid}: {error}",
        address=ctx.address,
    )


OPERATION_RULES: tuple[Rule, ...] = (
    Rule(BleakGATTProtocolError, _gatt, name="ATT error"),
    Rule(
        BleakCharacteristicNotFoundError,
        lambda e, ctx: CharacteristicNotFound(ctx.uuid or str(e), address=ctx.address),
        name="characteristic not found",
    ),
    Rule(BleakDBusError, _link_down, _dbus_name(*_DBUS_DISCONNECTED), name="BlueZ not connected"),
    Rule(
        TimeoutError,
        lambda _e, ctx: OperationTimeout(
            f"the operation on {ctx.uuid} of {ctx.address} timed out in the backend",
            timeout=0.0,
            address=ctx.address,
        ),
        name="backend timeout",
    ),
)
"""How a failed read, write or notify start/stop is mapped (before the link check)."""


def map_error(
    error: BaseException,
    *,
    address: str,
    connecting: bool,
    uuid: str | None = None,
    link_up: bool = True,
) -> BleRuntimeError:
    """blerun's error for ``error`` (already blerun's: returned as is). Never raises.

    The result's ``__cause__`` is ``error``.
    """
    if isinstance(error, BleRuntimeError):
        return error
    ctx = _Context(address, uuid, link_up)
    rules = CONNECT_RULES if connecting else OPERATION_RULES
    mapped: BleRuntimeError | None = None
    for rule in rules:
        if rule.applies(error):
            mapped = rule.build(error, ctx)
            break
    if mapped is None:
        mapped = (
            _link_down(error, ctx)
            if not link_up
            else LinkError(f"the operation on {uuid} of {address} failed: {error}", address=address)
        )
    mapped.__cause__ = error
    return mapped


@contextlib.contextmanager
def map_bleak_errors(
    address: str,
    *,
    connecting: bool = False,
    uuid: str | None = None,
    is_up: Callable[[], bool] | None = None,
) -> Iterator[None]:
    """Re-raise anything the block raises (but cancellation) as blerun's error, chained.

    ``is_up`` tells, at the moment of failure, whether the link still stands: a generic
    failure on a link that has dropped is reported as ``Disconnected``.
    """
    try:
        yield
    except BleRuntimeError:
        raise
    except Exception as exc:
        link_up = True if is_up is None else is_up()
        raise map_error(
            exc, address=address, connecting=connecting, uuid=uuid, link_up=link_up
        ) from exc
