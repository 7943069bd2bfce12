"""Test helpers: wait on events, never sleep."""

from __future__ import annotations

import threading
from collections.abc import Callable

from blerun.actors import ConnectionState, Device, Notification, StateChanged


class StateRecorder:
    """Collects a device's StateChanged events; tests wait on them with a condition."""

    def __init__(self, device: Device) -> None:
        self.events: list[StateChanged] = []
        self._cond = threading.Condition()
        self.remove = device.on_state_change(self._on_event)

    def _on_event(self, event: StateChanged) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(
        self, predicate: Callable[[list[StateChanged]], bool], timeout: float = 5.0
    ) -> list[StateChanged]:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.events), timeout):
                raise AssertionError(f"condition not met; events: {self.states()}")
            return list(self.events)

    def wait_state(self, state: ConnectionState, count: int = 1, timeout: float = 5.0) -> StateChanged:
        events = self.wait_for(lambda evs: sum(e.new is state for e in evs) >= count, timeout)
        return [e for e in events if e.new is state][count - 1]

    def states(self) -> list[str]:
        return [e.new.value for e in self.events]


class Collector:
    """A subscriber callback that records notifications and signals arrivals."""

    def __init__(self) -> None:
        self.items: list[Notification] = []
        self._cond = threading.Condition()

    def __call__(self, note: Notification) -> None:
        with self._cond:
            self.items.append(note)
            self._cond.notify_all()

    def wait_count(self, n: int, timeout: float = 5.0) -> list[Notification]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.items) >= n, timeout):
                raise AssertionError(f"expected {n} notifications, got {len(self.items)}")
            return list(self.items)
