"""What the demo knows about each device, fed by the runtime's callbacks and metrics.

Callbacks arrive on actor threads and the views read from the main thread (and rich's
refresh thread), so every track lives behind one condition; readers get frozen rows.
Every change the views should announce is also queued as an ``Event``.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import math
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from blerun.actors import ConnectionState, Notification, Reason, StateChanged


class Kind(enum.Enum):
    """Which emulated profile a demo device runs, and so what the demo does with it."""

    HEART_RATE = "heart-rate"
    """Streams measurements carrying sequence numbers: loss and duplicates are exact."""
    UART = "uart"
    """Echoes what the demo writes: each echo is a notification."""
    SENSOR = "sensor"
    """Read-only: the demo reads it, retrying across drops."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One line of the demo's story: a state change, or a fault the demo injects."""

    at: float
    """Seconds since the demo started."""
    device: str | None
    """The device's name; ``None`` for a step of the demo itself (a fault)."""
    text: str
    """What happened, in words."""
    change: StateChanged | None = None
    """For a state change: the event itself."""


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """A device as the views show it at one moment."""

    name: str
    address: str
    kind: Kind
    state: ConnectionState
    version: int
    attempt: int
    next_delay: float | None
    delivered: int
    duplicates: int
    drops: int
    survived: int
    last_error: str
    reads_ok: int
    reads_failed: int
    writes_ok: int
    writes_refused: int
    writes_failed: int


@dataclasses.dataclass
class _Track:
    name: str
    address: str
    kind: Kind
    state: ConnectionState = ConnectionState.DISCONNECTED
    version: int = 0
    attempt: int = 0
    next_delay: float | None = None
    delivered: int = 0
    duplicates: int = 0
    seen: set[object] = dataclasses.field(default_factory=set)
    drops: int = 0
    survived: int = 0
    lost_at: float | None = None
    last_error: str = ""
    reads_ok: int = 0
    reads_failed: int = 0
    writes_ok: int = 0
    writes_refused: int = 0
    writes_failed: int = 0


class Model:
    """Every demo device's track, the reconnect times, and the event queue."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.events: queue.Queue[Event] = queue.Queue()
        self.reconnect_times: list[float] = []
        self.restarts = 0
        self.repeated_events = 0
        self._tracks: dict[str, _Track] = {}
        self._changed = threading.Condition()

    def elapsed(self) -> float:
        """Seconds since the demo started."""
        return time.perf_counter() - self.started

    def add(self, name: str, address: str, kind: Kind) -> None:
        """Track a device."""
        with self._changed:
            self._tracks[address] = _Track(name, address, kind)

    def announce(self, text: str) -> None:
        """Queue a fault (or any step of the demo) for the views."""
        self.events.put(Event(at=self.elapsed(), device=None, text=text))

    # --- fed by the runtime (actor threads) --------------------------------------------

    def state_listener(self, address: str) -> Callable[[StateChanged], None]:
        """An ``on_state_change`` callback for the device at ``address``."""

        def on_state(event: StateChanged) -> None:
            now = self.elapsed()
            with self._changed:
                track = self._tracks[address]
                # Versions only grow per device: an event at or below the last one seen
                # is a repeat (a restarted actor re-announcing the state); count it, do
                # not apply it twice.
                repeat = event.version <= track.version
                if repeat:
                    self.repeated_events += 1
                else:
                    self._apply(track, event, now)
                error = describe(event.error)
            text = f"{event.old.value} -> {event.new.value} ({event.reason.value})"
            if error:
                text += f": {error}"
            if repeat:
                text += f" [repeated: version {event.version} was announced before]"
            self.events.put(Event(at=now, device=track.name, text=text, change=event))

        return on_state

    def _apply(self, track: _Track, event: StateChanged, now: float) -> None:
        track.state, track.version, track.attempt = event.new, event.version, event.attempt
        if event.reason is Reason.LINK_LOST:
            track.drops += 1
            track.lost_at = now
        if event.new is ConnectionState.CONNECTED:
            track.next_delay = None
            if track.lost_at is not None:
                track.survived += 1
                self.reconnect_times.append(now - track.lost_at)
                track.lost_at = None
        error = describe(event.error)
        if error:
            track.last_error = error
        self._changed.notify_all()

    def notification_listener(self, address: str) -> Callable[[Notification], None]:
        """A subscriber callback for the device at ``address``; counts and checks identity.

        A heart-rate measurement is identified by the sequence number it carries (its
        decoded value), a UART echo by its payload (each written line is unique).
        """

        def on_notification(note: Notification) -> None:
            identity = note.value[1] if isinstance(note.value, tuple) else note.data
            with self._changed:
                track = self._tracks[address]
                track.delivered += 1
                if identity in track.seen:
                    track.duplicates += 1
                track.seen.add(identity)
                self._changed.notify_all()

        return on_notification

    def count(self, address: str, what: str, error: BaseException | None = None) -> None:
        """Count an outcome: reads_ok, reads_failed, writes_ok, writes_refused, writes_failed."""
        with self._changed:
            track = self._tracks[address]
            setattr(track, what, getattr(track, what) + 1)
            if error is not None:
                track.last_error = describe(error)

    def on_delay(self, address: str, delay: float) -> None:
        """The policy scheduled the next attempt ``delay`` seconds from now."""
        with self._changed:
            if address in self._tracks:
                self._tracks[address].next_delay = delay

    def on_restart(self) -> None:
        """The supervisor restarted an actor."""
        with self._changed:
            self.restarts += 1
            self._changed.notify_all()

    # --- read by the views and the director (main thread) ------------------------------

    def rows(self) -> list[Row]:
        """Every device, in the order added."""
        with self._changed:
            return [
                Row(
                    t.name, t.address, t.kind, t.state, t.version, t.attempt, t.next_delay,
                    t.delivered, t.duplicates, t.drops, t.survived, t.last_error, t.reads_ok,
                    t.reads_failed, t.writes_ok, t.writes_refused, t.writes_failed,
                )
                for t in self._tracks.values()
            ]  # fmt: skip

    def wait(self, predicate: Callable[[Model], bool], timeout: float) -> bool:
        """Wait until ``predicate(self)`` holds (re-checked on every change)."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout)

    def delivered(self, address: str) -> int:
        """Notifications delivered so far by the device at ``address``."""
        with self._changed:
            return self._tracks[address].delivered


