"""``LoopActor``: a pykka actor whose messages are handled on an asyncio event loop.

pykka keeps the actor model (refs, the registry, ``tell``/``ask``, proxies, the stop
protocol, ``on_start``/``on_stop``/``on_failure``) apart from how an actor is run: an
implementation supplies an inbox, a future type and a way to start its loop, as pykka's
``ThreadingActor`` does with a thread and a ``queue.Queue``. Here the inbox is a deque
drained by loop callbacks, so an actor costs no thread: a thousand devices' actors are a
thousand small objects on one loop, and an actor that talks to bleak (which runs on that
loop) reaches it without a thread hop.

One message at a time, in order, as with any pykka actor. A drain handles at most
``_BUDGET`` messages before yielding to the loop, so bleak's I/O and other actors run
between. Never ``ask(...).get()`` from the loop itself: it would wait for the loop.

When the actor dies (an exception while handling a ``tell``), the mail still in its inbox,
and any mail that reaches it afterwards, is handed to ``forward`` (the router keeps it for
a successor) instead of being lost.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

import pykka
from pykka._envelope import Envelope

log = logging.getLogger(__name__)

_BUDGET = 64
"""Messages handled per loop callback before yielding."""

Forward = Callable[[Any], None]


class LoopInbox:
    """pykka's inbox protocol (``put``/``get``/``empty``) over a deque, drained on a loop."""

    __slots__ = ("_drain", "_forward", "_loop", "_loop_thread", "_mail", "_scheduled")

    def __init__(self) -> None:
        self._mail: collections.deque[Envelope[Any]] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain: Callable[[], None] | None = None
        self._forward: Forward | None = None
        self._loop_thread: int | None = None  # learned on the first drain
        # True while a drain is scheduled or running; cleared only by the drain itself,
        # and re-checked after clearing, so mail is never stranded between threads.
        self._scheduled = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    def bind(self, loop: asyncio.AbstractEventLoop, drain: Callable[[], None]) -> None:
        self._loop, self._drain = loop, drain
        self._scheduled = True
        self._call_soon(drain)

    def put(self, envelope: Envelope[Any], /) -> None:
        self._mail.append(envelope)
        if self._forward is not None:  # died meanwhile: the successor gets it
            self._flush_forward()
            return
        if self._scheduled or self._drain is None:
            return
        self._scheduled = True
        self._call_soon(self._drain)

    def _call_soon(self, drain: Callable[[], None]) -> None:
        loop = self._loop
        assert loop is not None
        if threading.get_ident() == self._loop_thread:
            # From the loop itself (most mail: other actors, bleak's callbacks): no need
            # to wake the loop through its self-pipe.
            loop.call_soon(drain)
            return
        try:
            loop.call_soon_threadsafe(drain)
        except RuntimeError:  # the loop is closed: the runtime is gone
            log.debug("mail for an actor whose loop is closed is dropped")

    def get(self) -> Envelope[Any]:
        return self._mail.popleft()

    def empty(self) -> bool:
        return not self._mail

    def on_loop(self) -> None:
        """Called by the drain: remember which thread runs the loop."""
        self._loop_thread = threading.get_ident()

    def take(self) -> Envelope[Any] | None:
        """On the loop: the next envelope, or ``None`` (and unscheduled) when none is left."""
        try:
            return self._mail.popleft()
        except IndexError:
            pass
        self._scheduled = False
        try:
            envelope = self._mail.popleft()  # a put that raced with the line above
        except IndexError:
            return None
        self._scheduled = True
        return envelope

    def reschedule(self) -> None:
        """On the loop: yield, and continue the drain on a later iteration."""
        assert self._loop is not None and self._drain is not None
        self._loop.call_soon(self._drain)

    def die(self, forward: Forward) -> None:
        """From now on, hand mail (present and future) to ``forward``."""
        self._forward = forward
        self._flush_forward()

    def _flush_forward(self) -> None:
        forward = self._forward
        assert forward is not None
        while True:
            try:
                envelope = self._mail.popleft()
            except IndexError:
                return
            if envelope.reply_to is not None:
                envelope.reply_to.set_exception(
                    exc_info=(pykka.ActorDeadError, pykka.ActorDeadError("actor died"), None)
                )
            elif not isinstance(envelope.message, pykka.messages._ActorStop):
                forward(envelope.message)


class LoopActor(pykka.Actor):
    """A pykka actor run by loop callbacks instead of a thread; see the module docstring."""

    def __init__(self, *, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop
        self._began = False
        self._current: object = None
        """The message being handled, so a crash can answer its caller."""

    @staticmethod
    def _create_actor_inbox() -> LoopInbox:
        return LoopInbox()

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return pykka.ThreadingFuture()

    def _start_actor_loop(self) -> None:
        inbox = self.actor_inbox
        assert isinstance(inbox, LoopInbox)
        inbox.bind(self._loop, self._drain)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def _drain(self) -> None:
        inbox = self.actor_inbox
        assert isinstance(inbox, LoopInbox)
        if not self._began:
            self._began = True
            inbox.on_loop()
            self._actor_loop_setup()
        for _ in range(_BUDGET):
            if self.actor_stopped.is_set():
                self._finish(inbox)
                return
            envelope = inbox.take()
            if envelope is None:
                return
            self._handle(envelope)
        if self.actor_stopped.is_set():
            self._finish(inbox)
        else:
            inbox.reschedule()

    def _handle(self, envelope: Envelope[Any]) -> None:
        self._current = envelope.message
        try:
            response = self._handle_receive(envelope.message)
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)
        except Exception:  # noqa: BLE001 -- pykka's contract: the asker or on_failure gets it
            if envelope.reply_to is not None:
                envelope.reply_to.set_exception()
            else:
                self._handle_failure(*sys.exc_info())
                try:
                    self.on_failure(*sys.exc_info())
                except Exception:  # noqa: BLE001 -- pykka's own rule: log, the actor is dead anyway
                    self._handle_failure(*sys.exc_info())
        except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
            # Not a message's failure but the loop thread's (or its task's) end: stop this
            # actor and let the loop's owner see it.
            self._stop()
            raise
        finally:
            self._current = None

    def _finish(self, inbox: LoopInbox) -> None:
        # The pykka stop protocol: answer pending asks, drop the rest. A crashed actor's
        # mail was already forwarded by on_failure (``inbox.die``).
        while not inbox.empty():
            envelope = inbox.get()
            if envelope.reply_to is None:
                continue
            if isinstance(envelope.message, pykka.messages._ActorStop):
                envelope.reply_to.set(None)
            else:
                envelope.reply_to.set_exception(
                    exc_info=(
                        pykka.ActorDeadError,
                        pykka.ActorDeadError(f"{self} stopped before handling the message"),
                        None,
                    )
                )

    def forward_mail(self, forward: Forward) -> None:
        """Hand every message left in the inbox, and any that comes later, to ``forward``."""
        inbox = self.actor_inbox
        assert isinstance(inbox, LoopInbox)
        inbox.die(forward)


def on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the caller runs on ``loop``'s thread (with ``loop`` running)."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def abandon_actors_of(loop: asyncio.AbstractEventLoop) -> int:
    """Give up on the loop actors of ``loop``, which will never run again (stopped).

    Each is unregistered and marked stopped, so nothing waits for it or sends to it.
    Returns how many there were.
    """
    count = 0
    for ref in pykka.ActorRegistry.get_all():
        inbox = ref.actor_inbox
        if isinstance(inbox, LoopInbox) and inbox.loop is loop:
            pykka.ActorRegistry.unregister(ref)
            ref.actor_stopped.set()
            count += 1
    return count
