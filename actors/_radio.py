"""RadioActor: owns one device's link, its state machine, and every operation on it.

It runs on the event loop bleak runs on, so it reaches bleak without a thread hop, yet it
never waits on I/O: each bleak call is a task, and its completion comes back as a message
tagged with the state_version (or session) it started under, so a ``Close`` or a
``LinkLost`` is handled while a connect hangs, and a completion that arrives after the
world moved on changes nothing. It is the only writer of the device's state.

Its parts are plain objects: ``RadioState`` (the guarded machine, its publication, the
wish, the parked callers), ``Connector`` (attempts, teardowns) and ``OpRunner`` over an
``OperationTable`` (running and parked operations); its base ``ConnectFlow``
(``_radio_connect.py``) builds them and gets the link up. This module keeps the dispatch,
the link going down (lost, disconnected, closed, handed over on a restart) and
operations.
"""

from __future__ import annotations

import logging
import typing
from typing import Any, assert_never

from blerun.actors._operations import Op
from blerun.actors._radio_connect import ConnectFlow
from blerun.actors._values import RadioStats
from blerun.actors.errors import Disconnected, NotConnected
from blerun.messages import (
    AttemptDeadline,
    AttemptDone,
    Close,
    Connect,
    ConnectionState,
    Disconnect,
    DisconnectDone,
    Drain,
    Escalate,
    GetServices,
    GetStats,
    GiveUp,
    LinkLost,
    OpDone,
    OpExpired,
    Poison,
    RadioCommand,
    Read,
    Reason,
    ReconnectDue,
    Resync,
    Role,
    StartNotify,
    StopNotify,
    WaitForState,
    Write,
)

log = logging.getLogger(__name__)

S = ConnectionState
_DOWN = frozenset({S.DISCONNECTED, S.FAILED, S.CLOSED})


