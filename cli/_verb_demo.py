"""``blerun demo``: emulated devices, a hostile radio, and a runtime that copes.

Heart-rate monitors stream, UART devices echo what the demo writes, sensors are read;
meanwhile a seeded schedule drops links, refuses connects and crashes an actor. At the
end every stream is paused and drained, and what each device sent while subscribed is
compared with what the runtime delivered: the demo exits 0 only if nothing was lost or
duplicated, every device is connected again, and the runtime closed cleanly.
"""

from __future__ import annotations

import argparse
import queue
import random
import threading
from collections.abc import Sequence

from blerun.actors import Device, ReconnectPolicy, Runtime
from blerun.actors.errors import BleRuntimeError, LinkError, RuntimeClosed
from blerun.cli._demo_faults import inject, schedule
from blerun.cli._demo_model import DemoMetrics, DeviceResult, Kind, Model, Summary
from blerun.cli._demo_view import View, open_view
from blerun.cli._exit import ExitCode
from blerun.cli._output import Output
from blerun.gatt import HEART_RATE_MEASUREMENT, NUS_RX, NUS_TX, TEMPERATURE
from blerun.sim import (
    Peripheral,
    PeripheralSpec,
    VirtualAir,
    heart_rate_monitor,
    parse_heart_rate_measurement,
    sensor,
    uart_device,
)

POLICY = ReconnectPolicy(initial=0.05, multiplier=2.0, cap=0.5, jitter=0.2)
"""Reconnect fast, so the demo shows many recoveries in a few seconds."""

_KINDS = (Kind.HEART_RATE, Kind.UART, Kind.SENSOR)
_HEART_RATE_HZ = 50.0
_WRITE_EVERY_S = 0.1
_READ_EVERY_S = 0.2
_OP_TIMEOUT_S = 5.0
_CONNECT_TIMEOUT_S = 10.0
_SETTLE_S = 5.0
_CLOSE_S = 2.0


def run(args: argparse.Namespace, output: Output) -> ExitCode:
    """Run the demo; exit 0 only when nothing was lost."""
    seed = args.seed if args.seed is not None else random.randrange(1 << 16)
    kinds = [_KINDS[i % len(_KINDS)] for i in range(args.devices)]
    model = Model()
    stop = threading.Event()
    workers: list[threading.Thread] = []
    air = VirtualAir.start()
    runtime: Runtime | None = None
    try:
        peripherals = [air.add_peripheral(spec) for spec in _specs(kinds)]
        for peripheral, kind in zip(peripherals, kinds, strict=True):
            model.add(peripheral.name, peripheral.address, kind)
        runtime = Runtime(
            loop=air.loop,
            backend=air.client_backend,
            policy=POLICY,
            metrics=DemoMetrics(model),
            seed=seed,
            close_timeout=_CLOSE_S,
        )
        devices = [runtime.device(p.address) for p in peripherals]
        intro = {
            "devices": [
                {"name": p.name, "address": p.address, "kind": k.value}
                for p, k in zip(peripherals, kinds, strict=True)
            ],
            "duration": args.duration,
            "seed": seed,
        }
        with open_view(output, model, intro) as view:
            _start(devices, kinds, model)
            workers = _workers(devices, kinds, model, stop)
            _hostile_radio(
                args.duration,
                rng=random.Random(seed),
                runtime=runtime,
                devices=devices,
                peripherals=peripherals,
                kinds=kinds,
                model=model,
                view=view,
            )
            stop.set()
            _join(workers)
            results = _settle(devices, peripherals, kinds, model)
            report = runtime.close(_CLOSE_S)
            _pump(model, view, until=model.elapsed())
        summary = Summary(
            devices=results,
            reconnect_times=tuple(model.reconnect_times),
            restarts=model.restarts,
            repeated_events=model.repeated_events,
            close_seconds=report.elapsed,
            close_clean=report.clean,
            seed=seed,
            elapsed=model.elapsed(),
        )
        view.summary(summary)
        return ExitCode.OK if summary.passed else ExitCode.FAILED
    finally:
        # On the way out early (Ctrl-C, a closed pipe) the runtime closes first: that
        # fails every call still waiting at once, so the workers end without delay.
        stop.set()
        if runtime is not None:
            runtime.close(_CLOSE_S)
        _join(workers)
        air.close(timeout=_CLOSE_S)


def _specs(kinds: Sequence[Kind]) -> list[PeripheralSpec]:
    """One emulated device per kind, numbered within its kind (HR-1, UART-1, HR-2...)."""
    specs = []
    for i, kind in enumerate(kinds):
        number = kinds[: i + 1].count(kind)
        match kind:
            case Kind.HEART_RATE:
                specs.append(heart_rate_monitor(name=f"HR-{number}", rate_hz=_HEART_RATE_HZ))
            case Kind.UART:
                specs.append(uart_device(name=f"UART-{number}"))
            case Kind.SENSOR:
                specs.append(sensor(name=f"Sensor-{number}"))
    return specs


