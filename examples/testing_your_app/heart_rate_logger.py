"""A user's own app: a heart-rate logger on blerun (what the tests next to it test).

It keeps one heart-rate monitor connected, decodes every measurement and keeps the beats
per minute, across link losses; nothing in it knows it is under test. On hardware it
runs unchanged: ``HeartRateLogger(Runtime(), "F3:4A:7B:21:9C:05").start()``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

from blerun.actors import (
    Device,
    Notification,
    Reason,
    ReconnectPolicy,
    Runtime,
    StateChanged,
    Subscription,
)

HEART_RATE_MEASUREMENT = "00002a37-0000-1000-8000-00805f9b34fb"


def beats_per_minute(data: bytes) -> int:
    """The heart rate of a Heart Rate Measurement value (flags bit 0: uint16 or uint8)."""
    return int.from_bytes(data[1:3], "little") if data[0] & 0x01 else data[1]


class Reading(NamedTuple):
    session: int
    """The connection it came on (``Notification.session``)."""
    seq: int
    """Its number within that connection, from 1."""
    bpm: int
    data: bytes
    """The measurement as the monitor sent it."""


class HeartRateLogger:
    """Logs the heart rate of one monitor for as long as it runs, and counts dropouts."""

    def __init__(self, runtime: Runtime, address: str) -> None:
        self.device: Device = runtime.device(address, policy=ReconnectPolicy(initial=0.05, cap=1.0))
        self.readings: list[Reading] = []
        self.dropouts = 0
        # Other threads (a UI, a test) wait on the log through this condition.
        self._changed = threading.Condition()
        self._subscription: Subscription | None = None
        self.device.on_state_change(self._on_state)

    def start(self, timeout: float = 10.0) -> None:
        self._subscription = self.device.subscribe(
            HEART_RATE_MEASUREMENT, self._on_measurement, decode=beats_per_minute
        )
        self.device.connect(timeout=timeout)

    def stop(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
        self.device.disconnect()

    def wait_until(
        self, condition: Callable[[HeartRateLogger], bool], timeout: float = 10.0
    ) -> None:
        """Block until ``condition(self)`` holds; ``TimeoutError`` after ``timeout`` s."""
        with self._changed:
            if not self._changed.wait_for(lambda: condition(self), timeout):
                raise TimeoutError("the heart-rate log did not get there in time")

    def _on_state(self, event: StateChanged) -> None:
        if event.reason is Reason.LINK_LOST:
            with self._changed:
                self.dropouts += 1
                self._changed.notify_all()

    def _on_measurement(self, note: Notification) -> None:
        with self._changed:
            self.readings.append(Reading(note.session, note.seq, note.value, note.data))
            self._changed.notify_all()
