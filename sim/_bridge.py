"""Reaching the air's loop from any thread, within a bound."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopBridge"]

T = TypeVar("T")


class LoopBridge:
    """Runs work on one loop: directly on its thread, through the loop from others."""

    def __init__(self, loop: asyncio.AbstractEventLoop, thread_id: int) -> None:
        self.loop = loop
        self.thread_id = thread_id

    def on_loop_thread(self) -> bool:
        return threading.get_ident() == self.thread_id

    def call(self, fn: Callable[[], T], timeout: float) -> T:
        """Run ``fn`` on the loop and return its result.

        On the loop thread ``fn`` runs at once. From another thread this waits at most
        ``timeout`` seconds; if ``fn`` has not started by then it never will, and
        TimeoutError is raised.
        """
        if self.on_loop_thread():
            return fn()
        _check_timeout(timeout)
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not result.set_running_or_notify_cancel():
                return
            try:
                result.set_result(fn())
            except Exception as exc:  # noqa: BLE001  # re-raised in the waiting thread
                result.set_exception(exc)

        if self.loop.is_closed():
            raise RuntimeError("the air is closed")
        try:
            self.loop.call_soon_threadsafe(run)
        except RuntimeError as exc:
            raise RuntimeError("the air is closed") from exc
        try:
            return result.result(timeout)
        except TimeoutError:
            result.cancel()
            raise

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop from another thread; cancel it after ``timeout``."""
        if self.on_loop_thread():
            coro.close()
            raise RuntimeError("this call blocks; on the loop thread use its async twin")
        _check_timeout(timeout)
        if self.loop.is_closed():
            coro.close()
            raise RuntimeError("the air is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise


def _check_timeout(timeout: float) -> None:
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
