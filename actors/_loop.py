"""The loop bridge: the runtime's only way into asyncio.

It either borrows the loop the user passed (``Runtime(loop=...)``: Jupyter, FastAPI,
Home Assistant, a simulator) or owns one loop thread for all devices, started and joined
with a bound. Actors hand it coroutines with ``submit``; the result comes back through
the ``on_done`` callback, which must only tell a message. Nothing here blocks the loop,
and nothing here ever awaits a pykka future.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from blerun.actors._errors import RuntimeClosed

log = logging.getLogger(__name__)

T = TypeVar("T")


class LoopBridge:
    """Runs coroutines on one event loop on behalf of actor threads."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._borrowed = loop
        self._loop: asyncio.AbstractEventLoop | None = loop
        self._thread: threading.Thread | None = None
        # In flight from this bridge; only touched on the loop thread.
        self._tasks: set[asyncio.Future[Any]] = set()
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
    ) -> concurrent.futures.Future[T]:
        """Run ``coro_fn()`` on the loop; ``on_done`` gets the finished future.

        The coroutine is created on the loop thread, so a closed loop never leaves an
        un-awaited coroutine behind. Cancel the returned future to cancel the task.
        """
        result: concurrent.futures.Future[T] = concurrent.futures.Future()
        result.add_done_callback(on_done)
        if self._closed or self._loop is None:
            result.set_exception(RuntimeClosed("the runtime's event loop is closed"))
            return result

        def start() -> None:
            if result.cancelled():
                return
            task = self.loop.create_task(coro_fn())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            _chain(task, result)

        try:
            self._loop.call_soon_threadsafe(start)
        except RuntimeError:
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                result.set_exception(RuntimeClosed("the runtime's event loop is closed"))
        return result

    async def drain(self, timeout: float) -> int:
        """On the loop: wait up to ``timeout`` for the bridge's tasks; returns how many remain."""
        me = asyncio.current_task()
        pending = {t for t in self._tasks if not t.done() and t is not me}
        if pending and timeout > 0:
            _, pending = await asyncio.wait(pending, timeout=timeout)
        return len(pending)

    def close(self, timeout: float) -> bool:
        """Stop taking work, cancel what runs, stop and join an owned loop thread.

        Returns True if everything finished within ``timeout``. A borrowed loop is left
        running (it is the caller's); only the bridge's own tasks are cancelled on it.
        """
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
        finished = done.wait(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the loop thread did not stop within %.1f s", timeout)
                return False
        return finished


def _chain(task: asyncio.Future[T], result: concurrent.futures.Future[T]) -> None:
    """Mirror ``task`` into ``result``, and a cancel of ``result`` into ``task``."""

    def copy(task: asyncio.Future[T]) -> None:
        if result.done():
            return
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            if task.cancelled():
                result.cancel()
            elif (error := task.exception()) is not None:
                result.set_exception(error)
            else:
                result.set_result(task.result())

    def cancel_task(future: concurrent.futures.Future[T]) -> None:
        if future.cancelled() and not task.done():
            task.get_loop().call_soon_threadsafe(task.cancel)

    task.add_done_callback(copy)
    result.add_done_callback(cancel_task)
