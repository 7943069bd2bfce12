"""Logs on stderr: warnings by default, structured records with ``-v`` / ``-vv``.

The runtime logs with its fields in ``extra`` (device, state_version, attempt, delay,
reason); they are printed as ``key=value`` after the message, or as JSON fields with
``--json``, so a log line can be grepped or parsed.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import sys
from collections.abc import Iterator
from typing import TextIO

from blerun.actors.errors import InjectedCrash

# What every LogRecord has; anything else on a record came in through ``extra``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class _Structured(logging.Formatter):
    def __init__(self, *, as_json: bool) -> None:
        super().__init__()
        self._as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        when = self.formatTime(record, "%H:%M:%S") + f".{int(record.msecs):03d}"
        if self._as_json:
            entry = {
                "time": when,
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
                **{k: _plain(v) for k, v in fields.items()},
            }
            if record.exc_info:
                entry["exception"] = self.formatException(record.exc_info)
            return json.dumps(entry)
        text = f"{when} {record.levelname.lower()} {record.name}: {record.getMessage()}"
        if fields:
            text += " " + " ".join(f"{k}={_plain(v)}" for k, v in fields.items())
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _plain(value: object) -> object:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


class _HideInjectedCrashes(logging.Filter):
    """Drops the tracebacks of actors crashed on purpose (``rt.crash``), unless verbose."""

    def filter(self, record: logging.LogRecord) -> bool:
        # The crash arrives as the record's exception or as one of its message arguments.
        carried: list[object] = [record.exc_info[1]] if record.exc_info else []
        if isinstance(record.args, tuple):
            carried += record.args
        return not any(isinstance(item, InjectedCrash) for item in carried)


@contextlib.contextmanager
def configured(verbosity: int, *, as_json: bool, stream: TextIO | None = None) -> Iterator[None]:
    """Log to stderr while the block runs: warnings and up, more with ``-v`` / ``-vv``.

    What it changes (the root logger's handlers and levels) is put back afterwards, so
    ``main()`` can run inside another program, or a test.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(_Structured(as_json=as_json))
    if verbosity == 0:
        handler.addFilter(_HideInjectedCrashes())
    levels = {0: logging.WARNING, 1: logging.INFO}
    changes = {
        "": levels[0],
        "blerun": levels.get(verbosity, logging.DEBUG),
        "bleak": logging.DEBUG if verbosity >= 2 else logging.NOTSET,
    }
    root = logging.getLogger()
    saved_handlers = root.handlers[:]
    saved_levels = {name: logging.getLogger(name).level for name in changes}
    root.handlers[:] = [handler]
    for name, level in changes.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        root.handlers[:] = saved_handlers
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
