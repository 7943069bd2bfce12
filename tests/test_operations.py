"""Reads, writes, services, errors from bleak mapped to ours, retries, the deprecated shim."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from bleak.exc import BleakGATTProtocolError

from blerun.actors import ConnectionState, ReconnectPolicy, Runtime, ServicesSnapshot
from blerun.actors.errors import Disconnected, GattError, NotConnected, OperationTimeout
from blerun.messages import Read, Reason, Role
from blerun.testing import FakeClock

from helpers import StateRecorder
from scripted import CONTROL, SENSOR, ScriptedWorld, heart_rate

S = ConnectionState


def test_gatt_errors_are_mapped_with_their_status(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime()
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    world.run(lambda: peripheral.fail_next.update(read=BleakGATTProtocolError(0x05)))
    with pytest.raises(GattError) as info:
        dev.read(SENSOR)
    assert info.value.code == 0x05
    assert info.value.uuid == SENSOR
    assert isinstance(info.value.__cause__, BleakGATTProtocolError)
    assert dev.read(SENSOR) == b"\x2a\x00"  # the link is fine, the next read works


def test_operations_when_not_connected(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime()
    dev = rt.device(peripheral.address)
    with pytest.raises(NotConnected, match="disconnected"):
        dev.read(SENSOR)
    with pytest.raises(NotConnected):
        dev.get_services()


def test_link_loss_during_an_operation_fails_it_with_disconnected(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime(policy=ReconnectPolicy(initial=5.0, jitter=0.0))
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    peripheral.hold("read")
    request_id, future = dev.new_request()
    dev.tell(Role.RADIO, Read(request_id=request_id, uuid=SENSOR, retry=False, timeout=5.0))
    peripheral.wait_until(lambda p: p.started["read"] == 1)  # in flight, held
    world.run(peripheral.drop)
    peripheral.release()
    with pytest.raises(Disconnected):
        future.result(5)


def test_retry_waits_out_a_link_loss(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    clock = FakeClock()  # the reconnect waits until the test moves time
    peripheral = heart_rate(world)
    rt = make_runtime(clock=clock, policy=ReconnectPolicy(initial=0.2, jitter=0.0))
    dev = rt.device(peripheral.address)
    rec = StateRecorder(dev)
    dev.connect(timeout=5)
    world.run(peripheral.drop)
    rec.wait_state(S.RECONNECTING)
    # Without retry the read fails at once; with it, it waits for the policy's reconnect.
    with pytest.raises(NotConnected):
        dev.read(SENSOR)
    request_id, read = dev.new_request()
    dev.tell(Role.RADIO, Read(request_id=request_id, uuid=SENSOR, retry=True, timeout=5.0))
    clock.advance(clock.wait_for_timer("ReconnectDue").delay)
    assert read.result(5) == b"\x2a\x00"
    dev.write(CONTROL, b"\x01", retry=True, timeout=5)
    # The published state is current when a call returns; listeners hear it on their
    # lane, so they are waited for.
    assert dev.state is S.CONNECTED
    assert rec.wait_state(S.CONNECTED, count=2).reason is Reason.CONNECTED


def test_retry_gives_up_at_its_timeout(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime]
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime(policy=ReconnectPolicy(initial=30.0, cap=30.0, jitter=0.0))
    dev = rt.device(peripheral.address)
    rec = StateRecorder(dev)
    dev.connect(timeout=5)
    world.run(peripheral.drop)
    rec.wait_state(S.RECONNECTING)
    with pytest.raises(OperationTimeout):
        dev.read(SENSOR, retry=True, timeout=0.3)
    assert dev.statistics().state is S.RECONNECTING


def test_get_services_timeout_is_deprecated_but_honoured(
    world: ScriptedWorld, make_runtime: Callable[..., Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    peripheral = heart_rate(world)
    rt = make_runtime()
    dev = rt.device(peripheral.address)
    dev.connect(timeout=5)
    assert isinstance(dev.get_services(), ServicesSnapshot)
    with caplog.at_level(logging.WARNING), pytest.warns(DeprecationWarning, match="timeout"):
        services = dev.get_services(timeout=2.0)
    assert services.characteristic(SENSOR) is not None
    assert services.mtu == 247
    assert [r for r in caplog.records if "deprecated" in r.getMessage()]
    with pytest.warns(DeprecationWarning):
        dev.get_services(timeout=2.0)
    assert len([r for r in caplog.records if "deprecated" in r.getMessage()]) == 1  # logged once
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError):
        dev.get_services(timeout=-1.0)  # still validated