def _start(devices: Sequence[Device], kinds: Sequence[Kind], model: Model) -> None:
    """Listen to every device, subscribe the streaming ones, connect them all."""
    for device, kind in zip(devices, kinds, strict=True):
        device.on_state_change(model.state_listener(device.address))
        on_notification = model.notification_listener(device.address)
        if kind is Kind.HEART_RATE:
            device.subscribe(
                HEART_RATE_MEASUREMENT, on_notification, decode=parse_heart_rate_measurement
            )
        elif kind is Kind.UART:
            device.subscribe(NUS_TX, on_notification)
    for device in devices:
        device.connect(timeout=_CONNECT_TIMEOUT_S)


def _workers(
    devices: Sequence[Device], kinds: Sequence[Kind], model: Model, stop: threading.Event
) -> list[threading.Thread]:
    """A writer per UART device and a reader per sensor, until ``stop``."""
    threads = []
    for device, kind in zip(devices, kinds, strict=True):
        if kind is Kind.UART:
            target, name = _write_lines, "blerun-demo-writer"
        elif kind is Kind.SENSOR:
            target, name = _read_values, "blerun-demo-reader"
        else:
            continue
        thread = threading.Thread(target=target, args=(device, model, stop), name=name, daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def _write_lines(device: Device, model: Model, stop: threading.Event) -> None:
    # Without retry: a write while the link is down is refused at once, and every line
    # written is unique, so an echo delivered twice would show as a duplicate.
    line = 0
    while not stop.wait(_WRITE_EVERY_S):
        line += 1
        try:
            device.write(NUS_RX, f"{line:06d}\n".encode(), timeout=_OP_TIMEOUT_S)
        except RuntimeClosed:
            return
        except LinkError as exc:
            model.count(device.address, "writes_refused", exc)
        except BleRuntimeError as exc:
            model.count(device.address, "writes_failed", exc)
        else:
            model.count(device.address, "writes_ok")


def _read_values(device: Device, model: Model, stop: threading.Event) -> None:
    # With retry: a read waits out a link loss (the device reconnects meanwhile).
    while not stop.wait(_READ_EVERY_S):
        try:
            device.read(TEMPERATURE, timeout=_OP_TIMEOUT_S, retry=True)
        except RuntimeClosed:
            return
        except BleRuntimeError as exc:
            model.count(device.address, "reads_failed", exc)
        else:
            model.count(device.address, "reads_ok")


def _hostile_radio(
    duration: float,
    *,
    rng: random.Random,
    runtime: Runtime,
    devices: Sequence[Device],
    peripherals: Sequence[Peripheral],
    kinds: Sequence[Kind],
    model: Model,
    view: View,
) -> None:
    """Inject the scheduled faults, showing events as they come, for ``duration`` s."""
    begin = model.elapsed()
    names = [p.name for p in peripherals]
    for fault in schedule(duration, kinds, rng):
        _pump(model, view, until=begin + fault.at)
        inject(
            fault,
            runtime=runtime,
            devices=devices,
            peripherals=peripherals,
            names=names,
            model=model,
        )
    _pump(model, view, until=begin + duration)


def _pump(model: Model, view: View, *, until: float) -> None:
    """Hand events to the view as they come, until ``until`` (demo seconds)."""
    while True:
        left = until - model.elapsed()
        try:
            event = model.events.get(timeout=left) if left > 0 else model.events.get_nowait()
        except queue.Empty:
            return
        view.event(event)


def _settle(
    devices: Sequence[Device],
    peripherals: Sequence[Peripheral],
    kinds: Sequence[Kind],
    model: Model,
) -> tuple[DeviceResult, ...]:
    """Wait for every device to be back, stop the streams, drain them, and account."""
    connected = {}
    for device in devices:
        try:
            device.wait_connected(timeout=_SETTLE_S)
            connected[device.address] = True
        except BleRuntimeError:
            connected[device.address] = False
    for peripheral in peripherals:
        peripheral.pause_notifications()
    counters = {p.address: p.counters() for p in peripherals}
    sent = {
        p.address: counters[p.address].notifications_while_subscribed
        for p, kind in zip(peripherals, kinds, strict=True)
        if kind is not Kind.SENSOR
    }
    model.wait(lambda m: all(m.delivered(a) >= n for a, n in sent.items()), _SETTLE_S)
    results = []
    for row in model.rows():
        results.append(
            DeviceResult(
                name=row.name,
                address=row.address,
                kind=row.kind,
                sent=sent.get(row.address),
                delivered=row.delivered if row.address in sent else None,
                duplicates=row.duplicates,
                survived=row.survived,
                refused=counters[row.address].refused_connects,
                reads_ok=row.reads_ok,
                reads_failed=row.reads_failed,
                writes_ok=row.writes_ok,
                writes_refused=row.writes_refused,
                writes_failed=row.writes_failed,
                connected=connected[row.address],
            )
        )
    return tuple(results)


def _join(workers: list[threading.Thread]) -> None:
    # Each worker's call is bounded by _OP_TIMEOUT_S, and fails at once once the runtime
    # is closed.
    for worker in workers:
        worker.join(_OP_TIMEOUT_S + 1.0)
    workers.clear()
