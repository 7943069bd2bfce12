"""Messages are frozen, slotted, keyword-only values; the radio's boundary pickles."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import threading

import pytest

import blerun.actors.errors as errors
import blerun.messages as messages
from blerun.gatt import CharProperty
from blerun.messages import (
    AttemptDone,
    CharacteristicInfo,
    ConnectionState,
    RawNotification,
    Reason,
    Role,
    ServiceInfo,
    ServicesSnapshot,
    StateChanged,
)

MESSAGE_CLASSES = [
    obj
    for name in messages.__all__
    if inspect.isclass(obj := getattr(messages, name)) and dataclasses.is_dataclass(obj)
]

SERVICES = ServicesSnapshot(
    services=(
        ServiceInfo(
            uuid="0000180d-0000-1000-8000-00805f9b34fb",
            handle=1,
            characteristics=(
                CharacteristicInfo(
                    uuid="00002a37-0000-1000-8000-00805f9b34fb",
                    handle=3,
                    properties=CharProperty.NOTIFY,
                    max_write_without_response=244,
                ),
            ),
        ),
    ),
    mtu=247,
)


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: c.__name__)
def test_frozen_slotted_keyword_only(cls: type) -> None:
    params = dataclasses.fields(cls)
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert hasattr(cls, "__slots__")
    assert all(f.kw_only for f in params), [f.name for f in params if not f.kw_only]


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: c.__name__)
def test_every_field_is_documented(cls: type) -> None:
    source = inspect.getsource(cls)
    for field in dataclasses.fields(cls):
        after = source.split(f"    {field.name}:", 1)[1].splitlines()[1].strip()
        assert after.startswith('"""'), f"{cls.__name__}.{field.name} has no docstring"


def _sample(cls: type) -> object:
    """An instance of a radio-boundary message with plausible field values."""
    values: dict[str, object] = {}
    for field in dataclasses.fields(cls):
        kind = str(field.type)
        if field.name == "data":
            values[field.name] = b"\x01\x02"
        elif field.name == "states":
            values[field.name] = frozenset({ConnectionState.CONNECTED})
        elif field.name in ("services",):
            values[field.name] = SERVICES
        elif field.name in ("error",):
            values[field.name] = errors.GattError(code=3, uuid="x", address="d")
        elif field.name == "items":
            uuid = "00002a37-0000-1000-8000-00805f9b34fb"
            values[field.name] = (RawNotification(uuid, 1, b"\x01", 2.5),)
        elif field.name == "peer":
            values[field.name] = Role.NOTIFY
        elif field.name == "value":
            values[field.name] = b"v"
        elif "bool" in kind:
            values[field.name] = True
        elif "float" in kind:
            values[field.name] = 1.5
        elif "int" in kind:
            values[field.name] = 7
        elif "str" in kind:
            values[field.name] = "00002a37-0000-1000-8000-00805f9b34fb"
        elif "ConnectionState" in kind:
            values[field.name] = ConnectionState.CONNECTED
        elif "Reason" in kind:
            values[field.name] = Reason.LINK_LOST
        else:
            raise AssertionError(f"no sample for {cls.__name__}.{field.name}: {kind}")
    return cls(**values)


RADIO_BOUNDARY = [
    *[c for c in messages.RadioCommand.__args__ if c not in (messages.GetStats,)],
    messages.GetStats,
    messages.StateChanged,
    messages.NotificationBatch,
    messages.NotifyStarted,
    messages.Reply,
]


@pytest.mark.parametrize("cls", RADIO_BOUNDARY, ids=lambda c: c.__name__)
def test_radio_boundary_messages_pickle(cls: type) -> None:
    message = _sample(cls)
    clone = pickle.loads(pickle.dumps(message))
    assert type(clone) is cls
    for field in dataclasses.fields(cls):
        a, b = getattr(message, field.name), getattr(clone, field.name)
        if isinstance(a, BaseException):
            assert type(a) is type(b) and a.args == b.args and vars(a) == vars(b)
        else:
            assert a == b


def test_payloads_are_bytes_not_bytearray() -> None:
    for cls in MESSAGE_CLASSES:
        for field in dataclasses.fields(cls):
            assert "bytearray" not in str(field.type), f"{cls.__name__}.{field.name}"


def test_messages_with_callables_stay_in_process() -> None:
    # Subscribe carries the user's callback and a threading.Event: it never crosses the
    # radio's boundary, and it could not.
    sub = messages.Subscribe(
        request_id=1,
        token=1,
        uuid="x",
        callback=print,
        decode=None,
        skip_undecodable=False,
        cancelled=threading.Event(),
    )
    assert messages.Subscribe not in RADIO_BOUNDARY
    with pytest.raises(TypeError):
        pickle.dumps(sub)


ERRORS = [
    errors.RuntimeClosed("closed", address="d"),
    errors.InvalidAddress("bad"),
    errors.PayloadTooLong(length=600, limit=512, uuid="c", response=True, address="d"),
    errors.CharacteristicNotFound("c", address="d"),
    errors.NotSupported("c", needed="read", address="d"),
    errors.GattError(code=0x0A, uuid="c", address="d"),
    errors.GaveUp("gave up", attempts=4, address="d"),
    errors.ConnectTimeout("slow", timeout=3.0, address="d"),
    errors.InvalidPolicy("ReconnectPolicy.cap", "> 0", 0),
    errors.DeviceFailed("failed", address="d"),
    errors.BluetoothUnavailable("no adapter", fix="plug one in", address="d"),
    errors.InvalidArgument("callback", "callable", 3),
]


def test_an_error_pickles_with_its_cause() -> None:
    error = errors.ConnectTimeout("slow; last error: refused", timeout=3.0, address="d")
    error.__cause__ = errors.ConnectFailed("refused", address="d")
    clone = pickle.loads(pickle.dumps(error))
    assert isinstance(clone.__cause__, errors.ConnectFailed)
    assert str(clone.__cause__) == "refused"


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_errors_pickle_with_their_attributes(error: BaseException) -> None:
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error)
    assert str(clone) == str(error)
    assert vars(clone) == vars(error)


def test_error_tree() -> None:
    assert issubclass(errors.ConnectTimeout, TimeoutError)
    assert issubclass(errors.InvalidPayload, TypeError)
    assert issubclass(errors.InvalidUUID, ValueError)
    for name in errors.__all__:
        obj = getattr(errors, name)
        if inspect.isclass(obj) and issubclass(obj, Exception):
            assert issubclass(obj, errors.BleRuntimeError), name
            assert not any(b.__module__.startswith("bleak") for b in obj.__mro__), name
    assert errors.RuntimeClosed not in errors.LinkError.__mro__
    assert not issubclass(errors.RuntimeClosed, errors.LinkError)


def test_state_changed_carries_the_detail() -> None:
    event = StateChanged(
        address="d",
        old=ConnectionState.CONNECTED,
        new=ConnectionState.RECONNECTING,
        reason=Reason.LINK_LOST,
        version=4,
        attempt=0,
    )
    assert event.error is None and event.services is None
    assert AttemptDone(version=1, attempt=0, services=None, error=None).error is None


def test_every_reason_is_documented() -> None:
    source = inspect.getsource(messages.state)
    for reason in Reason:
        tail = source.split(f"    {reason.name} = ", 1)[1].splitlines()[1].strip()
        assert tail.startswith('"""'), reason.name
