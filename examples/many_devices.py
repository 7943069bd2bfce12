"""Several devices under one runtime and its one supervisor.

    python examples/many_devices.py

Four heart-rate straps and a thermometer, each with its own actors, all supervised by
the runtime's SupervisorActor. One strap's NotificationActor is crashed on purpose (as
a bug would crash it): the supervisor restarts it with its subscriptions, and the other
devices never notice. Ends with each device's statistics and the close report.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from blerun.actors import Notification, Runtime
from blerun.gatt import HEART_RATE_MEASUREMENT, TEMPERATURE
from blerun.messages import Role
from blerun.sim import VirtualAir, heart_rate_monitor, sensor
from blerun.testing import InMemoryMetrics

STRAPS = ["F3:4A:7B:21:9C:01", "F3:4A:7B:21:9C:02", "F3:4A:7B:21:9C:03", "F3:4A:7B:21:9C:04"]
THERMOMETER = "E8:11:22:33:44:55"


class Beats:
    """Notifications counted per device; waiters wake on every arrival."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self._arrived = threading.Condition()

    def callback(self, address: str) -> Callable[[Notification], None]:
        def on_beat(_note: Notification) -> None:
            with self._arrived:
                self.count[address] += 1
                self._arrived.notify_all()

        return on_beat

    def wait_more(self, address: str, more: int) -> None:
        with self._arrived:
            goal = self.count[address] + more
            if not self._arrived.wait_for(lambda: self.count[address] >= goal, 10.0):
                raise SystemExit(f"{address} stalled at {self.count[address]} beats")


def main(rt: Runtime, metrics: InMemoryMetrics) -> None:
    beats = Beats()
    straps = [rt.device(address) for address in STRAPS]
    for strap in straps:
        strap.subscribe(HEART_RATE_MEASUREMENT, beats.callback(strap.address))
        strap.connect(timeout=20.0)
    thermometer = rt.device(THERMOMETER)
    thermometer.connect(timeout=20.0)
    raw = thermometer.read(TEMPERATURE, timeout=5.0)
    print(f"temperature: {int.from_bytes(raw, 'little', signed=True) / 100:.2f} degC")
    for strap in straps:
        beats.wait_more(strap.address, 5)

    victim = straps[0]
    print(f"crashing the NotificationActor of {victim.address} (the supervisor logs it) ...")
    rt.crash(victim, Role.NOTIFY, note="example")
    metrics.wait_count("supervisor.restarts", 1)
    for strap in straps:  # every stream flows, the restarted one included
        beats.wait_more(strap.address, 5)
    print("restarted by the supervisor; every stream still flowing")

    for device in [*straps, thermometer]:
        stats = device.statistics()
        print(
            f"{device.address}: {stats.state.value}, "
            f"{stats.notifications_delivered} notifications, {stats.connect_attempts} connects"
        )


if __name__ == "__main__":
    metrics = InMemoryMetrics()
    # Real hardware (your addresses in STRAPS and THERMOMETER), one line instead of the
    # six below:
    #     with Runtime(metrics=metrics) as rt: main(rt, metrics)
    with VirtualAir.start() as air:
        for address in STRAPS:
            air.add_peripheral(heart_rate_monitor(address=address, rate_hz=20))
        air.add_peripheral(sensor(address=THERMOMETER))
        rt = Runtime(loop=air.loop, backend=air.client_backend, metrics=metrics)
        try:
            main(rt, metrics)
        finally:
            report = rt.close(timeout=5.0)
            print(f"closed in {report.elapsed:.3f} s, clean: {report.clean}")
