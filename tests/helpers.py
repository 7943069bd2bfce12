"""Test helpers: wait on events, never sleep."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import sys
import threading
from collections.abc import Callable

from blerun.actors import (
    AsyncDevice,
    ConnectionState,
    Device,
    Notification,
    Runtime,
    StateChanged,
)
from blerun.messages import Connect, GetStats, Role

from scripted import ScriptedPeripheral


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

    def wait_state(
        self, state: ConnectionState, count: int = 1, timeout: float = 5.0
    ) -> StateChanged:
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


def start_connect(device: Device | AsyncDevice) -> concurrent.futures.Future[object]:
    """Send Connect without waiting (as a user's own actor would); returns its future."""
    request_id, future = device.new_request()
    device.tell(Role.RADIO, Connect(request_id=request_id))
    return future


def settle(device: Device) -> None:
    """A barrier: everything the RadioActor has sent to its peers is handled, and every
    callback and listener call queued by then has run.

    Ask the radio first (its answer comes after whatever it queued for its peers), then
    each peer (whose answer comes after what the radio queued for it), then the device's
    callback lane.
    """
    for role in (Role.RADIO, Role.RECONNECT, Role.NOTIFY):
        request_id, future = device.new_request()
        device.tell(role, GetStats(request_id=request_id))
        future.result(5)
    device.wait_delivered(timeout=5)


def no_bluetooth_stack() -> bool:
    """Whether this machine has no BlueZ to reach (Linux without a D-Bus system bus)."""
    if not sys.platform.startswith("linux") or os.environ.get("DBUS_SYSTEM_BUS_ADDRESS"):
        return False
    sockets = ("/run/dbus/system_bus_socket", "/var/run/dbus/system_bus_socket")
    return not any(os.path.exists(path) for path in sockets)


@dataclasses.dataclass(frozen=True)
class Connected:
    """A device connected over the scripted backend, and what a test checks it with."""

    runtime: Runtime
    device: Device
    peripheral: ScriptedPeripheral
    """Its scripted heart-rate monitor."""
    events: StateRecorder
    """Its state events, recorded from before the connect."""
    notes: Collector
    """What a subscription to the heart-rate measurement (made before the connect, so
    re-applied on every connection) received."""
