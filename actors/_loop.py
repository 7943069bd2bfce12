"""The loop bridge: the runtime's only way into asyncio.

It either borrows the loop the user passed (``Runtime(loop=...)``: Jupyter, FastAPI,
Home Assistant, a simulator) or owns one loop thread for all devices, started and joined
with a bound. Actors hand it coroutines with ``submit``; the result comes back through
the ``on_done`` callback, which must only tell a message. Nothing here blocks the loop,
and nothing here ever awaits a pykka future.

Link teardowns are submitted with ``teardown=True``: the bridge counts those still running
and those that gave up, so ``close()`` can report an unclean teardown instead of calling it
finished.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from blerun.actors._clock import monotonic
from blerun.actors.errors import RuntimeClosed

log = logging.getLogger(__name__)

T = TypeVar("T")


class LoopBridge:
    """Runs coroutines on one event loop on behalf of actors and callers."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._borrowed = loop
        self._loop: asyncio.AbstractEventLoop | None = loop
        self._thread: threading.Thread | None = None
        # In flight from this bridge; only touched on the loop thread.
        self._tasks: set[asyncio.Future[Any]] = set()
        self._teardowns: set[asyncio.Future[Any]] = set()
        self.teardowns_failed = 0
        """Link teardowns that gave up (timed out or failed); written on the loop thread."""
        self._closed = False

    @property
    def owns_loop(self) -> bool:
        return self._borrowed is None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeClosed("the runtime's event loop is not running")
        return self._loop

    def start(self) -> None:
        """Start the owned loop thread (no-op for a borrowed loop or a second call)."""
        if self._loop is not None:
            return
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                # Closed here, by its own thread, so it is closed even when close() stopped
                # waiting for this thread (a task that swallows cancellation).
                loop.close()

        self._thread = threading.Thread(target=run, name="blerun-loop", daemon=True)
        self._loop = loop
        self._thread.start()
        ready.wait()

    def in_loop_thread(self) -> bool:
        """Whether the caller runs on the bridge's loop thread."""
        loop = self._loop
        if loop is None:
            return False
        try:
            return asyncio.get_running_loop() is loop
        except RuntimeError:
            return False

    def submit(
        self,
        coro_fn: Callable[[], Coroutine[Any, Any, T]],
        on_done: Callable[[concurrent.futures.Future[T]], None],
        *,
        teardown: bool = False,
    ) -> concurrent.futures.Future[T]:
        """Run ``coro_fn()`` on the loop; ``on_done`` gets the finished future.

        On the loop thread the task starts at once; from another thread it starts on the
        loop's next iteration. The coroutine is created on the loop thread, so a closed
        loop never leaves an un-awaited coroutine behind. Cancel the returned future to
        cancel the task.
        """
        result: concurrent.futures.Future[T] = concurrent.futures.Future()
        result.add_done_callback(on_done)
        if (self._closed and not teardown) or self._loop is None:
            result.set_exception(RuntimeClosed("the runtime's event loop is closed"))
            return result

        def start() -> None:
            if result.cancelled():
                return
            task = self.loop.create_task(coro_fn())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            if teardown:
                self._teardowns.add(task)
                task.add_done_callback(self._teardown_done)
            _chain(task, result)

        if self.in_loop_thread():
            start()
            return result
        try:
            self._loop.call_soon_threadsafe(start)
        except RuntimeError:
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                result.set_exception(RuntimeClosed("the runtime's event loop is closed"))
        return result

    @property
    def busy(self) -> int:
        """Coroutines of this bridge in flight (connects, operations, teardowns)."""
        return len(self._tasks)

    def _teardown_done(self, task: asyncio.Future[Any]) -> None:
        self._teardowns.discard(task)
        if task.cancelled() or task.exception() is not None or task.result() is False:
            self.teardowns_failed += 1

    async def drain(self, timeout: float, failed_before: int = 0) -> int:
        """On the loop: wait up to ``timeout`` for the link teardowns; returns how many did
        not end cleanly (still running, or gave up since ``failed_before`` was read)."""
        pending = {t for t in self._teardowns if not t.done()}
        if pending and timeout > 0:
            _, pending = await asyncio.wait(pending, timeout=timeout)
        return len(pending) + self.teardowns_failed - failed_before

    def close(self, timeout: float) -> bool:
        """Stop taking work, cancel what runs, stop and join an owned loop thread.

        Returns True if everything finished within ``timeout`` (one bound for the whole
        call). A borrowed loop is left running (it is the caller's); only the bridge's
        own tasks are cancelled on it.
        """
        deadline = monotonic() + max(0.0, timeout)
        self._closed = True
        loop = self._loop
        if loop is None or loop.is_closed():
            return True
        done = threading.Event()

        def cancel_all() -> None:
            for task in list(self._tasks):
                task.cancel()
            if self.owns_loop:
                loop.stop()
            done.set()

        try:
            loop.call_soon_threadsafe(cancel_all)
        except RuntimeError:
            return True
        if self.in_loop_thread():
            return True  # cancellation is scheduled; the caller's loop will run it
        finished = done.wait(max(0.0, deadline - monotonic()))
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - monotonic()))
            if self._thread.is_alive():
                log.warning("the loop thread did not stop within %.1f s", timeout)
                return False
        return finished


def _chain(task: asyncio.Future[T], result: concurrent.futures.Future[T]) -> None:
    """Mirror ``task`` into ``result``, and a cancel of ``result`` into ``task``."""

    def copy(task: asyncio.Future[T]) -> None:
        # Retrieve the outcome first, always: a task whose exception nobody reads logs
        # "Task exception was never retrieved" on the user's loop.
        if task.cancelled():
            outcome: tuple[bool, Any] | None = None
        elif (error := task.exception()) is not None:
            outcome = (False, error)
        else:
            outcome = (True, task.result())
        if result.done():
            return
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            if outcome is None:
                result.cancel()
            elif outcome[0]:
                result.set_result(outcome[1])
            else:
                result.set_exception(outcome[1])

    def cancel_task(future: concurrent.futures.Future[T]) -> None:
        if future.cancelled() and not task.done():
            loop = task.get_loop()
            with contextlib.suppress(RuntimeError):
                if _running_loop() is loop:
                    task.cancel()
                else:
                    loop.call_soon_threadsafe(task.cancel)

    task.add_done_callback(copy)
    result.add_done_callback(cancel_task)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def off_loop(fn: Callable[[], T]) -> T:
    """Run a blocking ``fn`` on a short-lived daemon thread and await its result."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except Exception as exc:  # noqa: BLE001 -- handed to the awaiting caller
            future.set_exception(exc)
        finally:
            if not future.done():  # fn raised SystemExit or the like: the caller is told
                future.cancel()

    threading.Thread(target=run, name="blerun-close", daemon=True).start()
    return await asyncio.wrap_future(future)