class DemoMetrics:
    """The runtime's metrics hook, feeding the model: next delays and restarts."""

    def __init__(self, model: Model) -> None:
        self._model = model

    def increment(
        self, name: str, value: int = 1, *, tags: Mapping[str, str] | None = None
    ) -> None:
        if name == "supervisor.restarts":
            self._model.on_restart()

    def observe(self, name: str, value: float, *, tags: Mapping[str, str] | None = None) -> None:
        if name == "reconnect.delay" and tags is not None and "device" in tags:
            self._model.on_delay(tags["device"], value)


def describe(error: BaseException | None) -> str:
    """``ErrorClass: message`` on one line; empty for no error."""
    if error is None:
        return ""
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


class RateMeter:
    """Notifications per second per device, over about the last second (views only)."""

    def __init__(self) -> None:
        self._samples: dict[str, collections.deque[tuple[float, int]]] = {}

    def rate(self, address: str, delivered: int, now: float) -> float:
        """The rate since the oldest sample within a second; records this sample."""
        samples = self._samples.setdefault(address, collections.deque())
        samples.append((now, delivered))
        while len(samples) > 1 and now - samples[0][0] > 1.0:
            samples.popleft()
        then, before = samples[0]
        return (delivered - before) / (now - then) if now > then else 0.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DeviceResult:
    """One device's account at the end of the demo."""

    name: str
    address: str
    kind: Kind
    sent: int | None
    """Notifications the device sent while the runtime was subscribed (None: a sensor)."""
    delivered: int | None
    """Notifications the runtime handed to the demo's callback."""
    duplicates: int
    """Notifications delivered more than once."""
    survived: int
    """Link losses the device came back from."""
    refused: int
    """Connects the device refused."""
    reads_ok: int
    reads_failed: int
    writes_ok: int
    writes_refused: int
    """Writes refused because the link was down at that moment (not data loss: the demo
    sends without retry)."""
    writes_failed: int
    """Writes that failed otherwise."""
    connected: bool
    """Whether the device was connected at the end."""

    @property
    def lost(self) -> int:
        """Sent but never delivered."""
        return 0 if self.sent is None or self.delivered is None else self.sent - self.delivered


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """The demo's verdict and the figures behind it."""

    devices: tuple[DeviceResult, ...]
    reconnect_times: tuple[float, ...]
    """Seconds from each link loss to the device's next CONNECTED."""
    restarts: int
    """Actors restarted by the supervisor."""
    repeated_events: int
    """State changes a listener was told twice (not counted twice)."""
    close_seconds: float
    close_clean: bool
    seed: int
    elapsed: float

    def problems(self) -> list[str]:
        """What went wrong; empty when the demo passed."""
        found = []
        for d in self.devices:
            if d.lost:
                found.append(f"{d.name} lost {d.lost} notifications")
            if d.duplicates:
                found.append(f"{d.name} delivered {d.duplicates} duplicates")
            if d.reads_failed:
                found.append(f"{d.name}: {d.reads_failed} reads failed despite retrying")
            if d.writes_failed:
                found.append(f"{d.name}: {d.writes_failed} writes failed on a live link")
            if not d.connected:
                found.append(f"{d.name} was not connected at the end")
        if not self.close_clean:
            found.append("the runtime did not close cleanly")
        return found

    @property
    def passed(self) -> bool:
        """Nothing lost, nothing duplicated, everyone back, a clean close."""
        return not self.problems()


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (``fraction`` in 0..1) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]
