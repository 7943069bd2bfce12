"""Each call of the device facades as a ``Plan``: its message, who answers, its bound.

The twins (``Device``, ``AsyncDevice``) build the same plans and differ only in how they
wait (``DeviceCore.call`` blocks, ``DeviceCore.acall`` awaits). Building a plan checks the
input first, so a bad call fails before anything is sent.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
from collections.abc import Callable

from blerun.actors._capability import write_op
from blerun.actors._device_core import TOKENS, DecodeErrors, DeviceCore, Plan, SubscribePlan
from blerun.actors._validate import as_payload, check_flag, check_timeout
from blerun.messages import (
    Connect,
    ConnectionState,
    Disconnect,
    Drain,
    GattOp,
    GetServices,
    GetStats,
    Read,
    Role,
    Subscribe,
    Unsubscribe,
    WaitForState,
    Write,
)

log = logging.getLogger(__name__)


def connect(core: DeviceCore, timeout: float | None) -> Plan:
    seconds = core.seconds(timeout)
    return Plan(
        "connect",
        Role.RADIO,
        seconds,
        lambda rid: Connect(request_id=rid),
        core.connect_timeout(seconds),
    )


def disconnect(core: DeviceCore, seconds: float) -> Plan:
    return Plan(
        "disconnect",
        Role.RADIO,
        seconds,
        lambda rid: Disconnect(request_id=rid),
        core.op_timeout("disconnect", seconds),
    )


def wait_connected(core: DeviceCore, timeout: float | None) -> Plan:
    seconds = core.seconds(timeout)
    states = frozenset({ConnectionState.CONNECTED})
    return Plan(
        "wait_connected",
        Role.RADIO,
        seconds,
        lambda rid: WaitForState(request_id=rid, states=states),
        core.connect_timeout(seconds),
    )


def read(core: DeviceCore, uuid: object, timeout: float | None, retry: bool) -> Plan:
    check_flag(retry, name="retry")
    checked = core.uuid(uuid, GattOp.READ)
    seconds = core.seconds(timeout)
    return Plan(
        "read",
        Role.RADIO,
        seconds,
        lambda rid: Read(request_id=rid, uuid=checked, retry=retry, timeout=seconds),
        core.op_timeout(f"read of {checked}", seconds),
    )


def write(
    core: DeviceCore,
    uuid: object,
    data: object,
    *,
    response: bool,
    timeout: float | None,
    retry: bool,
) -> Plan:
    check_flag(response, name="response")
    check_flag(retry, name="retry")
    payload = as_payload(data)
    checked = core.uuid(uuid, write_op(response), payload)
    seconds = core.seconds(timeout)
    return Plan(
        "write",
        Role.RADIO,
        seconds,
        lambda rid: Write(
            request_id=rid,
            uuid=checked,
            data=payload,
            response=response,
            retry=retry,
            timeout=seconds,
        ),
        core.op_timeout(f"write to {checked}", seconds),
    )


def subscribe(
    core: DeviceCore,
    uuid: object,
    callback: Callable[..., None],
    *,
    decode: Callable[[bytes], object] | None,
    on_decode_error: DecodeErrors,
    timeout: float | None,
    loop: asyncio.AbstractEventLoop | None = None,
) -> SubscribePlan:
    checked = core.check_subscriber(uuid, callback, decode, on_decode_error)
    seconds = core.seconds(timeout)
    token, cancelled = next(TOKENS), threading.Event()
    plan = Plan(
        "subscribe",
        Role.NOTIFY,
        seconds,
        lambda rid: Subscribe(
            request_id=rid,
            token=token,
            uuid=checked,
            callback=callback,
            decode=decode,
            skip_undecodable=on_decode_error == "skip",
            cancelled=cancelled,
            loop=loop,
        ),
        core.op_timeout(f"subscribe to {checked}", seconds),
    )
    return SubscribePlan(plan, token, checked, cancelled)


def unsubscribe(core: DeviceCore, token: int, seconds: float) -> Plan:
    return Plan(
        "unsubscribe",
        Role.NOTIFY,
        seconds,
        lambda rid: Unsubscribe(request_id=rid, token=token),
        core.op_timeout("unsubscribe", seconds),
    )


def get_services(core: DeviceCore, timeout: float | None) -> Plan:
    seconds = core.default_timeout
    if timeout is not None:
        warnings.warn(
            "get_services(timeout=...) is deprecated: services are discovered while "
            "connecting, so there is nothing left to wait for; the timeout is still "
            "honoured",
            DeprecationWarning,
            stacklevel=3,
        )
        if not core.deprecation_logged:
            core.deprecation_logged = True
            log.warning(
                "get_services(timeout=...) is deprecated; drop the argument",
                extra={"device": core.address},
            )
        seconds = check_timeout(timeout)
    return Plan(
        "get_services",
        Role.RADIO,
        seconds,
        lambda rid: GetServices(request_id=rid),
        core.op_timeout("get_services", seconds),
    )


def statistics(core: DeviceCore, timeout: float | None) -> list[Plan]:
    seconds = core.seconds(timeout)
    return [
        Plan(
            "statistics",
            role,
            seconds,
            lambda rid: GetStats(request_id=rid),
            core.op_timeout("statistics", seconds),
        )
        for role in (Role.RADIO, Role.RECONNECT, Role.NOTIFY)
    ]


def wait_delivered(core: DeviceCore, timeout: float | None) -> Plan:
    seconds = core.seconds(timeout)
    return Plan(
        "wait_delivered",
        Role.RADIO,
        seconds,
        lambda rid: Drain(request_id=rid),
        core.op_timeout("wait_delivered", seconds),
    )
