"""The RadioActor's operation table: what runs on the loop now, and what waits for the link.

An operation (a read, a write, a notify start or stop) is either running on the loop (it
has a future, and its completion will come back as ``OpDone`` with its id) or parked: a
retrying read or write that waits for the link to come back, with an expiry timer that
fails it at the caller's timeout. This table only keeps them; the actor decides.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
from typing import Any

from blerun.actors._clock import Timer
from blerun.messages import Read, StartNotify, StopNotify, Write

Command = Read | Write | StartNotify | StopNotify


@dataclasses.dataclass(slots=True)
class Op:
    """An operation in flight on the loop, or parked until the link is back."""

    request_id: int | None
    command: Command
    future: concurrent.futures.Future[Any] | None = None
    expiry: Timer | None = None

    @property
    def retries(self) -> bool:
        """A read or write that waits out link losses."""
        return isinstance(self.command, Read | Write) and self.command.retry


class OperationTable:
    """Running and parked operations of one device; see the module docstring."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._running: dict[int, Op] = {}
        self._parked: list[Op] = []

    def new_id(self) -> int:
        return next(self._ids)

    def track(self, op_id: int, op: Op, future: concurrent.futures.Future[Any]) -> None:
        """``op`` runs on the loop as ``op_id``."""
        op.future = future
        self._running[op_id] = op

    def finish(self, op_id: int) -> Op | None:
        """The op that completed, or ``None`` if it was already answered (session over)."""
        return self._running.pop(op_id, None)

    def abort_running(self) -> list[Op]:
        """Cancel everything running (the link is gone); returns the ops to answer."""
        ops, self._running = list(self._running.values()), {}
        for op in ops:
            if op.future is not None:
                op.future.cancel()
                op.future = None
        return ops

    def park(self, op: Op, expiry: Timer | None) -> None:
        op.future, op.expiry = None, expiry
        self._parked.append(op)

    def unpark_all(self) -> list[Op]:
        """Take every parked op (the link is back, or the wish is gone)."""
        parked, self._parked = self._parked, []
        for op in parked:
            if op.expiry is not None:
                op.expiry.cancel()
                op.expiry = None
        return parked

    def expire(self, request_id: int) -> Op | None:
        """Take the parked op of ``request_id`` (its caller's time ran out)."""
        for op in self._parked:
            if op.request_id == request_id:
                self._parked.remove(op)
                return op
        return None

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def parked(self) -> int:
        return len(self._parked)
