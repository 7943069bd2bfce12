"""A blocking script: find a heart-rate strap, stream it, read it, and leave cleanly.

    python examples/sync_script.py

It runs on an emulated strap. For a real one, see the comment under ``__main__``: the
four lines of the emulated world become one, and ``main`` does not change.
"""

from __future__ import annotations

import queue
import threading

from bleak.backends.scanner import BaseBleakScanner

from blerun.actors import Notification, Runtime, StateChanged
from blerun.gatt import BODY_SENSOR_LOCATION, HEART_RATE_MEASUREMENT, HEART_RATE_SERVICE
from blerun.sim import VirtualAir, heart_rate_monitor, parse_heart_rate_measurement

# State listeners run on one of the runtime's callback threads while this script prints
# from the main thread: one lock keeps their lines whole.
printing = threading.Lock()


def say(text: str) -> None:
    with printing:
        print(text)


def show(event: StateChanged) -> None:
    say(f"state: {event.old.value} -> {event.new.value} ({event.reason.value})")


def main(rt: Runtime, scanner: type[BaseBleakScanner] | None = None) -> None:
    strap = rt.find(10.0, service=HEART_RATE_SERVICE, backend=scanner)
    say(f"found {strap.name} at {strap.address}, {strap.rssi} dBm")
    device = rt.device(strap)  # connects to exactly what the scan heard
    device.on_state_change(show)
    beats: queue.Queue[Notification] = queue.Queue()
    device.subscribe(HEART_RATE_MEASUREMENT, beats.put, decode=parse_heart_rate_measurement)
    device.connect(timeout=20.0)
    location = device.read(BODY_SENSOR_LOCATION, timeout=5.0, retry=True)
    say(f"sensor location: {location.hex()} (01 = chest)")
    for _ in range(5):
        bpm, _energy = beats.get(timeout=10.0).value
        say(f"heart rate: {bpm} bpm")
    device.disconnect()
    say(f"{device.statistics().notifications_delivered} notifications delivered")


if __name__ == "__main__":
    # Real hardware, one line instead of the four below:
    #     with Runtime() as rt: main(rt)
    with VirtualAir.start() as air:
        air.add_peripheral(heart_rate_monitor(name="Polar H10 1A2B3C", rate_hz=10))
        with Runtime(loop=air.loop, backend=air.client_backend) as rt:
            main(rt, scanner=air.scanner_backend)
