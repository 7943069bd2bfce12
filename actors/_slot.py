"""A recipient's slot: the actor now serving it, or the mail kept for the next one.

Senders hold slots, not actor refs, so a message sent while an actor restarts (or before
it started) waits for its successor instead of being lost, and a group that is over
refuses mail at once (failing the caller, if the message was a request).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import pykka

from blerun.messages import Recipient

ActorRef = pykka.ActorRef[Any]


class Mailbox(Protocol):
    """What a slot delivers to: a pykka ``ActorRef``, or a stand-in for an actor in a
    radio host process (``RemoteRef``)."""

    def tell(self, message: Any) -> None: ...

    def is_alive(self) -> bool: ...


class ChildRef(Mailbox, Protocol):
    """A supervised child: a mailbox that can be asked to stop (``stop(block=False)``
    returns a pykka future the caller may wait on)."""

    def stop(self, block: bool = ..., timeout: float | None = ...) -> Any: ...


_SLOT_BUFFER = 10_000
"""Messages a slot keeps for an actor that is (re)starting; past it they are dead letters."""


class PostOffice(Protocol):
    """What a slot needs from the router."""

    def send(self, slot: Slot, message: object) -> None: ...

    def dead_letter(
        self, recipient: Recipient, message: object, error: BaseException | None
    ) -> None: ...


class Slot:
    """One recipient's address: the actor now serving it, or mail kept for the next one."""

    __slots__ = ("_buffer", "_closed", "_held", "_lock", "_router", "recipient", "ref")

    def __init__(self, router: PostOffice, recipient: Recipient) -> None:
        self._router = router
        self.recipient = recipient
        self.ref: Mailbox | None = None
        self._buffer: list[object] = []
        self._held: list[object] = []
        self._closed: BaseException | None = None
        # Mail is sent from every thread and the slot changes hands on restarts; the lock
        # guards the buffer and the ref swap (the slot is infrastructure, not an actor).
        self._lock = threading.Lock()

    def tell(self, message: object) -> None:
        """Send through the fault plan (if any)."""
        self._router.send(self, message)

    def deliver(self, message: object) -> None:
        """Hand ``message`` to the current actor, or keep it for the next one."""
        ref = self.ref
        if ref is not None:
            try:
                ref.tell(message)
                return
            except pykka.ActorDeadError:
                pass
        with self._lock:
            ref = self.ref
            if ref is not None and ref.is_alive():
                try:
                    ref.tell(message)
                    return
                except pykka.ActorDeadError:
                    pass
            if self._closed is None and len(self._buffer) < _SLOT_BUFFER:
                self._buffer.append(message)
                return
            closed = self._closed
        self._router.dead_letter(self.recipient, message, closed)

    def attach(self, ref: Mailbox) -> None:
        """``ref`` serves this recipient from now on; it gets the mail kept for it first."""
        with self._lock:
            self.ref = ref
            self._closed = None
            kept, self._buffer = self._buffer, []
            for message in kept:
                ref.tell(message)

    def detach(self, ref: Mailbox) -> None:
        """``ref`` no longer serves (it died or stops); mail waits for a successor."""
        with self._lock:
            if self.ref is ref:
                self.ref = None

    def close(self, error: BaseException) -> None:
        """No actor will serve this recipient again: fail what waits, refuse what comes."""
        with self._lock:
            self.ref = None
            self._closed = error
            kept, self._buffer = self._buffer, []
            kept += self._held
            self._held = []
        for message in kept:
            self._router.dead_letter(self.recipient, message, error)

    def hold(self, message: object) -> None:
        with self._lock:
            self._held.append(message)

    def release_held(self) -> None:
        with self._lock:
            held, self._held = self._held, []
        for message in held:
            self.deliver(message)

    def kept(self) -> int:
        """Messages waiting in the slot (buffered for a successor, or held back)."""
        with self._lock:
            return len(self._buffer) + len(self._held)
