"""The RadioActor's parts, and how it gets a link up: connect requests, attempts and their
completions, deadlines, giving up.

``ConnectFlow`` is the RadioActor's base: it builds the parts the actor owns (``RadioState``,
the ``Connector``, the ``OpRunner`` over an ``OperationTable``) and holds the attempt in
flight or the session that is up. ``RadioActor`` (``_radio.py``) adds the dispatch, the
link going down, and operations. Every completion is checked against the state_version it
started under, so one that arrives after the world moved on changes nothing.
"""

from __future__ import annotations

from blerun.actors._actor_base import DeviceActor, GroupContext
from blerun.actors._attempt import Attempt, Connector, Session
from blerun.actors._link import LinkOptions
from blerun.actors._loop import LoopBridge
from blerun.actors._operations import OperationTable
from blerun.actors._radio_ops import OpRunner
from blerun.actors._radio_state import RadioState, RadioWish
from blerun.actors._sink import SessionSink
from blerun.actors.errors import (
    BluetoothUnavailable,
    ConnectFailed,
    DeviceNotFound,
    Disconnected,
    GaveUp,
    InternalError,
)
from blerun.messages import (
    AttemptDeadline,
    AttemptDone,
    Connect,
    ConnectionState,
    GiveUp,
    Reason,
    Role,
)

S = ConnectionState
_CONNECTED = frozenset({S.CONNECTED})


class ConnectFlow(DeviceActor):
    """The RadioActor's parts and its connect flow; see the module docstring."""

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
