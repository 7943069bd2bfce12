"""The one place that owns time: a ``Clock`` protocol, the loop-driven clock, a fake one.

Every timer in the runtime (reconnect delays, attempt deadlines, stable windows) goes
through a ``Clock``; actors never sleep. A timer's callback runs on whatever thread the
clock fires on and must only ``tell`` (hand a message to an actor) and return.
Tests inject ``FakeClock`` and move time with ``advance()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    """A scheduled callback that can be cancelled from any thread."""

    def cancel(self) -> None:
        """Prevent the callback from running; idempotent, never raises."""


class Clock(Protocol):
    """Monotonic time plus timers; the runtime's only source of time."""

    def now(self) -> float:
        """Monotonic seconds."""

    def call_later(self, delay: float, callback: Callable[[], None], *, label: str) -> Timer:
        """Run ``callback`` once, ``delay`` seconds from now. Thread-safe."""


class _LoopTimer:
    __slots__ = ("_callback", "_cancelled", "_handle", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None
        self._cancelled = False

    def arm(self, due: float) -> None:
        if not self._cancelled:
            self._handle = self._loop.call_at(due, self._fire)

    def _fire(self) -> None:
        if not self._cancelled:
            self._callback()

    def cancel(self) -> None:
        # The flag alone makes a late firing harmless; dropping the handle just frees it.
        self._cancelled = True
        handle = self._handle
        if handle is None:
            return
        if _running_loop() is self._loop:
            handle.cancel()
            return
        with contextlib.suppress(RuntimeError):  # a closed loop fires nothing anyway
            self._loop.call_soon_threadsafe(handle.cancel)


class LoopClock:
    """Real time; timers run on an asyncio loop (the runtime's loop bridge).

    One loop serves every timer of every device, so timers cost no threads. A callback
    runs on the loop thread, where it only hands a message to an actor.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def now(self) -> float:
        # loop.time() is time.monotonic() for the default loops; read it the same way here
        # so that call_at() deadlines and now() agree.
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None], *, label: str) -> Timer:
        timer = _LoopTimer(self._loop, callback)
        due = self._loop.time() + max(0.0, delay)
        if _running_loop() is self._loop:
            timer.arm(due)  # the loop's own thread (the device actors): no wake-up needed
            return timer
        try:
            self._loop.call_soon_threadsafe(timer.arm, due)
        except RuntimeError:  # loop closed: the runtime is shutting down, nothing fires
            timer.cancel()
        return timer


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


class FakeClock:
    """A clock that moves only when a test calls ``advance()``.

    ``call_later`` may be called from any actor thread; ``advance`` fires the due timers
    in due order on the calling thread. ``wait_for_timer`` lets a test wait (on a
    condition, never sleeping) until an actor has scheduled the timer it expects.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, FakeTimer]] = []
        self._seq = itertools.count()
        # The fake clock is shared by the test thread and every actor thread; it is a test
        # double, not an actor, so a condition variable guards its heap.
        self._cond = threading.Condition()

    def now(self) -> float:
        with self._cond:
            return self._now

    def call_later(self, delay: float, callback: Callable[[], None], *, label: str) -> FakeTimer:
        with self._cond:
            timer = FakeTimer(
                due=self._now + max(0.0, delay), delay=delay, label=label, callback=callback
            )
            heapq.heappush(self._heap, (timer.due, next(self._seq), timer))
            self._cond.notify_all()
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
        """Move time forward, firing every timer that falls due; returns how many fired."""
        if seconds < 0:
            raise ValueError(f"FakeClock.advance() needs seconds >= 0, got {seconds}")
        with self._cond:
            target = self._now + seconds
        return self.advance_to(target)

    def advance_to(self, target: float) -> int:
        """Move time to ``target`` exactly (e.g. a timer's ``due``), firing what falls due."""
        fired = 0
        while True:
            with self._cond:
                if not self._heap or self._heap[0][0] > target:
                    self._now = max(self._now, target)
                    return fired
                due, _, timer = heapq.heappop(self._heap)
                self._now = max(self._now, due)
            if not timer.cancelled:
                timer.callback()  # outside the lock: it may schedule further timers
                fired += 1


def monotonic() -> float:
    """Real monotonic seconds, for bounds on real waits (shutdown), never for timers."""
    return time.monotonic()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
