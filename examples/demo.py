"""The blerun demo: three emulated BLE devices, a hostile radio, and a runtime that copes.

No hardware needed: blerun.sim runs the devices on Bumble's virtual controllers, and
the runtime reaches them through bleak exactly as it would reach real ones.

    python examples/demo.py            # about five seconds
    python examples/demo.py --drops 50 # a harsher radio

What it shows: a heart-rate stream that survives repeated link drops with exactly the
notifications the device sent while subscribed, a UART echo, a sensor read, refused
connects backed off by the policy, a crashed actor restarted by its supervisor, and a
bounded shutdown while a disconnect hangs.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time

from blerun.actors import Device, Notification, ReconnectPolicy, Runtime, StateChanged
from blerun.messages import Role
from blerun.sim import (
    HEART_RATE_MEASUREMENT,
    NUS_RX,
    NUS_TX,
    TEMPERATURE,
    Peripheral,
    VirtualAir,
    heart_rate_monitor,
    parse_heart_rate_measurement,
    sensor,
    uart_device,
)
from blerun.testing import InMemoryMetrics

POLICY = ReconnectPolicy(initial=0.02, multiplier=2.0, cap=0.2, jitter=0.2)


class HeartRateLog:
    """Counts measurements and keeps their sequence numbers, to check loss and duplicates."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.last_bpm = 0
        self._cond = threading.Condition()

    def __call__(self, note: Notification) -> None:
        bpm, seq = note.value
        with self._cond:
            self.last_bpm = bpm
            self.seqs.append(seq)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.seqs) >= count, timeout):
                raise SystemExit(f"the stream stalled at {len(self.seqs)} measurements")

    def more(self, count: int = 5) -> None:
        """Wait for ``count`` more measurements than there are now."""
        self.wait_for(len(self.seqs) + count)


def serial_and_sensor(serial: Device, temperature: Device) -> None:
    raw = temperature.read(TEMPERATURE, timeout=5)
    print(f"temperature: {int.from_bytes(raw, 'little', signed=True) / 100:.2f} degC")
    echoes: list[bytes] = []
    echoed = threading.Event()

    def on_echo(note: Notification) -> None:
        echoes.append(note.data)
        echoed.set()

    serial.subscribe(NUS_TX, on_echo)
    serial.write(NUS_RX, b"hello, blerun", response=True, timeout=5)
    echoed.wait(5)
    print(f"uart echo: {b''.join(echoes)!r}")


def hostile_radio(
    rt: Runtime,
    heart: Device,
    hr: Peripheral,
    log: HeartRateLog,
    *,
    drops: int,
    metrics: InMemoryMetrics,
) -> None:
    print(f"heart rate: {log.last_bpm} bpm; dropping the link {drops} times ...")
    for _ in range(drops):
        hr.drop_link()
        log.more()  # flowing again on the new connection
    print("refusing the next 3 connects, then dropping the link ...")
    hr.refuse_connects(3)
    hr.drop_link()
    log.more()
    # Notifications queued to an actor when it crashes die with its mailbox, so the
    # stream pauses across the crash to keep the exact count honest.
    print("crashing the heart-rate device's NotificationActor (stream paused) ...")
    hr.pause_notifications()
    log.wait_for(hr.counters().notifications_while_subscribed)
    rt.crash(heart, Role.NOTIFY, note="demo")
    metrics.wait_count("supervisor.restarts", 1)
    hr.resume_notifications()
    log.more()


def report(heart: Device, hr: Peripheral, log: HeartRateLog, metrics: InMemoryMetrics) -> bool:
    hr.pause_notifications()
    sent = hr.counters().notifications_while_subscribed
    log.wait_for(sent)
    stats = heart.statistics()
    duplicates = len(log.seqs) - len(set(log.seqs))
    print(
        f"heart rate stream: {len(log.seqs)} delivered of {sent} sent while subscribed, "
        f"{duplicates} duplicates; {stats.links_lost} links lost, "
        f"{stats.connect_attempts} connection attempts, {hr.counters().refused_connects} refused"
    )
    delays = metrics.observations("reconnect.delay")
    print(
        f"reconnect delays: {len(delays)} scheduled, max {max(delays):.3f} s (cap {POLICY.cap} s)"
    )
    return len(log.seqs) == sent and duplicates == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--drops", type=int, default=20, help="link drops to inject")
    parser.add_argument("--verbose", action="store_true", help="log every state change")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(threadName)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # The demo crashes an actor on purpose; pykka and the supervisor log it as an error.
        logging.getLogger("pykka").setLevel(logging.CRITICAL)
        logging.getLogger("blerun.actors._supervisor").setLevel(logging.CRITICAL)
        logging.getLogger("blerun.actors._runtime").setLevel(logging.ERROR)
    started = time.perf_counter()
    air = VirtualAir.start()
    hr = air.add_peripheral(heart_rate_monitor(name="HR-1", rate_hz=200.0))
    uart = air.add_peripheral(uart_device(name="UART-1"))
    thermo = air.add_peripheral(sensor(name="Thermo-1"))
    print(f"virtual air up: {hr.name} at {hr.address}, {uart.name}, {thermo.name}")
    metrics = InMemoryMetrics()
    rt = Runtime(loop=air.loop, backend=air.client_backend, policy=POLICY, metrics=metrics)
    ok = False
    try:
        heart, serial = rt.device(hr.address), rt.device(uart.address)
        temperature = rt.device(thermo.address)

        def show(event: StateChanged) -> None:
            print(f"  {event.device} {event.old.value} -> {event.new.value} ({event.reason.value})")

        if args.verbose:
            heart.on_state_change(show)
        log = HeartRateLog()
        heart.subscribe(HEART_RATE_MEASUREMENT, log, decode=parse_heart_rate_measurement)
        for device in (heart, serial, temperature):
            device.connect(timeout=10)
        serial_and_sensor(serial, temperature)
        log.wait_for(20)
        hostile_radio(rt, heart, hr, log, drops=args.drops, metrics=metrics)
        ok = report(heart, hr, log, metrics)
        print("stalling the UART's next disconnect, then closing with a 1 s bound ...")
        uart.stall_next("disconnect")
    finally:
        closed = rt.close(timeout=1.0)
        print(
            f"closed in {closed.elapsed:.3f} s (clean={closed.clean}, "
            f"teardowns left running={closed.pending_teardowns})"
        )
        air.close(timeout=2.0)
    print(f"demo {'passed' if ok else 'FAILED'} in {time.perf_counter() - started:.1f} s")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
