"""Run one chaos scenario over ``blerun.sim`` and judge it with the invariant checker.

The run: a virtual air with the scenario's heart-rate monitors, a runtime with its policy,
options and fault plan (in process, or with its radios in radio host processes), one
recording subscription per device, ``connect()``; then the steps, each after its pause.
Then the faults heal (peripheral faults cleared, a fresh link where a fault may have left
a session without its subscription), every live device is asked to connect again (a
probe read finds a link the runtime was never told it lost), and the checker verifies
the quiet state, closes the runtime within the scenario's bound, and looks at what is
left. This module needs the ``sim`` extra.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Any

from blerun.actors import Device, HostPolicy, ReconnectPolicy, Runtime, Strategy, Subscription
from blerun.actors._faults import FaultPlan
from blerun.messages import (
    AttemptDone,
    DisconnectDone,
    IoSucceeded,
    LinkLost,
    NotificationBatch,
    NotifyStarted,
    OpDone,
    ReconnectDue,
    Role,
    StartNotify,
    StateChanged,
    Subscribe,
)
from blerun.sim import (
    BODY_SENSOR_LOCATION,
    HEART_RATE_CONTROL_POINT,
    HEART_RATE_MEASUREMENT,
    Peripheral,
    VirtualAir,
    heart_rate_monitor,
)

from ._checker import InvariantChecker
from ._invariants import Invariant, Violation
from ._scenario import Scenario, Step
from ._watch import DeviceWatch

_MESSAGES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        AttemptDone,
        DisconnectDone,
        IoSucceeded,
        LinkLost,
        NotificationBatch,
        NotifyStarted,
        OpDone,
        ReconnectDue,
        StartNotify,
        StateChanged,
        Subscribe,
    )
}

_HOSTS = HostPolicy(heartbeat=0.2, hang_timeout=1.0, shutdown_timeout=0.5)
"""Process mode: a hung radio host is found within a second."""

_SETTLE = 15.0
"""Seconds the quiet state may take to arrive once the faults healed."""

_CRASHES = {
    "crash_radio": Role.RADIO,
    "crash_notify": Role.NOTIFY,
    "crash_reconnect": Role.RECONNECT,
}
_HOST_FAULTS = {"kill_host": "kill", "freeze_host": "freeze", "wedge_host": "wedge"}


@dataclasses.dataclass(frozen=True, slots=True)
class RunResult:
    """What one run did and what broke."""

    scenario: Scenario
    violations: tuple[Violation, ...]
    faults: dict[str, int]
    """Injected faults by kind: ``"message:drop:NotificationBatch"``, ``"radio:drop_link"``,
    ``"actor:crash_radio"``, ``"process:kill_host"``."""
    sent: int
    """Notifications the peripherals sent while subscribed."""
    received: int
    """Of those, handed to the runtime by bleak (the rest were on the air when the runtime
    itself tore a link down, or in a radio host that was killed)."""
    delivered: int
    """Of those, delivered to the recording subscriptions."""
    dropped: int
    """Dropped by the fault plan."""
    counted_lost: int
    """Counted lost by the runtime (stale: they reached an ended session)."""
    close_elapsed: float | None
    close_timeout: float
    restarts: int
    """Actor and radio host restarts."""
    escalations: int
    outcomes: dict[str, int]
    """What the recorded calls returned (``"read:ok"``, ``"read:Disconnected"``...)."""


class _Device:
    """One device of the run: its facade, peripheral, watch and extra subscriptions."""

    def __init__(self, device: Device, peripheral: Peripheral, watch: DeviceWatch) -> None:
        self.device = device
        self.peripheral = peripheral
        self.watch = watch
        self.extras: list[tuple[Subscription, Any]] = []


def run(scenario: Scenario) -> RunResult:
    """Run ``scenario`` and judge it; never raises for what the runtime does."""
    plan = _plan(scenario)
    air = VirtualAir.start()
    faults: collections.Counter[str] = collections.Counter()
    try:
        peripherals = [
            air.add_peripheral(heart_rate_monitor(name=f"HR-{i}", rate_hz=rate))
            for i, rate in enumerate(scenario.rates)
        ]
        with InvariantChecker(plan=plan) as checker:
            rt = _runtime(scenario, air, plan, checker)
            devices: list[_Device] = []
            ledgers: list[dict[str, int]] = []
            try:
                devices = _start(rt, peripherals, checker)
                one_for_all = dict(scenario.runtime)["strategy"] == "one_for_all"
                for step in scenario.steps:
                    _pace(step.pause)
                    _do(step, rt, devices, checker, faults, one_for_all=one_for_all)
                _heal(scenario, devices, checker)
                checker.settle(timeout=_SETTLE)
                ledgers = [checker.ledger(d.watch) for d in devices]
            except Exception as exc:  # noqa: BLE001 -- the run's own failure is a finding too
                what = f"the run stopped: {exc!r}"
                checker.report(Violation(Invariant.EXCEPTIONS, None, what))
            checker.close(rt, scenario.close_timeout)
            violations = tuple(checker.violations())
        for key, n in plan.applied().items():
            faults[f"message:{key}"] += n
        metrics = checker.metrics
        return RunResult(
            scenario=scenario,
            violations=violations,
            faults=dict(faults),
            sent=sum(ledger["sent"] for ledger in ledgers),
            received=sum(ledger["received"] for ledger in ledgers),
            delivered=sum(ledger["delivered"] for ledger in ledgers),
            dropped=sum(ledger["dropped"] for ledger in ledgers),
            counted_lost=sum(ledger["stale"] for ledger in ledgers),
            close_elapsed=checker.close_elapsed,
            close_timeout=scenario.close_timeout,
            restarts=metrics.count("supervisor.restarts")
            + metrics.count("supervisor.host_restarts"),
            escalations=metrics.count("supervisor.escalations"),
            outcomes=dict(checker.outcomes),
        )
    finally:
        air.close(timeout=5.0)


def _plan(scenario: Scenario) -> FaultPlan:
    plan = FaultPlan(seed=scenario.seed)
    for rule in scenario.rules:
        message = _MESSAGES[rule.message]
        match rule.kind:
            case "drop":
                plan.drop(message, probability=rule.probability, limit=rule.limit)
            case "delay":
                plan.delay(message, seconds=rule.seconds, probability=rule.probability)
            case "duplicate":
                plan.duplicate(message, probability=rule.probability)
            case "reorder":
                plan.reorder(message, probability=rule.probability)
    return plan


def _runtime(
    scenario: Scenario, air: VirtualAir, plan: FaultPlan, checker: InvariantChecker
) -> Runtime:
    options: dict[str, Any] = dict(scenario.runtime)
    options["strategy"] = Strategy(options["strategy"])
    policy = ReconnectPolicy(**dict(scenario.policy))  # type: ignore[arg-type]
    common: dict[str, Any] = {
        "backend": air.client_backend,
        "policy": policy,
        "faults": plan,
        "metrics": checker.metrics,
        "seed": scenario.seed,
        **options,
    }
    if scenario.radio == "process":
        return Runtime(radio="process", hosts=_HOSTS, **common).start()
    return Runtime(loop=air.loop, **common).start()


def _start(rt: Runtime, peripherals: list[Peripheral], checker: InvariantChecker) -> list[_Device]:
    devices = []
    for peripheral in peripherals:
        device = rt.device(peripheral.address)
        watch = checker.watch(device, peripheral=peripheral)
        device.subscribe(HEART_RATE_MEASUREMENT, watch.callback(HEART_RATE_MEASUREMENT))
        devices.append(_Device(device, peripheral, watch))
    for d in devices:
        checker.call(d.watch, "connect", d.device.connect, timeout=10.0)
    return devices


def _pace(seconds: float) -> None:
    # The campaign's clock is the real one: the sim streams in real time. This paces the
    # steps; nothing here waits for something to happen.
    if seconds > 0:
        threading.Event().wait(seconds)


def _do(
    step: Step,
    rt: Runtime,
    devices: list[_Device],
    checker: InvariantChecker,
    faults: collections.Counter[str],
    *,
    one_for_all: bool,
) -> None:
    d = devices[step.device]
    action, watch, dev, hr = step.action, d.watch, d.device, d.peripheral
    if watch.removed:
        return
    args = dict(step.args)
    timeout = float(args.get("timeout", 1.0))  # type: ignore[arg-type]
    match action:
        case "connect":
            checker.call(watch, "connect", dev.connect, timeout=timeout)
        case "disconnect":
            checker.call(watch, "disconnect", dev.disconnect, timeout=timeout)
        case "read":
            checker.call(
                watch, "read", dev.read, BODY_SENSOR_LOCATION, timeout=timeout, retry=args["retry"]
            )
        case "write":
            checker.call(
                watch,
                "write",
                dev.write,
                HEART_RATE_CONTROL_POINT,
                b"\x01",
                timeout=timeout,
                retry=args["retry"],
            )
        case "subscribe":
            callback = watch.callback(HEART_RATE_MEASUREMENT)
            sub, error = checker.call(
                watch, "subscribe", dev.subscribe, HEART_RATE_MEASUREMENT, callback, timeout=timeout
            )
            if isinstance(sub, Subscription):
                d.extras.append((sub, callback))
            elif error is not None:
                watch.forget(callback)
        case "cancel":
            if d.extras:
                sub, callback = d.extras.pop(0)
                checker.call(watch, "cancel", sub.cancel, timeout)
                watch.forget(callback)
        case "statistics":
            checker.call(watch, "statistics", dev.statistics, timeout=timeout)
        case "wait_delivered":
            checker.call(watch, "wait_delivered", dev.wait_delivered, timeout=timeout)
        case "remove":
            checker.call(watch, "remove", rt.remove, dev, timeout)
        case "crash_radio" | "crash_notify" | "crash_reconnect":
            role = _CRASHES[action]
            if role is Role.RADIO or one_for_all:
                watch.runtime_ended_sessions = True  # the radio tears its link down
            rt.crash(dev, role, note="chaos")
            faults[f"actor:{action}"] += 1
            return
        case "kill_host" | "freeze_host" | "wedge_host":
            checker.allow_error("radio host")
            for other in devices:  # every radio of the host goes down with it
                other.watch.lossy = other.watch.runtime_ended_sessions = True
            rt.crash_host(_HOST_FAULTS[action])  # type: ignore[arg-type]
            faults[f"process:{action}"] += 1
            return
        case _:
            _radio_fault(step, hr)
            faults[f"radio:{action}"] += 1
            return
    faults[f"call:{action}"] += 1


def _radio_fault(step: Step, hr: Peripheral) -> None:
    args = dict(step.args)
    match step.action:
        case "drop_link":
            hr.drop_link()
        case "refuse_connects":
            hr.refuse_connects(int(args["count"]))  # type: ignore[call-overload]
        case "stall":
            hr.stall_next(args["op"])  # type: ignore[arg-type]
        case "att_error":
            hr.fail_next(args["op"], int(args["code"]))  # type: ignore[arg-type, call-overload]
        case "pause":
            hr.pause_notifications()
            _pace(float(args["seconds"]))  # type: ignore[arg-type]
            hr.resume_notifications()
        case "burst":
            hr.burst(int(args["count"]))  # type: ignore[call-overload]
        case "op_delay":
            hr.delay(args["op"], float(args["seconds"]))  # type: ignore[arg-type]
        case "silence":
            hr.stop_advertising(float(args["seconds"]))  # type: ignore[arg-type]
        case "zombie":
            hr.zombie_link()
            _pace(float(args["seconds"]))  # type: ignore[arg-type]
            hr.revive()


def _heal(scenario: Scenario, devices: list[_Device], checker: InvariantChecker) -> None:
    for d in devices:
        d.peripheral.clear_faults()
        d.peripheral.resume_advertising()
    live = [d for d in devices if not d.watch.removed and not d.watch.escalated]
    if scenario.fresh_links:
        for d in live:
            d.peripheral.drop_link()
    for d in live:
        checker.call(d.watch, "connect", d.device.connect, timeout=_SETTLE)
        # A link the runtime was never told it lost (a dropped LinkLost) is found by the
        # next operation on it.
        checker.call(d.watch, "read", d.device.read, BODY_SENSOR_LOCATION, timeout=5.0)
