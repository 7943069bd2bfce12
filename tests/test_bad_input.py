"""Garbage at every public entry point: a ``UsageError`` that names the argument, at the
call, and a runtime that keeps serving afterwards.

Hypothesis draws the garbage (numbers of every kind, NaN and infinities, text, bytes,
containers, objects, callables, enum members of the wrong enum) and leaves out what the
argument accepts; each example is followed by a call that must still work. Teardown
(``close``, ``disconnect``, ``cancel``, ``remove``'s bound) takes any bound and never raises.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from bleak.backends.client import BaseBleakClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blerun.actors import (
    ConnectionState,
    Device,
    HostPolicy,
    Jitter,
    ReconnectPolicy,
    Runtime,
    Strategy,
)
from blerun.actors._validate import normalize_address, normalize_uuid
from blerun.actors.errors import UsageError
from blerun.messages import Connect, GetStats, Role
from blerun.testing import FakeClock, FaultPlan

from helpers import Connected
from scripted import CONTROL, HR_MEASUREMENT, SENSOR

# The suite draws the same examples on every run (derandomized); to hunt for new ones, run
# it with BLERUN_EXPLORE=500 (examples per test, freshly drawn).
_EXPLORE = int(os.environ.get("BLERUN_EXPLORE", "0"))
EXAMPLES = settings(
    max_examples=_EXPLORE or 60,
    derandomize=not _EXPLORE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)

GARBAGE: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=24),
    st.binary(max_size=24),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.builds(object),
    st.just(print),
    st.sampled_from([Role.RADIO, ConnectionState.CONNECTED, Jitter.FULL, Strategy.ONE_FOR_ALL]),
    st.just(GetStats(request_id=1)),
)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite_at_least(low: float, *, strict: bool = False) -> Callable[[object], bool]:
    def ok(value: object) -> bool:
        if not _number(value) or not math.isfinite(value):  # type: ignore[arg-type]
            return False
        return bool(value > low if strict else value >= low)  # type: ignore[operator]

    return ok


def _seconds(value: object) -> bool:
    return _finite_at_least(0.0)(value)


def _optional(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or check(value)


def _int_at_least(low: int) -> Callable[[object], bool]:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= low


def _accepted(normalize: Callable[[object], object]) -> Callable[[object], bool]:
    def ok(value: object) -> bool:
        try:
            normalize(value)
        except UsageError:
            return False
        return True

    return ok


def garbage_for(valid: Callable[[object], bool]) -> st.SearchStrategy[Any]:
    return GARBAGE.filter(lambda value: not valid(value))


def refused(call: Callable[[], object], argument: str) -> None:
    """``call`` raises a UsageError whose message names ``argument``."""
    with pytest.raises(UsageError) as info:
        call()
    assert argument in str(info.value), f"{info.value!r} does not name {argument!r}"


@pytest.fixture
def connected(connected_device: Callable[..., Connected]) -> Iterator[Connected]:
    yield connected_device()


def serving(connected: Connected) -> None:
    assert connected.device.read(SENSOR, timeout=5) == b"\x2a\x00"


# --- policies and plans: values, refused at construction ---------------------------------

POLICY_FIELDS: Mapping[str, Callable[[object], bool]] = {
    "initial": lambda v: _seconds(v) and v <= 30.0,  # type: ignore[operator]
    "multiplier": _finite_at_least(1.0),
    "cap": _finite_at_least(1.0),
    "jitter": lambda v: isinstance(v, Jitter) or (_number(v) and 0.0 <= v <= 1.0),  # type: ignore[operator]
    "min_delay": lambda v: _seconds(v) and v <= 30.0,  # type: ignore[operator]
    "max_attempts": _optional(_int_at_least(0)),
    "stable_window": _finite_at_least(0.0, strict=True),
    "reset_on_io": lambda v: isinstance(v, bool),
    "min_delay_for": lambda v: isinstance(v, Mapping) and not v,
    "deadline": _optional(_finite_at_least(0.0, strict=True)),
    "attempt_timeout": _finite_at_least(0.0, strict=True),
    "on_attempt": _optional(callable),
    "on_success": _optional(callable),
    "on_give_up": _optional(callable),
}


@pytest.mark.parametrize("field", sorted(POLICY_FIELDS))
def test_reconnect_policy_refuses_garbage(field: str) -> None:
    @EXAMPLES
    @given(garbage_for(POLICY_FIELDS[field]))
    def check(value: Any) -> None:
        refused(lambda: ReconnectPolicy(**{field: value}), field)

    check()


HOST_FIELDS: Mapping[str, Callable[[object], bool]] = {
    "heartbeat": lambda v: _finite_at_least(0.0, strict=True)(v) and v < 3.0,  # type: ignore[operator]
    "hang_timeout": _finite_at_least(0.5, strict=True),
    "shutdown_timeout": _finite_at_least(0.0, strict=True),
    "recycle_after": _optional(_finite_at_least(0.0, strict=True)),
    "max_rss": _optional(_int_at_least(1)),
    "max_fds": _optional(_int_at_least(1)),
}


@pytest.mark.parametrize("field", sorted(HOST_FIELDS))
def test_host_policy_refuses_garbage(field: str) -> None:
    @EXAMPLES
    @given(garbage_for(HOST_FIELDS[field]))
    def check(value: Any) -> None:
        refused(lambda: HostPolicy(**{field: value}), field)

    check()


def _types(value: object) -> bool:
    if value is None or isinstance(value, type):
        return True
    return (
        isinstance(value, list | tuple) and bool(value) and all(isinstance(t, type) for t in value)
    )


RULE_OPTIONS: Mapping[str, Callable[[object], bool]] = {
    "probability": lambda v: _number(v) and 0.0 <= v <= 1.0,  # type: ignore[operator]
    "limit": _optional(_int_at_least(0)),
    "role": lambda v: v is None or isinstance(v, Role),
    "device": lambda v: v is None or isinstance(v, str),
}


@pytest.mark.parametrize("option", sorted(RULE_OPTIONS))
def test_fault_plan_rules_refuse_garbage(option: str) -> None:
    @EXAMPLES
    @given(garbage_for(RULE_OPTIONS[option]))
    def check(value: Any) -> None:
        refused(lambda: FaultPlan().drop(**{option: value}), option)

    check()


def test_fault_plan_refuses_garbage() -> None:
    @EXAMPLES
    @given(garbage_for(_types), garbage_for(_seconds), garbage_for(_seconds), st.data())
    def check(types: Any, seconds: Any, hold: Any, data: st.DataObject) -> None:
        refused(lambda: FaultPlan().reorder(types), "types")
        refused(lambda: FaultPlan().delay(seconds=seconds), "seconds")
        refused(lambda: FaultPlan(hold=hold), "hold")
        seed = data.draw(garbage_for(lambda v: isinstance(v, int | str) and v is not True))
        if seed is not False:
            refused(lambda: FaultPlan(seed=seed), "seed")

    check()


def test_fake_clock_refuses_garbage() -> None:
    finite = lambda v: _number(v) and math.isfinite(v)  # noqa: E731

    @EXAMPLES
    @given(garbage_for(finite), garbage_for(_optional(_seconds)), garbage_for(_seconds))
    def check(start: Any, threshold: Any, step: Any) -> None:
        refused(lambda: FakeClock(start=start), "start")
        refused(lambda: FakeClock(autojump_threshold=threshold), "autojump_threshold")
        refused(lambda: FakeClock().advance(step), "seconds")

    check()


# --- the runtime's constructor -----------------------------------------------------------

RUNTIME_OPTIONS: Mapping[str, Callable[[object], bool]] = {
    "loop": lambda v: v is None or isinstance(v, asyncio.AbstractEventLoop),
    "policy": lambda v: v is None or isinstance(v, ReconnectPolicy),
    "backend": lambda v: v is None or (isinstance(v, type) and issubclass(v, BaseBleakClient)),
    "clock": lambda v: v is None or (callable(getattr(v, "now", None))),
    "metrics": lambda v: v is None or callable(getattr(v, "increment", None)),
    "faults": lambda v: v is None or isinstance(v, FaultPlan),
    "seed": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
    "default_timeout": _seconds,
    "disconnect_timeout": _seconds,
    "close_timeout": _seconds,
    "strategy": lambda v: isinstance(v, Strategy),
    "restart_intensity": _int_at_least(0),
    "restart_period": _seconds,
    "callback_threads": _int_at_least(1),
    "callback_backlog": _int_at_least(1),
    "radio": lambda v: v in ("inprocess", "process"),
    "hosts": lambda v: v is None or isinstance(v, HostPolicy),
}


@pytest.mark.parametrize("option", sorted(RUNTIME_OPTIONS))
def test_runtime_refuses_garbage_options(option: str) -> None:
    @EXAMPLES
    @given(garbage_for(RUNTIME_OPTIONS[option]))
    def check(value: Any) -> None:
        refused(lambda: Runtime(**{option: value}), option)

    check()


# --- the runtime's methods ---------------------------------------------------------------

not_a_device = garbage_for(lambda v: isinstance(v, Device))


def test_runtime_methods_refuse_garbage(connected: Connected) -> None:
    rt, dev = connected.runtime, connected.device
    link_options: Mapping[str, Callable[[object], bool]] = {
        "adapter": _optional(lambda v: isinstance(v, str) and bool(v.strip())),
        "pair": lambda v: isinstance(v, bool),
        "services": lambda v: (
            v is None or (isinstance(v, list) and all(_accepted(normalize_uuid)(u) for u in v))
        ),
        "bluez": lambda v: (
            v is None or (isinstance(v, dict) and all(isinstance(k, str) for k in v))
        ),
        "winrt": lambda v: (
            v is None or (isinstance(v, dict) and all(isinstance(k, str) for k in v))
        ),
        "backend": RUNTIME_OPTIONS["backend"],
        "policy": RUNTIME_OPTIONS["policy"],
    }

    @EXAMPLES
    @given(
        garbage_for(lambda v: _accepted(normalize_address)(v) or hasattr(v, "address")),
        not_a_device,
        garbage_for(lambda v: isinstance(v, Role)),
        garbage_for(lambda v: v in ("kill", "freeze", "wedge")),
        garbage_for(_optional(_seconds)),
        st.sampled_from(sorted(link_options)),
        st.data(),
    )
    def check(
        target: Any,
        device: Any,
        role: Any,
        how: Any,
        timeout: Any,
        option: str,
        data: st.DataObject,
    ) -> None:
        refused(lambda: rt.device(target), "target")
        refused(lambda: rt.async_device(target), "target")
        refused(lambda: rt.device("AA:BB:CC:DD:EE:42", timeout=timeout), "timeout")
        value = data.draw(garbage_for(link_options[option]))
        refused(lambda: rt.device("AA:BB:CC:DD:EE:43", **{option: value}), option)
        refused(lambda: rt.remove(device), "device")
        refused(lambda: rt.crash(device, Role.RADIO), "device")
        refused(lambda: rt.crash(dev, role), "role")
        refused(lambda: rt.crash_host(how), "how")
        serving(connected)

    check()


# --- the device's methods ------------------------------------------------------------------

not_a_uuid = garbage_for(_accepted(normalize_uuid))
not_a_timeout = garbage_for(_optional(_seconds))
not_a_flag = garbage_for(lambda v: isinstance(v, bool))


def test_device_calls_refuse_garbage(connected: Connected) -> None:
    dev = connected.device

    @EXAMPLES
    @given(not_a_uuid, not_a_timeout, not_a_flag)
    def check(uuid: Any, timeout: Any, flag: Any) -> None:
        refused(lambda: dev.read(uuid), "uuid")
        refused(lambda: dev.read(SENSOR, timeout=timeout), "timeout")
        refused(lambda: dev.read(SENSOR, retry=flag), "retry")
        refused(lambda: dev.write(uuid, b"\x01"), "uuid")
        refused(lambda: dev.write(CONTROL, b"\x01", response=flag), "response")
        refused(lambda: dev.write(CONTROL, b"\x01", retry=flag), "retry")
        refused(lambda: dev.write(CONTROL, b"\x01", timeout=timeout), "timeout")
        refused(lambda: dev.connect(timeout=timeout), "timeout")
        refused(lambda: dev.wait_connected(timeout=timeout), "timeout")
        refused(lambda: dev.statistics(timeout=timeout), "timeout")
        refused(lambda: dev.wait_delivered(timeout=timeout), "timeout")
        serving(connected)

    check()


def test_payloads_callbacks_and_decode_options_are_refused(connected: Connected) -> None:
    dev = connected.device
    bytes_like = lambda v: isinstance(v, bytes | bytearray | memoryview)  # noqa: E731

    @EXAMPLES
    @given(
        garbage_for(bytes_like),
        garbage_for(callable),
        garbage_for(_optional(callable)),
        garbage_for(lambda v: v in ("deliver", "skip")),
    )
    def check(data: Any, callback: Any, decode: Any, errors: Any) -> None:
        refused(lambda: dev.write(CONTROL, data), "data")
        refused(lambda: dev.subscribe(HR_MEASUREMENT, callback), "callback")
        refused(lambda: dev.subscribe(HR_MEASUREMENT, print, decode=decode), "decode")
        refused(
            lambda: dev.subscribe(HR_MEASUREMENT, print, on_decode_error=errors),
            "on_decode_error",
        )
        refused(lambda: dev.on_state_change(callback), "callback")
        serving(connected)

    check()


def test_messages_of_the_wrong_kind_are_refused_before_they_reach_an_actor(
    connected: Connected,
) -> None:
    dev = connected.device

    @EXAMPLES
    @given(
        garbage_for(lambda v: isinstance(v, Role) and v is not Role.SUPERVISOR),
        st.sampled_from([Role.RADIO, Role.RECONNECT, Role.NOTIFY]),
        GARBAGE,
    )
    def check(role: Any, actor: Role, message: Any) -> None:
        refused(lambda: dev.tell(role, Connect(request_id=0)), "role")
        if not isinstance(message, GetStats):  # every actor answers GetStats
            refused(lambda: dev.tell(actor, message), "message")
        refused(lambda: dev.tell(Role.NOTIFY, Connect(request_id=0)), "message")
        serving(connected)

    check()


def test_async_device_refuses_garbage(connected: Connected) -> None:
    rt = connected.runtime
    dev = rt.async_device(connected.peripheral.address)

    @EXAMPLES
    @given(not_a_uuid, not_a_timeout, garbage_for(_int_at_least(1)), not_a_flag)
    def check(uuid: Any, timeout: Any, maxsize: Any, flag: Any) -> None:
        refused(lambda: dev.notifications(uuid), "uuid")
        refused(lambda: dev.notifications(HR_MEASUREMENT, maxsize=maxsize), "maxsize")
        refused(lambda: asyncio.run(dev.read(SENSOR, timeout=timeout)), "timeout")  # noqa: TID251
        refused(lambda: asyncio.run(dev.read(SENSOR, retry=flag)), "retry")  # noqa: TID251
        serving(connected)

    check()


# --- teardown takes any bound --------------------------------------------------------------


def test_teardown_takes_any_bound_and_never_raises(connected: Connected) -> None:
    dev = connected.device

    @EXAMPLES
    @given(GARBAGE)
    def check(bound: Any) -> None:
        sub = dev.subscribe(HR_MEASUREMENT, print)
        assert isinstance(sub.cancel(bound), bool)
        assert sub.cancelled
        dev.disconnect(min(0.5, bound) if _seconds(bound) else bound)
        dev.connect(timeout=5)
        serving(connected)

    check()