class RadioActor(ConnectFlow):
    """One device's radio link; see the module docstring."""

    role = Role.RADIO
    accepts = typing.get_args(RadioCommand)

    def on_start(self) -> None:
        # A successor finds the state its predecessor published; the link it held is gone.
        st = self._state
        if st.escalated is not None:  # started only to end the group
            st.go(S.FAILED, Reason.ESCALATED, error=st.escalated)
        elif st.now in (S.CONNECTED, S.CONNECTING) and st.wants:
            st.go(S.RECONNECTING, Reason.RESTARTED)
        elif st.now is S.RECONNECTING and st.wants:
            # The retry its predecessor waited for may have died with it (in a radio host
            # that hung): try now; a failure schedules the next one as any failure does.
            self._start_attempt(Reason.RESTARTED, 0)
        elif st.now in (S.CONNECTED, S.CONNECTING, S.DISCONNECTING):
            st.go(S.DISCONNECTING, Reason.RESTARTED)
            st.go(S.DISCONNECTED, Reason.RESTARTED)

    def handle(self, msg: RadioCommand) -> None:
        st = self._state
        match msg:
            case Connect():
                self._on_connect(msg)
            case Disconnect():
                self._on_disconnect(msg)
            case Read() | Write():
                self._on_io(Op(request_id=msg.request_id, command=msg))
            case GetServices():
                session = self._session
                error = None if session else st.unavailable()
                self.router.reply(msg.request_id, session and session.services, error)
            case WaitForState():
                if st.now in msg.states:
                    self.router.reply(msg.request_id, st.now)
                elif st.now is S.CLOSED or st.escalated is not None:
                    self.router.reply(msg.request_id, error=st.unavailable())
                else:
                    st.park(msg.request_id, msg.states)
            case StartNotify() | StopNotify():
                self._run.notify_command(msg, self._session, st.now is S.CONNECTED)
            case Close():
                self._shutdown()
                st.go(S.CLOSED, Reason.CLOSED)
                self.router.reply(msg.request_id)
            case Escalate():
                st.escalated = msg.error
                self._shutdown()
                st.go(S.FAILED, Reason.ESCALATED, error=msg.error)
            case AttemptDone():
                self._on_attempt_done(msg)
            case AttemptDeadline():
                self._on_attempt_deadline(msg)
            case LinkLost():
                self._on_link_lost(msg)
            case DisconnectDone():
                if st.current(msg.version, S.DISCONNECTING):
                    st.go(S.DISCONNECTED, Reason.DISCONNECTED)
                    if st.wants:  # connect() was called while we were going down
                        self._start_attempt(Reason.USER_CONNECT, 0)
            case OpDone():
                session = self._session
                dead = self._run.done(msg, session, retry=st.wants)
                if dead and session is not None and msg.version == session.version:
                    # The link died and its disconnect callback never came (real stacks do
                    # that): an operation that found it dead stands in for it.
                    self._on_link_lost(LinkLost(link=session.link_version))
            case OpExpired():
                self._run.expire(msg.request_id, self._last_error)
            case ReconnectDue():
                if st.current(msg.version, S.RECONNECTING):
                    self._start_attempt(Reason.RETRY_DUE, msg.attempt)
            case GiveUp():
                self._on_give_up(msg)
            case Resync():
                self.ctx.slot(msg.peer).tell(st.last_event)
            case Drain():
                # What bleak handed over in this loop iteration is still in the sink: it
                # goes out first, so the barrier comes after it.
                if self._session is not None:
                    self._session.sink.flush()
                self.ctx.slot(Role.NOTIFY).tell(msg)
            case GetStats() | Poison():
                pass  # answered by the prologue (DeviceActor.on_receive)
            case _:
                assert_never(msg)

    # --- the link going down ------------------------------------------------------------

    def _on_link_lost(self, msg: LinkLost) -> None:
        attempt, session = self._attempt, self._session
        if attempt is not None and msg.link == attempt.version:
            attempt.early_loss = True  # the attempt's completion is still on its way
            return
        if session is None or msg.link != session.link_version:
            self._state.machine.stale += 1
            self.ctx.metrics.increment("state.stale_completions", tags=self.tags)
            return
        self._counts["links_lost"] += 1
        self.ctx.metrics.increment("link.lost", tags=self.tags)
        error = Disconnected(f"link to {self.address} was lost", address=self.address)
        self._last_error = error
        self._end_session(error, retry=self._state.wants)
        self._state.go(S.RECONNECTING, Reason.LINK_LOST, error=error)

    def _end_session(self, error: BaseException, *, retry: bool, tear: bool = True) -> None:
        """The link is gone: deliver what it brought, settle what ran on it, tear it down."""
        session, self._session = self._session, None
        if session is None:
            return
        session.sink.close()  # before any transition: what arrived is delivered first
        self._counts["received"] += session.sink.received
        self._run.end_session(error, retry=retry)
        if tear:
            self._connector.teardown(session.link)

    def _on_disconnect(self, msg: Disconnect) -> None:
        st = self._state
        state = st.now
        if state in (S.CONNECTED, S.CONNECTING, S.RECONNECTING, S.FAILED):
            st.set_wish(False)
            self._run.fail_parked(st.unavailable())
        if state in (S.CONNECTED, S.CONNECTING):
            st.park(msg.request_id, _DOWN)
            holder = self._attempt or self._session  # CONNECTING has one, CONNECTED the other
            assert holder is not None
            if self._attempt is not None:
                self._attempt.cancel()
                self._attempt = None
            self._end_session(NotConnected("disconnected on request"), retry=False, tear=False)
            st.go(S.DISCONNECTING, Reason.USER_DISCONNECT)
            self._connector.teardown(holder.link, then=DisconnectDone(version=st.version))
        elif state is S.DISCONNECTING:
            st.park(msg.request_id, _DOWN)
        else:
            if state in (S.RECONNECTING, S.FAILED):
                st.go(S.DISCONNECTED, Reason.USER_DISCONNECT)
            self.router.reply(msg.request_id)

    def _shutdown(self) -> None:
        """Cancel everything and start the teardown; never blocks."""
        self._state.wants = False
        attempt, self._attempt = self._attempt, None
        if attempt is not None:
            attempt.cancel()
            self._connector.teardown(attempt.link)
        error = self._state.escalated or self._state.closed()
        self._end_session(error, retry=False)
        self._run.fail_parked(error)

    def release(self, error: BaseException) -> None:
        st = self._state
        if st.now is S.CLOSED:
            return
        if st.escalated is not None:
            self._shutdown()
            st.lot.fail_all(error)
            return
        self._hand_over()

    def _hand_over(self) -> None:
        """Going away for a restart (a crash, or the group restarted together), not a close.

        What ran on the link without retry fails as the link does (``Disconnected``);
        retrying reads and writes, and the callers waiting for a state, pass to the
        successor as mail in this actor's slot.
        """
        lost = Disconnected(
            f"link to {self.address} was torn down: its radio actor restarted",
            address=self.address,
        )
        attempt, self._attempt = self._attempt, None
        if attempt is not None:
            attempt.cancel()
            self._connector.teardown(attempt.link)
        self._end_session(lost, retry=True)
        inbox, st = self.ctx.slot(Role.RADIO), self._state
        for op in self._ops.unpark_all():
            inbox.deliver(op.command)
        for parked in st.lot.snapshot():
            inbox.deliver(WaitForState(request_id=parked.request_id, states=parked.until))
        st.lot.clear()

    def on_failure(self, *exc_info: Any) -> None:
        # The wish and the waiting callers pass to the successor; what ran on the link fails.
        self._state.handover()
        super().on_failure(*exc_info)

    # --- operations ---------------------------------------------------------------------

    def _on_io(self, op: Op) -> None:
        st = self._state
        if st.now is S.CONNECTED:
            self._run.run(op, self._session)
        elif op.retries and st.wants and st.now in (S.CONNECTING, S.RECONNECTING):
            self._run.park(op)
        else:
            self.router.reply(op.request_id, error=st.unavailable())

    def statistics(self) -> RadioStats:
        session, machine = self._session, self._state.machine
        return RadioStats(
            connect_attempts=self._counts["attempts"],
            connect_successes=self._counts["successes"],
            links_lost=self._counts["links_lost"],
            refused_transitions=machine.refused,
            stale_completions=machine.stale,
            operations_in_flight=self._ops.running,
            operations_parked=self._ops.parked,
            waiters=len(self._state.lot),
            notifications_received=self._counts["received"]
            + (session.sink.received if session else 0),
        )
