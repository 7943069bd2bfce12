"""A user's own app: a heart-rate logger on blerun (what ``test_heart_rate_logger.py`` tests).

It keeps one heart-rate monitor connected, decodes every measurement and keeps the beats
per minute, across link losses; nothing in it knows it is under test.
"""

from __future__ import annotations

import threading

from blerun.actors import Device, Notification, ReconnectPolicy, Runtime, Subscription

HEART_RATE_MEASUREMENT = "00002a37-0000-1000-8000-00805f9b34fb"


def beats_per_minute(data: bytes) -> int:
    """The heart rate of a Heart Rate Measurement value (flags bit 0: uint16 or uint8)."""
    return int.from_bytes(data[1:3], "little") if data[0] & 0x01 else data[1]


class HeartRateLogger:
    """Logs the heart rate of one monitor for as long as it runs."""

    def __init__(self, runtime: Runtime, address: str) -> None:
        self.device: Device = runtime.device(address, policy=ReconnectPolicy(initial=0.05, cap=1.0))
        self.readings: list[tuple[int, int, int]] = []
        """(session, seq, bpm) of each measurement, in the order they came."""
        self._lock = threading.Lock()
        self._subscription: Subscription | None = None

    def start(self, timeout: float = 10.0) -> None:
        self._subscription = self.device.subscribe(
            HEART_RATE_MEASUREMENT, self._on_measurement, decode=beats_per_minute
        )
        self.device.connect(timeout=timeout)

    def _on_measurement(self, note: Notification) -> None:
        with self._lock:
            self.readings.append((note.session, note.seq, note.value))

    def stop(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
        self.device.disconnect()
