"""What went wrong out of sight: errors logged by the runtime's libraries, and exceptions
that escaped a thread or a finalizer, while a run was recorded.

An actor crash injected on purpose (``InjectedCrash``) is expected and not kept; anything
else logged at ERROR (a "Task exception was never retrieved", an actor that died of a
bug, a callback the runtime could not run) is.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from blerun.actors.errors import InjectedCrash

_WATCHED = ("asyncio", "pykka", "blerun", "bleak", "concurrent.futures")
"""The loggers whose errors are the runtime's business."""


def _injected(error: object, depth: int = 0) -> bool:
    """Whether ``error`` is, or was caused by, a crash injected on purpose."""
    if not isinstance(error, BaseException) or depth > 8:
        return False
    if isinstance(error, InjectedCrash):
        return True
    return _injected(error.__cause__, depth + 1) or _injected(error.__context__, depth + 1)


def _expected(record: logging.LogRecord) -> bool:
    if record.exc_info and _injected(record.exc_info[1]):
        return True
    args = record.args if isinstance(record.args, tuple) else ()
    if any(_injected(arg) for arg in args):
        return True
    # pykka logs an actor's death before its on_failure runs, with the traceback text only.
    return "InjectedCrash" in record.getMessage() or "poisoned" in record.getMessage()


class ErrorLog(logging.Handler):
    """Collects unexpected errors while installed (``install()`` / ``uninstall()``)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self._found: list[str] = []
        self._allowed: list[str] = []
        self._guard = threading.Lock()
        self._previous_thread_hook: Any = None
        self._previous_unraisable_hook: Any = None

    def allow(self, fragment: str) -> None:
        """From now on, an error whose message contains ``fragment`` was provoked on purpose
        (a radio host killed by the test, for instance)."""
        with self._guard:
            self._allowed.append(fragment)

    def emit(self, record: logging.LogRecord) -> None:
        if _expected(record):
            return
        text = f"{record.name}: {record.getMessage()}"
        with self._guard:
            if any(fragment in text for fragment in self._allowed):
                return
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({record.exc_info[1]!r})"
        with self._guard:
            self._found.append(text)

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if not _injected(args.exc_value):
            name = args.thread.name if args.thread is not None else "?"
            with self._guard:
                self._found.append(f"thread {name} died: {args.exc_value!r}")
        self._previous_thread_hook(args)

    def _unraisable_hook(self, unraisable: Any) -> None:
        with self._guard:
            self._found.append(f"unraisable in {unraisable.object!r}: {unraisable.exc_value!r}")
        self._previous_unraisable_hook(unraisable)

    def install(self) -> None:
        for name in _WATCHED:
            logging.getLogger(name).addHandler(self)
        self._previous_thread_hook = threading.excepthook
        threading.excepthook = self._thread_hook
        self._previous_unraisable_hook = sys.unraisablehook
        sys.unraisablehook = self._unraisable_hook

    def uninstall(self) -> None:
        for name in _WATCHED:
            logging.getLogger(name).removeHandler(self)
        if threading.excepthook == self._thread_hook:
            threading.excepthook = self._previous_thread_hook
        if sys.unraisablehook == self._unraisable_hook:
            sys.unraisablehook = self._previous_unraisable_hook

    def found(self) -> list[str]:
        with self._guard:
            return list(self._found)
