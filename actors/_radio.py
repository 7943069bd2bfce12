"""RadioActor: owns one device's link, its state machine, and every operation on it.

It runs on the event loop bleak runs on, so it reaches bleak without a thread hop, yet it
never waits on I/O: each bleak call is a task, and its completion comes back as a message
tagged with the state_version (or session) it started under, so a ``Close`` or a
``LinkLost`` is handled while a connect hangs, and a completion that arrives after the
world moved on changes nothing. It is the only writer of the device's state.

Its parts are plain objects: ``RadioState`` (the guarded machine, its publication, the
wish, the parked callers), ``Connector`` (attempts, teardowns) and ``OpRunner`` over an
``OperationTable`` (running and parked operations). The actor keeps dispatch and decides
the transitions.
"""

from __future__ import annotations

import logging
import typing
from typing import Any, assert_never

from blerun.actors._actor_base import DeviceActor, GroupContext
from blerun.actors._attempt import Attempt, Connector, Session
from blerun.actors._link import LinkOptions
from blerun.actors._loop import LoopBridge
from blerun.actors._operations import Op, OperationTable
from blerun.actors._radio_ops import OpRunner
from blerun.actors._radio_state import RadioState, RadioWish
from blerun.actors._sink import SessionSink
from blerun.actors._values import RadioStats
from blerun.actors.errors import (
    BluetoothUnavailable,
    ConnectFailed,
    DeviceNotFound,
    Disconnected,
    GaveUp,
    InternalError,
    NotConnected,
)
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
_CONNECTED = frozenset({S.CONNECTED})
_DOWN = frozenset({S.DISCONNECTED, S.FAILED, S.CLOSED})


class RadioActor(DeviceActor):
    """One device's radio link; see the module docstring."""

    role = Role.RADIO
    accepts = typing.get_args(RadioCommand)

    def __init__(
        self,
        *,
        ctx: GroupContext,
        generation: int,
        link: LinkOptions,
        attempt_timeout: float,
        bridge: LoopBridge,
        wish: RadioWish | None,
    ) -> None:
        super().__init__(ctx=ctx, generation=generation)
        self._state = RadioState(ctx, wish, generation)
        me = ctx.slot(Role.RADIO)
        self._connector = Connector(
            address=self.address,
            options=link,
            attempt_timeout=attempt_timeout,
            bridge=bridge,
            clock=ctx.clock,
            inbox=me,
        )
        self._ops = OperationTable()
        self._run = OpRunner(ctx=ctx, bridge=bridge, ops=self._ops, inbox=me)
        self._attempt: Attempt | None = None
        self._session: Session | None = None
        self._last_error: BaseException | None = None
        self._counts = {"attempts": 0, "successes": 0, "links_lost": 0, "received": 0}

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

    # --- connecting -------------------------------------------------------------------

    def _on_connect(self, msg: Connect) -> None:
        st = self._state
        if st.now is S.CLOSED or st.escalated is not None:
            self.router.reply(msg.request_id, error=st.unavailable())
            return
        st.set_wish(True)
        if st.now is S.CONNECTED:
            self.router.reply(msg.request_id)
            return
        st.park(msg.request_id, _CONNECTED)
        if st.now in (S.DISCONNECTED, S.FAILED):
            self._start_attempt(Reason.USER_CONNECT, 0)
        # CONNECTING / RECONNECTING: already on it. DISCONNECTING: reconnects once down.

    def _start_attempt(self, reason: Reason, number: int) -> None:
        if self._state.go(S.CONNECTING, reason, attempt=number) is None:
            return
        self._counts["attempts"] += 1
        self.ctx.metrics.increment("connect.attempts", tags=self.tags)
        self._attempt = self._connector.start(version=self._state.version, number=number)

    def _on_attempt_done(self, msg: AttemptDone) -> None:
        attempt = self._attempt
        if attempt is None or not self._state.current(msg.version, S.CONNECTING):
            return  # an abandoned attempt; its link was torn down when it was abandoned
        self._attempt = None
        attempt.stop_timer()
        error = msg.error
        if error is None and attempt.early_loss:
            error = Disconnected(f"link to {self.address} dropped right after connecting")
        if error is not None or msg.services is None:
            self._attempt_failed(attempt, error or InternalError("attempt ended without services"))
            return
        event = self._state.go(
            S.CONNECTED, Reason.CONNECTED, attempt=msg.attempt, services=msg.services
        )
        if event is None:
            return
        metrics, tags = self.ctx.metrics, self.tags
        sink = SessionSink(
            session=event.version,
            send=self.ctx.slot(Role.NOTIFY).tell,
            now=self.ctx.clock.now,
            loop=self.loop,
            count=lambda n: metrics.increment("notifications.received", n, tags=tags),
        )
        self._session = Session(event.version, attempt.version, attempt.link, msg.services, sink)
        self._counts["successes"] += 1
        self.ctx.metrics.increment("connect.successes", tags=self.tags)
        for op in self._ops.unpark_all():
            self._run.run(op, self._session)

    def _attempt_failed(self, attempt: Attempt, error: BaseException) -> None:
        st = self._state
        self._last_error = error
        self._connector.teardown(attempt.link)
        if isinstance(error, BluetoothUnavailable):
            # Retrying cannot fix it: fail now, with the cause, instead of at a timeout.
            st.set_wish(False)
            self._run.fail_parked(error)
            st.go(S.FAILED, Reason.UNAVAILABLE, attempt=attempt.number, error=error)
            return
        if isinstance(error, DeviceNotFound) and attempt.number == 0:
            # connect() says so at once; the wish stands, reconnection keeps trying.
            st.lot.fail_all(error, where=_CONNECTED)
        st.go(S.RECONNECTING, Reason.CONNECT_FAILED, attempt=attempt.number, error=error)

    def _on_attempt_deadline(self, msg: AttemptDeadline) -> None:
        attempt = self._attempt
        if attempt is None or not self._state.current(msg.version, S.CONNECTING):
            return
        self._attempt = None
        attempt.cancel()
        seconds = self._connector.timeout
        error = ConnectFailed(
            f"connection attempt to {self.address} took longer than {seconds:g} s",
            address=self.address,
        )
        self._last_error = error
        self._connector.teardown(attempt.link)
        self._state.go(S.RECONNECTING, Reason.ATTEMPT_TIMEOUT, attempt=attempt.number, error=error)

    def _on_give_up(self, msg: GiveUp) -> None:
        if not self._state.current(msg.version, S.RECONNECTING):
            return
        error = GaveUp(
            f"gave up on {self.address} after {msg.attempt} reconnection attempts",
            attempts=msg.attempt,
            address=self.address,
        )
        error.__cause__ = msg.error or self._last_error
        self._state.set_wish(False)
        self._run.fail_parked(error)
        self._state.go(S.FAILED, Reason.GAVE_UP, attempt=msg.attempt, error=error)

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
