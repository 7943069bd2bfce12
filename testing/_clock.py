"""``FakeClock``: the runtime's time source for tests, moved only by the test (or autojump).

The runtime reads time and schedules every timer through its ``Clock``; a test that
passes a ``FakeClock`` decides when time moves: ``advance()`` and ``advance_to()`` fire
what falls due, on the calling thread. With ``autojump_threshold`` the clock also moves by
itself, as trio's ``MockClock`` does: a timer that is due fires at once, and when no timer
was scheduled and time did not move for ``autojump_threshold`` real seconds, the clock
jumps to the next timer. So a reconnect test waits neither the policy's delays nor a
thread's guess at them: it waits on events, and time jumps over the idle stretches.

trio jumps when its run loop is idle; the runtime's threads give no such signal, so the
threshold stands in for it. Pick it above how long the real work between two timers takes
(a connect over the scripted backend: milliseconds), or a deadline timer (an attempt's
``attempt_timeout``) may be jumped to while that work is still running.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
import threading
from collections.abc import Callable

from blerun.actors.errors import InvalidTimeout


@dataclasses.dataclass(eq=False)
class FakeTimer:
    """A timer of a ``FakeClock``; tests read ``due``, ``delay`` and ``label``."""

    due: float
    """Clock time it fires at."""
    delay: float
    """The delay it was scheduled with."""
    label: str
    """What it is for (the message type it will send)."""
    callback: Callable[[], None]
    """What runs when it fires."""
    cancelled: bool = False
    """True once cancelled; a cancelled timer never fires."""

    def cancel(self) -> None:
        self.cancelled = True


def _seconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise InvalidTimeout(f"{name} must be a number of seconds, got {value!r}")
    if value < 0 or math.isinf(value):
        raise InvalidTimeout(f"{name} must be finite and >= 0 seconds, got {value!r}")
    return float(value)


class FakeClock:
    """A clock that moves only when a test calls ``advance()`` (or, opted in, by itself).

    ``call_later`` may be called from any thread; ``advance`` fires the due timers in due
    order on the calling thread. ``wait_for_timer`` lets a test wait (on a condition,
    never sleeping) until an actor has scheduled the timer it expects.

    Args:
        start: The clock's time at construction.
        autojump_threshold: ``None`` (default): only the test moves time. A number of real
            seconds: due timers fire at once, and after that long with no timer scheduled
            and no advance, the clock jumps to the next timer (on a helper thread that
            exits when no timer is pending).

    Raises:
        InvalidTimeout: ``start`` or ``autojump_threshold`` is not a finite number >= 0.
    """

    def __init__(self, start: float = 0.0, *, autojump_threshold: float | None = None) -> None:
        finite = isinstance(start, int | float) and math.isfinite(start)
        if isinstance(start, bool) or not finite:
            raise InvalidTimeout(f"start must be a finite number of seconds, got {start!r}")
        self._threshold = (
            None
            if autojump_threshold is None
            else _seconds(autojump_threshold, "autojump_threshold")
        )
        self._now = float(start)
        self._heap: list[tuple[float, int, FakeTimer]] = []
        self._seq = itertools.count()
        self._activity = 0
        self._jumper: threading.Thread | None = None
        # The fake clock is shared by the test thread and every actor thread; it is a test
        # double, not an actor, so a condition variable guards its heap.
        self._cond = threading.Condition()

    @property
    def autojump_threshold(self) -> float | None:
        """Real seconds of quiet before the clock jumps to its next timer (``None``: off)."""
        return self._threshold

    def now(self) -> float:
        with self._cond:
            return self._now

    def call_later(self, delay: float, callback: Callable[[], None], *, label: str) -> FakeTimer:
        with self._cond:
            timer = FakeTimer(
                due=self._now + max(0.0, delay), delay=delay, label=label, callback=callback
            )
            heapq.heappush(self._heap, (timer.due, next(self._seq), timer))
            self._activity += 1
            self._cond.notify_all()
            if self._threshold is not None and self._jumper is None:
                self._jumper = threading.Thread(
                    target=self._autojump, name="blerun-fakeclock-autojump", daemon=True
                )
                self._jumper.start()
            return timer

    def pending(self, label: str | None = None) -> list[FakeTimer]:
        """Timers not yet fired nor cancelled, earliest first, optionally by label."""
        with self._cond:
            return [
                t
                for _, _, t in sorted(self._heap)
                if not t.cancelled and (label is None or t.label == label)
            ]

    def wait_for_timer(self, label: str, *, timeout: float = 5.0) -> FakeTimer:
        """Block until a pending timer with ``label`` exists; return the earliest one.

        Raises:
            TimeoutError: none was scheduled within ``timeout`` real seconds.
        """
        with self._cond:
            found = self._cond.wait_for(lambda: self._first(label) is not None, timeout)
            timer = self._first(label)
            if not found or timer is None:
                raise TimeoutError(f"no {label!r} timer was scheduled within {timeout} s")
            return timer

    def _first(self, label: str) -> FakeTimer | None:
        live = [t for _, _, t in self._heap if not t.cancelled and t.label == label]
        return min(live, key=lambda t: t.due) if live else None

    def advance(self, seconds: float) -> int:
        """Move time forward, firing every timer that falls due; returns how many fired.

        Raises:
            InvalidTimeout: ``seconds`` is negative, NaN, infinite or not a number.
        """
        step = _seconds(seconds, "seconds")
        with self._cond:
            target = self._now + step
        return self.advance_to(target)

    def advance_to(self, target: float) -> int:
        """Move time to ``target`` exactly (e.g. a timer's ``due``), firing what falls due.

        A target in the past fires what is due now and leaves the time as it is.
        """
        fired = 0
        while True:
            with self._cond:
                self._activity += 1
                if not self._heap or self._heap[0][0] > target:
                    self._now = max(self._now, target)
                    self._cond.notify_all()
                    return fired
                due, _, timer = heapq.heappop(self._heap)
                self._now = max(self._now, due)
            if not timer.cancelled:
                timer.callback()  # outside the lock: it may schedule further timers
                fired += 1

    # --- autojump ---------------------------------------------------------------------

    def _next_due(self) -> float | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def _moved(self, seen: int) -> Callable[[], bool]:
        return lambda: self._activity != seen

    def _autojump(self) -> None:
        threshold = self._threshold
        assert threshold is not None
        while True:
            with self._cond:
                due = self._next_due()
                if due is None:
                    self._jumper = None  # the next call_later starts a new helper
                    return
                if due > self._now:
                    if self._cond.wait_for(self._moved(self._activity), threshold):
                        continue  # something happened: wait for a quiet stretch again
                    due = self._next_due()
                    if due is None:
                        continue
            self.advance_to(due)
