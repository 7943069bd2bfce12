"""The one place that owns time: a ``Clock`` protocol and the loop-driven clock.

Every timer in the runtime (reconnect delays, attempt deadlines, stable windows) goes
through a ``Clock``; actors never sleep. A timer's callback runs on whatever thread the
clock fires on and must only ``tell`` (hand a message to an actor) and return.
Tests inject ``blerun.testing.FakeClock`` and move time with ``advance()``.
"""

from __future__ import annotations

import asyncio
import contextlib
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


def monotonic() -> float:
    """Real monotonic seconds, for bounds on real waits (shutdown), never for timers."""
    return time.monotonic()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
