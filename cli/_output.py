"""Where the command's output goes: lines, JSON, rich tables, and a spinner on stderr.

Every write is flushed (a script reading a pipe sees each line when it happens) and a
reader that went away (``blerun monitor ... | head``) becomes ``OutputClosed``, which
the command turns into a quiet exit instead of a ``BrokenPipeError`` traceback.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from rich.console import Console, RenderableType

from blerun.gatt import short_uuid, uuid_name


class OutputClosed(Exception):
    """The reader of the command's output went away."""


class Output:
    """The command's stdout (results) and stderr (progress), human or JSON.

    Args:
        json_mode: Write JSON (a document, or JSON lines) instead of text and tables.
        stdout: Where results go.
        stderr: Where progress goes (a spinner, only on a terminal).
    """

    def __init__(
        self, *, json_mode: bool, stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.json_mode = json_mode
        self._stdout = stdout if stdout is not None else sys.stdout
        # User data (device names) must never be read as rich markup. Off a terminal,
        # tables get 120 columns rather than rich's 80, so no header is cut.
        self.console = Console(
            file=self._stdout, markup=False, highlight=False, emoji=False, soft_wrap=True
        )
        if not self.console.is_terminal:
            self.console.width = max(self.console.width, 120)
        self._progress = Console(
            file=stderr if stderr is not None else sys.stderr, markup=False, highlight=False
        )

    @property
    def interactive(self) -> bool:
        """Whether a person watches: stdout is a terminal and the output is not JSON."""
        return self.console.is_terminal and not self.json_mode

    def line(self, text: str) -> None:
        """One line of text."""
        with self._guard():
            self._stdout.write(text + "\n")
            self._stdout.flush()

    def record(self, value: Any) -> None:
        """One JSON line (streaming output)."""
        self.line(json.dumps(value, separators=(",", ":")))

    def document(self, value: Any) -> None:
        """One JSON document (a verb's whole result)."""
        self.line(json.dumps(value, indent=2))

    def show(self, renderable: RenderableType) -> None:
        """A rich renderable (a table), as text when stdout is not a terminal."""
        with self._guard():
            self.console.print(renderable)
            self._stdout.flush()

    @contextlib.contextmanager
    def progress(self, text: str) -> Iterator[None]:
        """A spinner with ``text`` on stderr while the block runs, on a terminal only."""
        if self.json_mode or not self._progress.is_terminal:
            yield
            return
        with self._progress.status(text):
            yield

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except BrokenPipeError:
            raise OutputClosed from None


def timestamp() -> str:
    """Local wall-clock time with milliseconds, for streamed lines."""
    return datetime.datetime.now().astimezone().strftime("%H:%M:%S.%f")[:-3]


def iso_timestamp() -> str:
    """Wall-clock time as ISO 8601 with the UTC offset, for JSON records."""
    return datetime.datetime.now().astimezone().isoformat(timespec="milliseconds")


def uuid_label(uuid: str) -> str:
    """``2a37 (Heart Rate Measurement)``: the short UUID and, if known, its name."""
    name = uuid_name(uuid)
    return f"{short_uuid(uuid)} ({name})" if name else short_uuid(uuid)


def render_payload(data: bytes, form: str) -> str:
    """``data`` as spaced hex (``hex``) or as text with escapes (``utf8``)."""
    if form == "utf8":
        text = data.decode("utf-8", errors="backslashreplace")
        # One notification stays on one line.
        return text.replace("\n", "\\n").replace("\r", "\\r")
    return data.hex(" ")


def text_or_none(data: bytes) -> str | None:
    """``data`` as UTF-8 text for JSON output, or ``None`` when it is not printable text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = all(c.isprintable() or c in "\t\r\n" for c in text)
    return text if text and printable else None
