"""One device as the checker records it: its state events and its deliveries.

Listeners and subscriber callbacks of one device run on its callback lane, one at a time
and in order, so what a recording callback sees of the device's events is what the user
saw when the notification arrived: a notification of a session older than the newest
CONNECTED the listener heard is stale.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable
from typing import Any, Protocol

from blerun.actors import AsyncDevice, ConnectionState, Device, Notification, StateChanged
from blerun.actors._state import allowed
from blerun.messages import Reason

from ._invariants import Invariant, Violation

S = ConnectionState
_tokens = itertools.count(1)


class CountedPeripheral(Protocol):
    """What the checker reads from an emulated peripheral (``blerun.sim.Peripheral``)."""

    @property
    def address(self) -> str: ...

    def counters(self, *, timeout: float = ...) -> Any: ...

    def pause_notifications(self, *, timeout: float = ...) -> None: ...


@dataclasses.dataclass(slots=True)
class _Ledger:
    """One recording callback: what it got, per (session, characteristic)."""

    uuid: str
    wanted: bool = True
    delivered: int = 0
    """Distinct notifications delivered."""
    seen: set[tuple[int, str, int]] = dataclasses.field(default_factory=set)
    """(session, uuid, seq) of every delivery."""
    last: dict[tuple[int, str], int] = dataclasses.field(default_factory=dict)
    """(session, uuid) -> the highest seq delivered."""
    latest_session: int = 0


class DeviceWatch:
    """The recording of one device; made by ``InvariantChecker.watch()``."""

    def __init__(
        self,
        device: Device | AsyncDevice,
        peripheral: CountedPeripheral | None,
        report: Callable[[Violation], None],
        events_delayed: Callable[[], bool] = lambda: False,
    ) -> None:
        self.device = device
        self.address = device.address
        self.peripheral = peripheral
        self._report = report
        self._events_delayed = events_delayed
        self.late = 0
        """Notifications delivered after a newer session was announced, while the plan
        delayed the state events (see ``Invariant.STALE``)."""
        self._lock = threading.Lock()
        self.events: list[StateChanged] = []
        self._last_state = device.state
        self._last_version = device.state_version
        # Watching a connected device: its session is the newest one announced.
        self._latest_connected = self._last_version if self._last_state is S.CONNECTED else 0
        self._ledgers: dict[int, _Ledger] = {}
        self.wants_connected = False
        self.removed = False
        self.runtime_ended_sessions = False
        """The runtime (not the peripheral) ended a session: a disconnect, a radio restart,
        a removal. Notifications that reached it after that are dropped as stale."""
        self.lossy = False
        """A fault no count accounts for happened (a radio host process killed, the device
        removed or stopped): deliveries are checked at most once, not exactly once."""
        self.baseline = peripheral.counters() if peripheral is not None else None
        self.remove_listener = device.on_state_change(self._on_event)

    # --- state events (on the device's lane) --------------------------------------------

    def _on_event(self, event: StateChanged) -> None:
        with self._lock:
            self.events.append(event)
            old_state, old_version = self._last_state, self._last_version
            self._last_state, self._last_version = event.new, event.version
            if event.new is S.CONNECTED:
                self._latest_connected = event.version
        if event.version != old_version + 1:
            kind = "seen twice" if event.version <= old_version else "skipped"
            self._violation(
                Invariant.VERSIONS,
                f"version {event.version} after {old_version} ({kind}): "
                f"{event.old.value} -> {event.new.value} ({event.reason.value})",
            )
        if event.old is not old_state:
            self._violation(
                Invariant.TRANSITIONS,
                f"v{event.version} starts from {event.old.value}, the previous one ended in "
                f"{old_state.value}",
            )
        if not allowed(event.old, event.new):
            self._violation(
                Invariant.TRANSITIONS,
                f"v{event.version}: {event.old.value} -> {event.new.value} is not allowed",
            )

    @property
    def last_event(self) -> StateChanged | None:
        with self._lock:
            return self.events[-1] if self.events else None

    @property
    def escalated(self) -> bool:
        """Whether listeners heard the device stopped by escalation (FAILED, ESCALATED)."""
        with self._lock:
            return any(e.new is S.FAILED and e.reason is Reason.ESCALATED for e in self.events)

    # --- deliveries (on the device's lane) -----------------------------------------------

    def callback(
        self, uuid: str, inner: Callable[[Notification], None] | None = None
    ) -> Callable[[Notification], None]:
        """A subscriber callback that records each delivery, then calls ``inner``.

        Args:
            uuid: The characteristic it is subscribed to (normalized).
            inner: The test's own callback, if any.

        Returns:
            The callback to pass to ``subscribe``. The first one of a characteristic is
            the ledger of what the peripheral sent (keep it subscribed).
        """
        ledger = _Ledger(uuid)
        with self._lock:
            self._ledgers[next(_tokens)] = ledger

        def record(note: Notification) -> None:
            self._on_delivery(ledger, note)
            if inner is not None:
                inner(note)

        record.ledger = ledger  # type: ignore[attr-defined]  # for forget()
        return record

    def forget(self, callback: Callable[[Notification], None]) -> None:
        """The subscription of ``callback`` was cancelled (or its subscribe failed)."""
        ledger = getattr(callback, "ledger", None)
        if isinstance(ledger, _Ledger):
            with self._lock:
                ledger.wanted = False

    def _on_delivery(self, ledger: _Ledger, note: Notification) -> None:
        with self._lock:
            latest = self._latest_connected
            key = (note.session, note.uuid)
            twice = (note.session, note.uuid, note.seq) in ledger.seen
            if not twice:
                ledger.seen.add((note.session, note.uuid, note.seq))
                ledger.delivered += 1
            previous = ledger.last.get(key)
            ledger.last[key] = max(note.seq, previous or 0)
            older_session = note.session < ledger.latest_session
            ledger.latest_session = max(ledger.latest_session, note.session)
        if note.session < latest and self._events_delayed():
            with self._lock:
                self.late += 1
        elif note.session < latest:
            self._violation(
                Invariant.STALE,
                f"seq {note.seq} of session {note.session} delivered after CONNECTED "
                f"v{latest} was announced",
            )
        if twice:
            self._violation(
                Invariant.DUPLICATE, f"seq {note.seq} of session {note.session} delivered twice"
            )
        elif previous is not None and note.seq < previous:
            self._violation(
                Invariant.ORDER,
                f"session {note.session}: seq {note.seq} delivered after seq {previous}",
            )
        if older_session:
            self._violation(
                Invariant.ORDER,
                f"a notification of session {note.session} after one of a later session",
            )

    # --- what the checker reads ----------------------------------------------------------

    def wanted_uuids(self) -> set[str]:
        with self._lock:
            return {ledger.uuid for ledger in self._ledgers.values() if ledger.wanted}

    def unwanted_uuids(self) -> set[str]:
        """Characteristics subscribed through this watch once, wanted by nobody now."""
        with self._lock:
            once = {ledger.uuid for ledger in self._ledgers.values()}
        return once - self.wanted_uuids()

    def delivered(self, uuid: str | None = None) -> int:
        """Deliveries to the first wanted subscription of each characteristic (the ledger
        of what the peripheral sent), or of ``uuid``'s."""
        with self._lock:
            firsts: dict[str, _Ledger] = {}
            for ledger in self._ledgers.values():
                if ledger.wanted and ledger.uuid not in firsts:
                    firsts[ledger.uuid] = ledger
            if uuid is not None:
                first = firsts.get(uuid)
                return first.delivered if first else 0
            return sum(ledger.delivered for ledger in firsts.values())

    def _violation(self, invariant: Invariant, detail: str) -> None:
        self._report(Violation(invariant, self.address, detail))
