"""Bad input is refused at the call, with a precise error, before any message is sent."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable

import pytest

from blerun.actors import Device, ReconnectPolicy, Runtime
from blerun.actors._validate import normalize_address, normalize_uuid
from blerun.actors.errors import (
    CharacteristicNotFound,
    InvalidAddress,
    InvalidPayload,
    InvalidTimeout,
    InvalidUUID,
    NotSupported,
    PayloadTooLong,
    RuntimeClosed,
    UsageError,
)
from blerun.messages import Read, Subscribe, Write
from blerun.testing import FaultPlan

from scripted import CONTROL, HR_MEASUREMENT, SENSOR, ScriptedWorld, heart_rate


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("180d", "0000180d-0000-1000-8000-00805f9b34fb"),
        ("0x180D", "0000180d-0000-1000-8000-00805f9b34fb"),
        (0x2A37, "00002a37-0000-1000-8000-00805f9b34fb"),
        ("12345678", "12345678-0000-1000-8000-00805f9b34fb"),
        ("6E400001-B5A3-F393-E0A9-E50E24DCCA9E", "6e400001-b5a3-f393-e0a9-e50e24dcca9e"),
        (uuid.UUID(int=5), "00000000-0000-0000-0000-000000000005"),
    ],
)
def test_uuids_normalize(given: object, expected: str) -> None:
    assert normalize_uuid(given) == expected


@pytest.mark.parametrize("bad", ["18d", "xyz", "", "180d-", 2**40, -1, 1.5, None, True])
def test_bad_uuids(bad: object) -> None:
    with pytest.raises(InvalidUUID):
        normalize_uuid(bad)


def test_addresses() -> None:
    assert normalize_address("aa:bb:cc:dd:ee:ff") == "AA:BB:CC:DD:EE:FF"
    assert normalize_address("6E400001-B5A3-F393-E0A9-E50E24DCCA9E").startswith("6E40")
    for bad in ["AA:BB:CC:DD:EE", "AA-BB-CC-DD-EE-FF", "GG:BB:CC:DD:EE:FF", "", 42]:
        with pytest.raises(InvalidAddress):
            normalize_address(bad)


@pytest.fixture
def connected(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> tuple[Device, FaultPlan]:
    # Every message of the calls under test would be counted (and dropped) by this plan:
    # a precise refusal sends none.
    plan = FaultPlan()
    peripheral = heart_rate(world)
    rt = make_runtime(faults=plan)
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    plan.drop((Read, Write, Subscribe))
    return dev, plan


def test_each_bad_input_gets_its_precise_error(connected: tuple[Device, FaultPlan]) -> None:
    dev, plan = connected
    with pytest.raises(InvalidUUID, match="'nope'"):
        dev.read("nope")
    with pytest.raises(CharacteristicNotFound) as missing:
        dev.read("2a00")
    assert missing.value.uuid.startswith("00002a00")
    with pytest.raises(NotSupported, match="read"):
        dev.read(CONTROL)
    with pytest.raises(NotSupported, match="write"):
        dev.write(SENSOR, b"\x01")
    with pytest.raises(InvalidPayload, match=r"str .*encode"):
        dev.write(CONTROL, "text")  # type: ignore[arg-type]
    with pytest.raises(InvalidPayload, match="list"):
        dev.write(CONTROL, [1, 2])  # type: ignore[arg-type]
    with pytest.raises(PayloadTooLong) as too_long:
        dev.write(CONTROL, bytes(245), response=False)  # MTU 247 leaves 244
    assert (too_long.value.length, too_long.value.limit) == (245, 244)
    with pytest.raises(PayloadTooLong, match="512"):
        dev.write(CONTROL, bytes(513), response=True)
    for bad in (-1.0, math.nan, math.inf, "5"):
        with pytest.raises(InvalidTimeout):
            dev.read(SENSOR, timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidTimeout):
        dev.connect(timeout=-1)
    with pytest.raises(TypeError):
        dev.subscribe(HR_MEASUREMENT, None)  # type: ignore[arg-type]
    assert plan.applied() == {}, "a refused call must not send anything"


def test_bytearray_and_memoryview_payloads_become_bytes(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime()
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    dev.write(CONTROL, bytearray(b"\x01\x02"))
    dev.write(CONTROL, memoryview(b"\x03"), response=False)
    assert [(d, type(d)) for _, d, _ in peripheral.writes] == [
        (b"\x01\x02", bytes),
        (b"\x03", bytes),
    ]


def test_runtime_and_device_arguments(world: ScriptedWorld) -> None:
    with pytest.raises(InvalidTimeout):
        Runtime(default_timeout=-2)
    with pytest.raises(UsageError):
        Runtime(restart_intensity=-1)
    with Runtime(backend=world.backend) as rt:
        with pytest.raises(InvalidAddress):
            rt.device("not-an-address")
        with pytest.raises(UsageError, match="ReconnectPolicy"):
            rt.device("AA:BB:CC:DD:EE:01", policy={"initial": 1})  # type: ignore[arg-type]
        dev = rt.device("AA:BB:CC:DD:EE:01")
        assert rt.device("aa:bb:cc:dd:ee:01") is not dev  # another facade ...
        assert rt.device("aa:bb:cc:dd:ee:01").address == dev.address  # ... same device
        with pytest.raises(UsageError, match="other options"):
            rt.device("AA:BB:CC:DD:EE:01", policy=ReconnectPolicy(initial=7.0))
    with pytest.raises(RuntimeClosed):
        rt.start()
