"""The RadioActor's operations: run them on the session, park retries, settle completions.

A plain object the RadioActor owns and calls from its handlers (so on its loop, one
message at a time). Reads and writes are checked against the session's services with the
one capability check; a retrying read or write waits out link losses, parked until the
link is back or its caller's time runs out. Notify starts and stops keep exactly one
backend subscription per characteristic per session.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any

from blerun.actors._actor_base import GroupContext
from blerun.actors._attempt import Session, outcome
from blerun.actors._capability import check_op, write_op
from blerun.actors._loop import LoopBridge
from blerun.actors._operations import Op, OperationTable
from blerun.actors._slot import Slot
from blerun.actors.errors import BleRuntimeError, Disconnected, NotConnected, OperationTimeout
from blerun.messages import (
    GattOp,
    IoSucceeded,
    NotifyStarted,
    OpDone,
    OpExpired,
    Read,
    Role,
    StartNotify,
    StopNotify,
    Write,
)


class OpRunner:
    """See the module docstring."""

    def __init__(
        self, *, ctx: GroupContext, bridge: LoopBridge, ops: OperationTable, inbox: Slot
    ) -> None:
        self._ctx = ctx
        self._address = ctx.address
        self._bridge = bridge
        self._ops = ops
        self._inbox = inbox
        self._notify = ctx.slot(Role.NOTIFY)
        self._reconnect = ctx.slot(Role.RECONNECT)

    def _reply(
        self, request_id: int | None, value: object = None, error: BaseException | None = None
    ) -> None:
        self._ctx.router.reply(request_id, value, error)

    def run(self, op: Op, session: Session | None) -> None:
        """Start ``op`` on the session's link now (or answer why it cannot run)."""
        if session is None:
            self._reply(op.request_id, error=NotConnected(f"{self._address} is not connected"))
            return
        command, link = op.command, session.link
        coro: Callable[[], Coroutine[Any, Any, Any]]
        try:
            match command:
                case Read():
                    check_op(session.services, GattOp.READ, command.uuid, address=self._address)
                    uuid = command.uuid
                    coro = lambda: link.read(uuid)  # noqa: E731
                case Write():
                    check_op(
                        session.services,
                        write_op(command.response),
                        command.uuid,
                        address=self._address,
                        payload=command.data,
                    )
                    uuid, data, response = command.uuid, command.data, command.response
                    coro = lambda: link.write(uuid, data, response)  # noqa: E731
                case StartNotify():
                    check_op(
                        session.services, GattOp.SUBSCRIBE, command.uuid, address=self._address
                    )
                    uuid, push = command.uuid, session.sink.push
                    coro = lambda: link.start_notify(uuid, push)  # noqa: E731
                case StopNotify():
                    uuid = command.uuid
                    coro = lambda: link.stop_notify(uuid)  # noqa: E731
        except BleRuntimeError as problem:
            self._settle(op, problem)
            return
        op_id, version, inbox = self._ops.new_id(), session.version, self._inbox

        def done(future: concurrent.futures.Future[Any]) -> None:
            value, error = outcome(future)
            inbox.tell(OpDone(op_id=op_id, version=version, value=value, error=error))

        self._ops.track(op_id, op, self._bridge.submit(coro, done))

    def _settle(self, op: Op, error: BaseException | None, value: object = None) -> None:
        command = op.command
        if isinstance(command, StartNotify):
            self._notify.tell(
                NotifyStarted(uuid=command.uuid, session=command.session, error=error)
            )
        else:
            self._reply(op.request_id, value, error)

    def park(self, op: Op) -> None:
        """Keep a retrying read or write until the link is back (or its time is up)."""
        command = op.command
        assert isinstance(command, Read | Write)
        expired, inbox = OpExpired(request_id=command.request_id), self._inbox
        timer = self._ctx.clock.call_later(
            command.timeout, lambda: inbox.tell(expired), label="OpExpired"
        )
        self._ops.park(op, timer)

    def expire(self, request_id: int, last_error: BaseException | None) -> None:
        op = self._ops.expire(request_id)
        if op is None:
            return
        command = op.command
        assert isinstance(command, Read | Write)
        suffix = f"; last error: {last_error}" if last_error is not None else ""
        error = OperationTimeout(
            f"{self._address} did not reconnect within {command.timeout:g} s{suffix}",
            timeout=command.timeout,
            address=self._address,
        )
        error.__cause__ = last_error
        self._reply(op.request_id, error=error)

    def fail_parked(self, error: BaseException) -> None:
        for op in self._ops.unpark_all():
            self._reply(op.request_id, error=error)

    def end_session(self, error: BaseException, *, retry: bool) -> None:
        """The link is gone: park what retries, answer the rest."""
        for op in self._ops.abort_running():
            if op.retries and retry:
                self.park(op)
            elif isinstance(op.command, StopNotify):
                self._reply(op.request_id)  # notifications end with the link anyway
            elif not isinstance(op.command, StartNotify):
                self._reply(op.request_id, error=error)

    def done(self, msg: OpDone, session: Session | None, *, retry: bool) -> bool:
        """Settle a completion; True if it says the current link is dead."""
        op = self._ops.finish(msg.op_id)
        if op is None:
            return False  # already answered when its session ended
        command = op.command
        if isinstance(command, StartNotify):
            if msg.error is not None and session is not None:
                session.notifying.discard(command.uuid)
            self._settle(op, msg.error)
            return False
        if isinstance(command, StopNotify) or msg.error is None:
            self._reply(op.request_id, msg.value, msg.error)
            if msg.error is None and not isinstance(command, StopNotify):
                self._reconnect.tell(IoSucceeded(version=msg.version))
            return False
        if op.retries and retry and isinstance(msg.error, Disconnected):
            self.park(op)
        else:
            self._reply(op.request_id, error=msg.error)
        return isinstance(msg.error, Disconnected)

    def notify_command(
        self, msg: StartNotify | StopNotify, session: Session | None, up: bool
    ) -> None:
        """Exactly one backend subscription per characteristic per session."""
        current = up and session is not None and msg.session == session.version
        if isinstance(msg, StartNotify):
            if not current or session is None:
                return  # for a session that is over; the next CONNECTED re-applies it
            if msg.uuid in session.notifying:  # asked again (a restarted peer): it is on
                self._notify.tell(NotifyStarted(uuid=msg.uuid, session=msg.session, error=None))
                return
            session.notifying.add(msg.uuid)
        else:
            if not current or session is None or msg.uuid not in session.notifying:
                self._reply(msg.request_id)  # nothing is registered on the backend
                return
            session.notifying.discard(msg.uuid)
        self.run(Op(request_id=getattr(msg, "request_id", None), command=msg), session)
