"""A device's hub: its published state (what ``dev.state`` reads) and who hears it."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable

from blerun.actors._slot import Slot
from blerun.messages import ConnectionState, DeviceId, ServicesSnapshot, StateChanged

Listener = Callable[[StateChanged], None]


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceSnapshot:
    """What the world last learned about a device, from its ``StateChanged`` events."""

    state: ConnectionState
    version: int
    services: ServicesSnapshot | None
    """The services of the latest connection (kept while the link is down)."""
    error: BaseException | None = None
    """The error of the latest transition, if it had one."""
    last_error: BaseException | None = None
    """The latest error since the device was last CONNECTED (what a timeout names)."""


class DeviceHub:
    """One device group's published state, and who hears it."""

    __slots__ = (
        "_listeners",
        "_lock",
        "device",
        "lane_key",
        "publisher",
        "snapshot",
        "subscribers",
        "terminal",
    )

    def __init__(self, device: DeviceId, subscribers: tuple[Slot, ...]) -> None:
        self.device = device
        self.snapshot = DeviceSnapshot(ConnectionState.DISCONNECTED, 0, None)
        self.subscribers = subscribers
        self.terminal = False
        """True once CLOSED (or FAILED by escalation) was published: nothing follows."""
        self.publisher = 0
        """The generation of the RadioActor allowed to publish (set by the supervisor
        before it starts one), so a replaced radio can never publish again."""
        self._listeners: dict[int, Listener] = {}
        self._lock = threading.Lock()
        self.lane_key = str(device)

    def add_listener(self, token: int, callback: Listener) -> None:
        with self._lock:
            self._listeners = {**self._listeners, token: callback}

    def remove_listener(self, token: int) -> None:
        with self._lock:
            if token in self._listeners:
                self._listeners = {t: c for t, c in self._listeners.items() if t != token}

    def listeners(self) -> Iterable[Listener]:
        return self._listeners.values()  # replaced whole on change: safe to iterate
