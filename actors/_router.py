"""The router: every send between actors, every reply, every published state.

One small object through which all messages pass, for three reasons: senders name an
``Address`` (device + role) instead of holding refs that go stale when the supervisor
restarts an actor; a ``FaultPlan`` can drop, delay, duplicate or reorder any message in
one place; and requests from the twin APIs get their answers through one table of
pending futures.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import logging
from typing import Any

import pykka

from blerun.actors._clock import Clock
from blerun.actors._faults import FaultKind, FaultPlan
from blerun.actors._metrics import Metrics
from blerun.messages import (
    Address,
    ConnectionState,
    Reply,
    Role,
    ServicesSnapshot,
    StateChanged,
)

log = logging.getLogger(__name__)

ActorRef = pykka.ActorRef[Any]


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceSnapshot:
    """What the world last learned about a device, from its ``StateChanged`` events."""

    state: ConnectionState
    version: int
    services: ServicesSnapshot | None
    """The services of the latest connection (kept while the link is down)."""
    error: BaseException | None = None
    """The error of the latest transition, if it had one."""


class DeviceView:
    """The latest snapshot of one device, replaced whole (never mutated) on each event.

    Written by whichever actor publishes the device's state (its RadioActor, or the
    supervisor when it escalates), read by the facades without asking any actor.
    """

    __slots__ = ("snapshot",)

    def __init__(self) -> None:
        self.snapshot = DeviceSnapshot(ConnectionState.DISCONNECTED, 0, None)


class Router:
    """Delivers messages by address, applies faults, and completes requests."""

    def __init__(self, *, clock: Clock, metrics: Metrics, faults: FaultPlan | None) -> None:
        self._clock = clock
        self._metrics = metrics
        self._faults = faults
        # Written by the supervisor's thread, read by every sender: single dict operations
        # (get, item assignment, pop) are atomic in CPython, and a sender that reads a
        # stale ref gets ActorDeadError, which counts as a dead letter.
        self._refs: dict[Address, ActorRef] = {}
        self._views: dict[str, DeviceView] = {}
        self._pending: dict[int, concurrent.futures.Future[object]] = {}
        self._held: dict[Address, list[object]] = {}
        self._ids = itertools.count(1)
        self.dead_letters = 0
        self.closed = False
        """Set first thing by ``Runtime.close()``: the facades refuse new work."""

    # --- registry ---------------------------------------------------------------------

    def register(self, address: Address, ref: ActorRef) -> None:
        self._refs[address] = ref

    def unregister(self, address: Address, ref: ActorRef) -> None:
        if self._refs.get(address) is ref:
            del self._refs[address]

    def ref(self, address: Address) -> ActorRef | None:
        return self._refs.get(address)

    def view(self, device: str) -> DeviceView:
        view = self._views.get(device)
        if view is None:
            view = self._views.setdefault(device, DeviceView())
        return view

    # --- sending ----------------------------------------------------------------------

    def tell(self, address: Address, message: object) -> None:
        """Send ``message`` to the actor at ``address``, through the fault plan if any."""
        faults = self._faults
        if faults is None:
            self._deliver(address, message)
            return
        decision = faults.decide(address, message)
        match decision.kind:
            case None:
                self._deliver(address, message)
                self._release_held(address)
            case FaultKind.DROP:
                log.debug("fault: dropped %s to %s", type(message).__name__, address)
            case FaultKind.DELAY:
                self._clock.call_later(
                    decision.seconds,
                    lambda: self._deliver(address, message),
                    label=f"fault-delay:{type(message).__name__}",
                )
            case FaultKind.DUPLICATE:
                self._deliver(address, message)
                self._deliver(address, message)
                self._release_held(address)
            case FaultKind.REORDER:
                self._held.setdefault(address, []).append(message)

    def _release_held(self, address: Address) -> None:
        held = self._held.pop(address, None)
        for message in held or ():
            self._deliver(address, message)

    def _deliver(self, address: Address, message: object) -> None:
        ref = self._refs.get(address)
        if ref is None:
            self._dead_letter(address, message)
            return
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            self._dead_letter(address, message)

    def _dead_letter(self, address: Address, message: object) -> None:
        self.dead_letters += 1
        self._metrics.increment("router.dead_letters", tags={"role": address.role.value})
        log.debug("dead letter: %s to %s", type(message).__name__, address)

    def publish(self, event: StateChanged) -> None:
        """Record a device's new state, then tell its ReconnectActor and NotificationActor.

        The view is updated before anyone is told, so a caller answered after this call
        already reads the new state.
        """
        view = self.view(event.device)
        services = event.services or view.snapshot.services
        view.snapshot = DeviceSnapshot(event.new, event.version, services, event.error)
        self.tell(Address(device=event.device, role=Role.RECONNECT), event)
        self.tell(Address(device=event.device, role=Role.NOTIFY), event)

    # --- requests and replies ---------------------------------------------------------

    def request(self) -> tuple[int, concurrent.futures.Future[object]]:
        """A new request id and the future its ``Reply`` will complete."""
        request_id = next(self._ids)
        future: concurrent.futures.Future[object] = concurrent.futures.Future()
        self._pending[request_id] = future
        return request_id, future

    def reply(
        self, request_id: int | None, value: object = None, error: BaseException | None = None
    ) -> None:
        """Complete a request; unknown or forgotten ids are ignored."""
        if request_id is None:
            return
        self.deliver_reply(Reply(request_id=request_id, value=value, error=error))

    def deliver_reply(self, reply: Reply) -> None:
        future = self._pending.pop(reply.request_id, None)
        if future is None:
            return
        try:
            if reply.error is not None:
                future.set_exception(reply.error)
            else:
                future.set_result(reply.value)
        except concurrent.futures.InvalidStateError:  # the caller cancelled meanwhile
            pass

    def waiting(self, request_id: int) -> bool:
        """Whether someone still waits for this request's answer."""
        return request_id in self._pending

    def forget(self, request_id: int) -> None:
        """The caller stopped waiting (timeout, cancellation); drop the pending entry."""
        self._pending.pop(request_id, None)

    def fail_pending(self, error: BaseException) -> int:
        """Fail every request still waiting (used at close); returns how many."""
        failed = 0
        for request_id in list(self._pending):
            future = self._pending.pop(request_id, None)
            if future is None:
                continue
            try:
                future.set_exception(error)
                failed += 1
            except concurrent.futures.InvalidStateError:
                pass
        return failed
