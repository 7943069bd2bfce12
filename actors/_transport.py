"""The transport between the runtime and a radio host: frames over one socket.

One small interface (``post`` frames, get frames back through a callback, learn when the
other side is gone) with one implementation today: a stream socket driven by each side's
event loop. Frames are the typed values of ``blerun.messages.host``; the frames posted
during one loop iteration go out as one pickled batch, one write, so a burst of
notifications costs one pickle and one syscall, not one each. Writes never block the
loop: a peer that stops reading (frozen) makes the buffer grow until the supervisor kills
it. A broker between hosts would carry the same frames behind the same interface.

``RemoteRef`` stands for an actor on the other side: a slot attached to one delivers by
posting a ``Tell`` frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import socket
import threading
from collections.abc import Callable
from typing import Any

import pykka

from blerun.messages import Recipient
from blerun.messages.host import Tell

log = logging.getLogger(__name__)

_HEADER = 4
_MAX_FRAME = 1 << 30


class FrameStream:
    """Batches of frames over one socket, on one event loop; see the module docstring."""

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        on_frames: Callable[[list[Any]], None],
        on_closed: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._on_frames = on_frames
        self._on_closed = on_closed
        self._outbox: list[Any] = []
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._closed = False
        self.sent_batches = 0
        self.sent_bytes = 0
        self._lock = threading.Lock()  # post() comes from any thread

    def start(self) -> None:
        """On the loop: open the stream and start reading."""
        self._reader_task = self._loop.create_task(self._serve(), name="blerun-frames")

    async def _serve(self) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=self._sock)
        except OSError:
            self._gone()
            return
        self._writer = writer
        self._flush()  # what was posted before the stream was open
        try:
            while True:
                header = await reader.readexactly(_HEADER)
                size = int.from_bytes(header, "big")
                if size > _MAX_FRAME:
                    raise ConnectionError(f"frame of {size} bytes")
                frames = pickle.loads(await reader.readexactly(size))
                self._on_frames(frames)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:  # a frame that cannot be handled ends the stream, loudly
            log.exception("a frame from the other side could not be handled; stream closed")
        finally:
            self._gone()

    def _gone(self) -> None:
        if not self._closed:
            self._closed = True
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.close()
            self._on_closed()

    def post(self, frame: Any) -> None:
        """Send ``frame`` with the others of this loop iteration. Any thread; never blocks."""
        with self._lock:
            if self._closed:
                return
            first = not self._outbox
            self._outbox.append(frame)
        if first:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing goes out
                self._loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        writer = self._writer
        if writer is None:
            return  # sent once the stream is open
        with self._lock:
            frames, self._outbox = self._outbox, []
        if not frames or self._closed:
            return
        data = pickle.dumps(frames, protocol=pickle.HIGHEST_PROTOCOL)
        writer.write(len(data).to_bytes(_HEADER, "big") + data)
        self.sent_batches += 1
        self.sent_bytes += len(data)

    @property
    def backlog(self) -> int:
        """Bytes written but not yet taken by the other side."""
        writer = self._writer
        return writer.transport.get_write_buffer_size() if writer is not None else 0

    def close(self) -> None:
        """On the loop: stop reading and writing (the other side sees end of stream)."""
        task = self._reader_task
        if task is not None and not task.done():
            task.cancel()
        else:
            self._gone()


class RemoteRef:
    """An actor on the other side of a ``FrameStream``, as a slot sees it."""

    __slots__ = ("_alive", "_stream", "recipient")

    def __init__(self, stream: FrameStream, recipient: Recipient) -> None:
        self._stream = stream
        self.recipient = recipient
        self._alive = True

    def tell(self, message: object) -> None:
        if not self._alive:
            raise pykka.ActorDeadError(f"{self.recipient} is gone")
        self._stream.post(Tell(recipient=self.recipient, message=message))

    def is_alive(self) -> bool:
        return self._alive

    def die(self) -> None:
        """The other side is gone: mail for this actor waits in its slot from now on."""
        self._alive = False
