"""The bleak error seam: one row per rule of the table, and what the caller gets."""

from __future__ import annotations

import pytest
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakCharacteristicNotFoundError,
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)

from blerun.actors._bleak_errors import CONNECT_RULES, OPERATION_RULES, map_bleak_errors, map_error
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
from blerun.gatt import AttErrorCode

ADDRESS = "AA:BB:CC:DD:EE:01"
UUID = "00002a37-0000-1000-8000-00805f9b34fb"

CONNECT_CASES: list[tuple[str, BaseException, type[BleRuntimeError], str]] = [
    (
        "bluetooth not available",
        BleakBluetoothNotAvailableError("off", BleakBluetoothNotAvailableReason.POWERED_OFF),
        BluetoothUnavailable,
        "powered off",
    ),
    (
        "BlueZ unavailable",
        BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"]),
        BluetoothUnavailable,
        "not ready",
    ),
    (
        "no D-Bus",
        FileNotFoundError(2, "No such file or directory"),
        BluetoothUnavailable,
        "D-Bus",
    ),
    ("permission", PermissionError(13, "Permission denied"), BluetoothUnavailable, "permission"),
    ("no adapter", BleakError("No Bluetooth adapters found."), BluetoothUnavailable, "adapter"),
    (
        "wrong loop",
        RuntimeError("Task got Future attached to a different loop"),
        BluetoothUnavailable,
        "event loop",
    ),
    (
        "device not found",
        BleakDeviceNotFoundError(ADDRESS, "Device not found"),
        DeviceNotFound,
        "was not found",
    ),
    (
        "BlueZ unknown device",
        BleakDBusError("org.freedesktop.DBus.Error.UnknownObject", ["no such object"]),
        DeviceNotFound,
        "does not know",
    ),
    ("out of slots", BleakError("ESP_GATT_CONN_NO_SLOTS"), OutOfSlots, "slot"),
    ("timeout", TimeoutError(), ConnectFailed, "timed out"),
    (
        "any other",
        BleakDBusError("org.bluez.Error.Failed", ["le-connection-abort-by-local"]),
        ConnectFailed,
        "le-connection-abort-by-local",
    ),
]


@pytest.mark.parametrize(("rule", "error", "expected", "text"), CONNECT_CASES, ids=lambda c: c)
def test_connect_failures_are_classified(
    rule: str, error: BaseException, expected: type[BleRuntimeError], text: str
) -> None:
    mapped = map_error(error, address=ADDRESS, connecting=True)
    assert type(mapped) is expected
    assert text.lower() in str(mapped).lower()
    assert mapped.__cause__ is error  # the cause is never hidden
    assert mapped.address == ADDRESS
    assert next(r.name for r in CONNECT_RULES if r.applies(error)) == rule


def test_every_connect_rule_has_a_case() -> None:
    assert {r.name for r in CONNECT_RULES} == {case[0] for case in CONNECT_CASES}


def test_permanent_failures_say_how_to_fix_them() -> None:
    for reason in BleakBluetoothNotAvailableReason:
        error = BleakBluetoothNotAvailableError("x", reason)
        mapped = map_error(error, address=ADDRESS, connecting=True)
        assert isinstance(mapped, BluetoothUnavailable) and mapped.fix


def test_transient_and_later_classes_are_connect_failures() -> None:
    # So the policy can floor each class (min_delay_for) and callers can catch them all.
    for cls in (DeviceNotFound, OutOfSlots, BluetoothUnavailable):
        assert issubclass(cls, ConnectFailed)


OPERATION_CASES: list[tuple[str, BaseException, bool, type[BleRuntimeError]]] = [
    ("ATT error", BleakGATTProtocolError(AttErrorCode.READ_NOT_PERMITTED), True, GattError),
    (
        "characteristic not found",
        BleakCharacteristicNotFoundError(UUID),
        True,
        CharacteristicNotFound,
    ),
    (
        "BlueZ not connected",
        BleakDBusError("org.bluez.Error.NotConnected", ["Not Connected"]),
        True,
        Disconnected,
    ),
    ("backend timeout", TimeoutError(), True, OperationTimeout),
]


@pytest.mark.parametrize(("rule", "error", "up", "expected"), OPERATION_CASES, ids=lambda c: c)
def test_operation_failures_are_mapped(
    rule: str, error: BaseException, up: bool, expected: type[BleRuntimeError]
) -> None:
    mapped = map_error(error, address=ADDRESS, connecting=False, uuid=UUID, link_up=up)
    assert type(mapped) is expected and mapped.__cause__ is error
    assert next(r.name for r in OPERATION_RULES if r.applies(error)) == rule


def test_every_operation_rule_has_a_case() -> None:
    assert {r.name for r in OPERATION_RULES} == {case[0] for case in OPERATION_CASES}


def test_att_errors_keep_their_code() -> None:
    mapped = map_error(BleakGATTProtocolError(0x81), address=ADDRESS, connecting=False, uuid=UUID)
    assert isinstance(mapped, GattError)
    assert mapped.code == 0x81 and mapped.uuid == UUID
    assert "APPLICATION_ERROR (0x81)" in str(mapped)


def test_a_generic_failure_is_a_disconnect_only_if_the_link_is_down() -> None:
    error = BleakError("failed")
    down = map_error(error, address=ADDRESS, connecting=False, uuid=UUID, link_up=False)
    up = map_error(error, address=ADDRESS, connecting=False, uuid=UUID, link_up=True)
    assert type(down) is Disconnected
    assert type(up) is LinkError


def test_the_context_manager_chains_and_leaves_blerun_errors_alone() -> None:
    ours = GattError(code=1, uuid=UUID, address=ADDRESS)
    with pytest.raises(GattError) as info, map_bleak_errors(ADDRESS):
        raise ours
    assert info.value is ours
    with pytest.raises(DeviceNotFound) as found, map_bleak_errors(ADDRESS, connecting=True):
        raise BleakDeviceNotFoundError(ADDRESS)
    assert isinstance(found.value.__cause__, BleakDeviceNotFoundError)
