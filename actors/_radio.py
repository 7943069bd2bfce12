"""RadioActor: owns the bleak link, the state machine and every in-flight operation.

It never blocks its mailbox on I/O: each bleak call is a coroutine handed to the loop
bridge, and its completion comes back as a message tagged with the state_version (or the
session) it started under, so a Close or a LinkLost is handled while a connect hangs,
and a completion that arrives after the world moved on changes nothing.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import logging
import typing
from collections.abc import Callable, Coroutine
from typing import Any, assert_never

import pykka

from blerun.actors._clock import Clock, Timer
from blerun.actors._errors import (
    CharacteristicNotFound,
    ConnectFailed,
    Disconnected,
    GaveUp,
    InjectedCrash,
    InternalError,
    NotConnected,
    NotSupported,
    OperationTimeout,
    PayloadTooLong,
    RuntimeClosed,
)
from blerun.actors._link import MAX_ATTRIBUTE_LENGTH, BleakLink
from blerun.actors._loop import LoopBridge
from blerun.actors._metrics import Metrics
from blerun.actors._options import DeviceOptions
from blerun.actors._router import Router
from blerun.actors._state import StateMachine
from blerun.messages import (
    Address,
    AttemptDeadline,
    AttemptDone,
    Checkpoint,
    ChildFailed,
    Close,
    Connect,
    ConnectionState,
    Disconnect,
    DisconnectDone,
    GetServices,
    GetStats,
    GiveUp,
    IoSucceeded,
    LinkLost,
    NotifyStarted,
    OpDone,
    OpExpired,
    Poison,
    RadioCommand,
    RawNotification,
    Read,
    Reason,
    ReconnectDue,
    Resync,
    Role,
    ServicesSnapshot,
    StartNotify,
    StateChanged,
    StopNotify,
    WaitForState,
    Write,
)

log = logging.getLogger(__name__)

S = ConnectionState
_ACCEPTS = typing.get_args(RadioCommand)


@dataclasses.dataclass(frozen=True, slots=True)
class RadioCheckpoint:
    """What survives a RadioActor restart: the version to continue from, and the wish."""

    version: int
    wants_connected: bool
    connect_waiters: tuple[int, ...] = ()
    """Callers still waiting in connect(); the successor answers them."""


@dataclasses.dataclass(slots=True)
class _Op:
    """An operation in flight on the loop, or parked until the link is back."""

    request_id: int | None
    command: Read | Write | StartNotify | StopNotify
    future: concurrent.futures.Future[Any] | None = None
    expiry: Timer | None = None


class RadioActor(pykka.ThreadingActor):
    """One device's radio link; see the module docstring."""

    use_daemon_thread = True

    def __init__(
        self,
        *,
        options: DeviceOptions,
        router: Router,
        bridge: LoopBridge,
        clock: Clock,
        metrics: Metrics,
        checkpoint: RadioCheckpoint | None,
        generation: int,
    ) -> None:
        super().__init__()
        self._opt = options
        self._device = options.device
        self._router = router
        self._bridge = bridge
        self._clock = clock
        self._metrics = metrics
        self._generation = generation
        self._tags = {"device": self._device}
        self._me = Address(device=self._device, role=Role.RADIO)
        self._notify = Address(device=self._device, role=Role.NOTIFY)
        self._reconnect = Address(device=self._device, role=Role.RECONNECT)
        self._supervisor = Address(device="", role=Role.SUPERVISOR)

        self._sm = StateMachine(
            self._device, metrics, version=checkpoint.version if checkpoint else 0
        )
        self._wants = checkpoint.wants_connected if checkpoint else False
        self._restarted = checkpoint is not None
        self._last_event: StateChanged | None = None

        self._link: BleakLink | None = None
        self._link_version: int | None = None
        self._attempt = 0
        self._attempt_future: concurrent.futures.Future[ServicesSnapshot] | None = None
        self._attempt_timer: Timer | None = None
        self._early_loss = False
        self._last_error: BaseException | None = None

        self._session: int | None = None
        self._services: ServicesSnapshot | None = None
        self._notifying: set[str] = set()
        self._op_ids = itertools.count(1)
        self._ops: dict[int, _Op] = {}
        self._parked: list[_Op] = []

        self._connect_waiters: list[int] = list(checkpoint.connect_waiters) if checkpoint else []
        self._disconnect_waiters: list[int] = []
        self._state_waiters: list[WaitForState] = []
        self._counts = {"attempts": 0, "successes": 0, "give_ups": 0, "links_lost": 0}

    # --- dispatch ---------------------------------------------------------------------

    def on_receive(self, message: Any) -> None:
        if not isinstance(message, _ACCEPTS):
            log.warning("RadioActor ignores %r", message, extra={"device": self._device})
            return
        msg: RadioCommand = message
        match msg:
            case Connect():
                self._on_connect(msg)
            case Disconnect():
                self._on_disconnect(msg)
            case Read() | Write():
                self._on_io(msg)
            case GetServices():
                self._on_get_services(msg)
            case WaitForState():
                self._on_wait(msg)
            case StartNotify():
                self._on_start_notify(msg)
            case StopNotify():
                self._on_stop_notify(msg)
            case Close():
                self._on_close(msg)
            case AttemptDone():
                self._on_attempt_done(msg)
            case AttemptDeadline():
                self._on_attempt_deadline(msg)
            case LinkLost():
                self._on_link_lost(msg)
            case DisconnectDone():
                self._on_disconnect_done(msg)
            case OpDone():
                self._on_op_done(msg)
            case OpExpired():
                self._on_op_expired(msg)
            case ReconnectDue():
                self._on_reconnect_due(msg)
            case GiveUp():
                self._on_give_up(msg)
            case GetStats():
                self._router.reply(msg.request_id, self._stats())
            case Resync():
                self._on_resync()
            case Poison():
                raise InjectedCrash(f"RadioActor poisoned: {msg.note}", device=self._device)
            case _:
                assert_never(msg)

    # --- transitions ------------------------------------------------------------------

    def _go(
        self,
        new: ConnectionState,
        reason: Reason,
        *,
        attempt: int = 0,
        error: BaseException | None = None,
        services: ServicesSnapshot | None = None,
    ) -> StateChanged | None:
        event = self._sm.transition(new, reason, attempt=attempt, error=error, services=services)
        if event is None:
            return None
        self._last_event = event
        self._checkpoint()
        log.info(
            "%s: %s -> %s (%s)",
            self._device,
            event.old.value,
            event.new.value,
            reason.value,
            extra={
                "device": self._device,
                "state_version": event.version,
                "attempt": attempt,
                "reason": reason.value,
            },
        )
        self._router.publish(event)
        self._settle_state_waiters(event)
        return event

    def _checkpoint(self, *, handover: bool = False) -> None:
        waiters = tuple(self._connect_waiters) if handover else ()
        self._router.tell(
            self._supervisor,
            Checkpoint(
                device=self._device,
                role=Role.RADIO,
                data=RadioCheckpoint(self._sm.version, self._wants, waiters),
            ),
        )

    def _settle_state_waiters(self, event: StateChanged) -> None:
        keep: list[WaitForState] = []
        for waiter in self._state_waiters:
            if event.new in waiter.states:
                self._router.reply(waiter.request_id, event.new)
            elif event.new is S.CLOSED:
                self._router.reply(waiter.request_id, error=self._closed_error())
            elif event.new is S.FAILED:
                self._router.reply(waiter.request_id, error=self._failed_error(event))
            else:
                keep.append(waiter)
        self._state_waiters = keep

    def _closed_error(self) -> RuntimeClosed:
        return RuntimeClosed(f"device {self._device} is closed", device=self._device)

    def _failed_error(self, event: StateChanged) -> BaseException:
        if event.error is not None:
            return event.error
        return GaveUp(f"device {self._device} failed", attempts=self._attempt, device=self._device)

    # --- connect ----------------------------------------------------------------------

    def _on_connect(self, msg: Connect) -> None:
        state = self._sm.state
        if state is S.CLOSED:
            self._router.reply(msg.request_id, error=self._closed_error())
            return
        if not self._wants:
            self._wants = True
            self._checkpoint()
        if state is S.CONNECTED:
            self._router.reply(msg.request_id)
            return
        # Callers that gave up waiting are forgotten here, so an application that polls
        # connect(timeout=...) against an absent device for days does not grow this list.
        self._connect_waiters = [r for r in self._connect_waiters if self._router.waiting(r)]
        self._connect_waiters.append(msg.request_id)
        if state in (S.DISCONNECTED, S.FAILED):
            self._start_attempt(Reason.USER_CONNECT, attempt=0)
        # CONNECTING / RECONNECTING: already on it. DISCONNECTING: reconnects once down.

    def _start_attempt(self, reason: Reason, *, attempt: int) -> None:
        if self._go(S.CONNECTING, reason, attempt=attempt) is None:
            return
        version = self._sm.version
        self._attempt = attempt
        self._early_loss = False
        self._counts["attempts"] += 1
        self._metrics.increment("connect.attempts", tags=self._tags)
        router, me = self._router, self._me

        def on_lost() -> None:
            router.tell(me, LinkLost(link=version))

        link = BleakLink(
            device=self._device,
            target=self._opt.target,
            backend=self._opt.backend,
            on_lost=on_lost,
            disconnect_timeout=self._opt.disconnect_timeout,
        )
        self._link, self._link_version = link, version
        timeout = self._opt.policy.attempt_timeout

        def done(future: concurrent.futures.Future[ServicesSnapshot]) -> None:
            services, error = _outcome(future)
            router.tell(
                me,
                AttemptDone(
                    version=version,
                    attempt=attempt,
                    services=services if isinstance(services, ServicesSnapshot) else None,
                    error=error,
                ),
            )

        self._attempt_future = self._bridge.submit(lambda: link.connect(timeout), done)
        self._attempt_timer = self._clock.call_later(
            timeout,
            lambda: router.tell(me, AttemptDeadline(version=version)),
            label="AttemptDeadline",
        )

    def _on_attempt_done(self, msg: AttemptDone) -> None:
        if not self._sm.is_current(msg.version) or self._sm.state is not S.CONNECTING:
            return  # an abandoned attempt; _abandon_attempt already tore its link down
        self._cancel_attempt_timer()
        self._attempt_future = None
        if msg.error is None and self._early_loss:
            msg = dataclasses.replace(
                msg,
                error=Disconnected(
                    f"link to {self._device} dropped right after connecting", device=self._device
                ),
            )
        if msg.error is not None or msg.services is None:
            error = msg.error or InternalError("attempt ended without services")
            self._last_error = error
            self._drop_link()
            self._go(S.RECONNECTING, Reason.CONNECT_FAILED, attempt=msg.attempt, error=error)
            return
        self._services = msg.services
        self._notifying = set()
        if self._go(S.CONNECTED, Reason.CONNECTED, attempt=msg.attempt, services=msg.services):
            self._session = self._sm.version
            self._counts["successes"] += 1
            self._metrics.increment("connect.successes", tags=self._tags)
            for request_id in self._connect_waiters:
                self._router.reply(request_id)
            self._connect_waiters.clear()
            parked, self._parked = self._parked, []
            for op in parked:
                self._cancel_timer(op.expiry)
                self._run_op(op)

    def _on_attempt_deadline(self, msg: AttemptDeadline) -> None:
        if not self._sm.is_current(msg.version) or self._sm.state is not S.CONNECTING:
            return
        timeout = self._opt.policy.attempt_timeout
        error = ConnectFailed(
            f"connection attempt to {self._device} took longer than {timeout:g} s",
            device=self._device,
        )
        self._last_error = error
        self._abandon_attempt()
        self._drop_link()  # in case the connect finished just as its deadline fired
        self._go(S.RECONNECTING, Reason.ATTEMPT_TIMEOUT, attempt=self._attempt, error=error)

    def _on_reconnect_due(self, msg: ReconnectDue) -> None:
        if self._sm.is_current(msg.version) and self._sm.state is S.RECONNECTING:
            self._start_attempt(Reason.RETRY_DUE, attempt=msg.attempt)

    def _on_give_up(self, msg: GiveUp) -> None:
        if not self._sm.is_current(msg.version) or self._sm.state is not S.RECONNECTING:
            return
        error = GaveUp(
            f"gave up on {self._device} after {msg.attempt} reconnection attempts",
            attempts=msg.attempt,
            device=self._device,
        )
        error.__cause__ = msg.error or self._last_error
        self._wants = False
        self._counts["give_ups"] += 1
        self._metrics.increment("connect.give_ups", tags=self._tags)
        self._fail_waiters(error)
        self._go(S.FAILED, Reason.GAVE_UP, attempt=msg.attempt, error=error)

    def _on_link_lost(self, msg: LinkLost) -> None:
        if msg.link != self._link_version:
            self._sm.stale += 1
            self._metrics.increment("state.stale_completions", tags=self._tags)
            return
        state = self._sm.state
        if state is S.CONNECTING:
            self._early_loss = True  # the attempt's completion is still on its way
            return
        if state is not S.CONNECTED:
            return  # we are tearing it down ourselves
        self._counts["links_lost"] += 1
        self._metrics.increment("link.lost", tags=self._tags)
        error = Disconnected(f"link to {self._device} was lost", device=self._device)
        self._drop_link()
        self._end_session(error)
        self._go(S.RECONNECTING, Reason.LINK_LOST, error=error)

    # --- disconnect and close -----------------------------------------------------------

    def _on_disconnect(self, msg: Disconnect) -> None:
        if self._wants:
            self._wants = False
            self._checkpoint()
        error = Disconnected(f"disconnect() was called on {self._device}", device=self._device)
        for request_id in self._connect_waiters:
            self._router.reply(request_id, error=error)
        self._connect_waiters.clear()
        self._expire_parked(NotConnected(f"{self._device} is disconnecting", device=self._device))
        match self._sm.state:
            case S.CONNECTED | S.CONNECTING:
                self._disconnect_waiters.append(msg.request_id)
                self._abandon_attempt()
                self._end_session(error)
                if self._go(S.DISCONNECTING, Reason.USER_DISCONNECT):
                    self._teardown(then=DisconnectDone(version=self._sm.version))
            case S.DISCONNECTING:
                self._disconnect_waiters.append(msg.request_id)
            case S.RECONNECTING | S.FAILED:
                self._go(S.DISCONNECTED, Reason.USER_DISCONNECT)
                self._router.reply(msg.request_id)
            case S.DISCONNECTED | S.CLOSED:
                self._router.reply(msg.request_id)

    def _on_disconnect_done(self, msg: DisconnectDone) -> None:
        if not self._sm.is_current(msg.version) or self._sm.state is not S.DISCONNECTING:
            return
        self._go(S.DISCONNECTED, Reason.DISCONNECTED)
        for request_id in self._disconnect_waiters:
            self._router.reply(request_id)
        self._disconnect_waiters.clear()
        if self._wants:  # connect() was called while we were going down
            self._start_attempt(Reason.USER_CONNECT, attempt=0)

    def _on_close(self, msg: Close) -> None:
        self._shutdown(self._closed_error())
        self._go(S.CLOSED, Reason.CLOSED)
        self._router.reply(msg.request_id)

    def _shutdown(self, error: BaseException) -> None:
        """Cancel everything, fail everyone waiting, start the teardown; never blocks."""
        self._wants = False
        self._abandon_attempt()
        self._end_session(error)
        self._fail_waiters(error)
        for request_id in self._disconnect_waiters:
            self._router.reply(request_id)
        self._disconnect_waiters.clear()
        self._teardown(then=None)

    def on_stop(self) -> None:
        if self._sm.state is not S.CLOSED:
            self._shutdown(self._closed_error())

    def on_failure(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        error = exc_value if isinstance(exc_value, BaseException) else InternalError("crash")
        crash = InternalError(f"the RadioActor of {self._device} crashed", device=self._device)
        crash.__cause__ = error
        # The wish and the connect() callers pass to the successor; what was in flight
        # on the link cannot, and fails.
        self._checkpoint(handover=True)
        self._connect_waiters.clear()
        self._shutdown(crash)
        self._router.tell(
            self._supervisor,
            ChildFailed(
                device=self._device, role=Role.RADIO, generation=self._generation, error=error
            ),
        )

    def _on_resync(self) -> None:
        if self._last_event is not None:
            # Peers that were restarted learn the current state; the others ignore an
            # event whose version they have already seen.
            self._router.tell(self._reconnect, self._last_event)
            self._router.tell(self._notify, self._last_event)
        elif self._restarted and self._wants and self._sm.state is S.DISCONNECTED:
            self._start_attempt(Reason.RESTARTED, attempt=0)

    def _fail_waiters(self, error: BaseException) -> None:
        for request_id in self._connect_waiters:
            self._router.reply(request_id, error=error)
        self._connect_waiters.clear()
        self._expire_parked(error)

    # --- link lifecycle helpers -----------------------------------------------------------

    def _cancel_attempt_timer(self) -> None:
        self._cancel_timer(self._attempt_timer)
        self._attempt_timer = None

    @staticmethod
    def _cancel_timer(timer: Timer | None) -> None:
        if timer is not None:
            timer.cancel()

    def _abandon_attempt(self) -> None:
        """Cancel an in-flight connect; its link is torn down by _teardown or _drop_link."""
        self._cancel_attempt_timer()
        future, self._attempt_future = self._attempt_future, None
        if future is not None:
            future.cancel()

    def _drop_link(self) -> None:
        """Forget the current link after tearing it down in the background."""
        self._teardown(then=None)

    def _teardown(self, then: DisconnectDone | None) -> None:
        link, self._link = self._link, None
        self._link_version = None
        router, me = self._router, self._me
        if link is None:
            if then is not None:
                router.tell(me, then)
            return

        def done(_future: concurrent.futures.Future[None]) -> None:
            if then is not None:
                router.tell(me, then)

        self._bridge.submit(link.disconnect, done)

    def _end_session(self, error: BaseException) -> None:
        """The link is gone: fail or park what was in flight on it."""
        self._session = None
        self._notifying = set()
        ops, self._ops = self._ops, {}
        for op in ops.values():
            if op.future is not None:
                op.future.cancel()
            if isinstance(op.command, Read | Write) and op.command.retry and self._wants:
                self._park(op)
            elif isinstance(op.command, StopNotify):
                self._router.reply(op.request_id)  # notifications end with the link anyway
            else:
                self._router.reply(op.request_id, error=error)

    # --- operations -------------------------------------------------------------------------

    def _on_get_services(self, msg: GetServices) -> None:
        if self._sm.state is S.CONNECTED and self._services is not None:
            self._router.reply(msg.request_id, self._services)
        else:
            self._router.reply(msg.request_id, error=self._not_connected())

    def _not_connected(self) -> BaseException:
        if self._sm.state is S.CLOSED:
            return self._closed_error()
        return NotConnected(
            f"{self._device} is {self._sm.state.value}, not connected", device=self._device
        )

    def _on_io(self, msg: Read | Write) -> None:
        op = _Op(request_id=msg.request_id, command=msg)
        if self._sm.state is S.CONNECTED:
            self._run_op(op)
        elif msg.retry and self._wants and self._sm.state in (S.CONNECTING, S.RECONNECTING):
            self._park(op)
        else:
            self._router.reply(msg.request_id, error=self._not_connected())

    def _park(self, op: _Op) -> None:
        command = op.command
        assert isinstance(command, Read | Write)
        router, me = self._router, self._me
        op.future = None
        if command.request_id is not None:
            expired = OpExpired(request_id=command.request_id)
            op.expiry = self._clock.call_later(
                command.timeout, lambda: router.tell(me, expired), label="OpExpired"
            )
        self._parked.append(op)

    def _on_op_expired(self, msg: OpExpired) -> None:
        for op in self._parked:
            if op.request_id == msg.request_id:
                self._parked.remove(op)
                command = op.command
                assert isinstance(command, Read | Write)
                self._router.reply(
                    op.request_id,
                    error=OperationTimeout(
                        f"{self._device} did not reconnect within {command.timeout:g} s",
                        timeout=command.timeout,
                        device=self._device,
                    ),
                )
                return

    def _expire_parked(self, error: BaseException) -> None:
        parked, self._parked = self._parked, []
        for op in parked:
            self._cancel_timer(op.expiry)
            self._router.reply(op.request_id, error=error)

    def _check(self, command: Read | Write) -> BaseException | None:
        services = self._services
        if services is None:
            return InternalError("connected without services")
        info = services.characteristic(command.char)
        if info is None:
            return CharacteristicNotFound(command.char, device=self._device)
        if isinstance(command, Read):
            needed = {"read"}
        elif command.response:
            needed = {"write"}
        else:
            needed = {"write-without-response"}
        if not needed & info.properties:
            return NotSupported(
                command.char, needed=" or ".join(sorted(needed)), device=self._device
            )
        if isinstance(command, Write):
            limit = MAX_ATTRIBUTE_LENGTH if command.response else info.max_write_without_response
            if len(command.data) > limit:
                return PayloadTooLong(
                    length=len(command.data),
                    limit=limit,
                    char_uuid=command.char,
                    response=command.response,
                    device=self._device,
                )
        return None

    def _run_op(self, op: _Op) -> None:
        command = op.command
        link, session = self._link, self._session
        if link is None or session is None:
            self._router.reply(op.request_id, error=self._not_connected())
            return
        coro: Callable[[], Coroutine[Any, Any, Any]]
        match command:
            case Read():
                if (problem := self._check(command)) is not None:
                    self._router.reply(op.request_id, error=problem)
                    return
                char = command.char
                coro = lambda: link.read(char)  # noqa: E731
            case Write():
                if (problem := self._check(command)) is not None:
                    self._router.reply(op.request_id, error=problem)
                    return
                char, data, response = command.char, command.data, command.response
                coro = lambda: link.write(char, data, response)  # noqa: E731
            case StartNotify():
                sink = self._sink(command.char, session)
                char = command.char
                coro = lambda: link.start_notify(char, sink)  # noqa: E731
            case StopNotify():
                char = command.char
                coro = lambda: link.stop_notify(char)  # noqa: E731
        op_id = next(self._op_ids)
        router, me = self._router, self._me

        def done(future: concurrent.futures.Future[Any]) -> None:
            value, error = _outcome(future)
            router.tell(me, OpDone(op_id=op_id, version=session, value=value, error=error))

        self._ops[op_id] = op
        op.future = self._bridge.submit(coro, done)

    def _sink(self, char: str, session: int) -> Callable[[bytes], None]:
        """The function bleak's notification callback calls on the loop thread: one tell."""
        seq = itertools.count(1)
        tell, now, notify = self._router.tell, self._clock.now, self._notify

        def sink(data: bytes) -> None:
            tell(
                notify,
                RawNotification(
                    char=char, session=session, seq=next(seq), data=data, received_at=now()
                ),
            )

        return sink

    def _on_op_done(self, msg: OpDone) -> None:
        op = self._ops.pop(msg.op_id, None)
        if op is None:
            return  # already answered when its session ended
        command = op.command
        match command:
            case StartNotify():
                if msg.error is not None:
                    self._notifying.discard(command.char)
                self._router.tell(
                    self._notify,
                    NotifyStarted(char=command.char, session=command.session, error=msg.error),
                )
            case StopNotify():
                self._router.reply(op.request_id, error=msg.error)
            case Read() | Write():
                if msg.error is None:
                    self._router.reply(op.request_id, msg.value)
                    self._router.tell(self._reconnect, IoSucceeded(version=msg.version))
                    return
                if (
                    isinstance(msg.error, Disconnected)
                    and msg.version == self._session
                    and self._link_version is not None
                ):
                    # The link died and its disconnect callback never came (it happens
                    # with real stacks): an operation that found it dead stands in for it.
                    self._parked_or_failed(op, msg.error)
                    self._on_link_lost(LinkLost(link=self._link_version))
                    return
                self._parked_or_failed(op, msg.error)

    def _parked_or_failed(self, op: _Op, error: BaseException) -> None:
        command = op.command
        assert isinstance(command, Read | Write)
        if command.retry and isinstance(error, Disconnected) and self._wants:
            self._park(op)
        else:
            self._router.reply(op.request_id, error=error)

    def _on_start_notify(self, msg: StartNotify) -> None:
        if msg.session != self._session or self._sm.state is not S.CONNECTED:
            return  # for a session that is over; the next CONNECTED re-applies it
        if msg.char in self._notifying:
            # Already on for this session (a peer restarted and asked again): exactly one
            # backend subscription per characteristic per session.
            self._router.tell(
                self._notify, NotifyStarted(char=msg.char, session=msg.session, error=None)
            )
            return
        self._notifying.add(msg.char)
        self._run_op(_Op(request_id=None, command=msg))

    def _on_stop_notify(self, msg: StopNotify) -> None:
        if (
            msg.session != self._session
            or self._sm.state is not S.CONNECTED
            or msg.char not in self._notifying
        ):
            self._router.reply(msg.request_id)  # nothing is registered on the backend
            return
        self._notifying.discard(msg.char)
        self._run_op(_Op(request_id=msg.request_id, command=msg))

    def _on_wait(self, msg: WaitForState) -> None:
        state = self._sm.state
        if state in msg.states:
            self._router.reply(msg.request_id, state)
        elif state is S.CLOSED:
            self._router.reply(msg.request_id, error=self._closed_error())
        else:
            self._state_waiters = [
                w for w in self._state_waiters if self._router.waiting(w.request_id)
            ]
            self._state_waiters.append(msg)

    def _stats(self) -> dict[str, object]:
        return {
            "state": self._sm.state,
            "state_version": self._sm.version,
            "refused_transitions": self._sm.refused,
            "stale_completions": self._sm.stale,
            "in_flight": len(self._ops),
            "parked": len(self._parked),
            "waiters": len(self._connect_waiters) + len(self._state_waiters),
            **self._counts,
        }


def _outcome(future: concurrent.futures.Future[Any]) -> tuple[Any, BaseException | None]:
    if future.cancelled():
        return None, ConnectFailed("cancelled")
    error = future.exception()
    if error is not None:
        return None, error
    return future.result(), None
