"""The router: every send between actors, every reply, and every published state.

One small object through which all messages pass, for three reasons: senders name a
``Recipient`` (device group + role) and get a ``Slot`` that stays valid across restarts
(mail for an actor that is dead or not started yet waits in the slot for its successor);
a ``FaultPlan`` can drop, delay, duplicate or reorder any message in one place; and
requests from the twin APIs get their answers through one table of pending futures.

It is also the one place a device's state is published (``publish``): the device's
``DeviceHub`` keeps the latest snapshot (what ``dev.state`` reads), refuses any event whose
version is not newer than the last one (so a listener never sees a transition twice or
out of order, whatever restarts and resyncs happen), and fans the event out to the
group's actors and, through the device's callback lane, to the user's listeners.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import threading
from collections.abc import Callable

from blerun.actors._clock import Clock
from blerun.actors._faults import FaultKind, FaultPlan
from blerun.actors._hub import DeviceHub, DeviceSnapshot
from blerun.actors._lanes import Lanes
from blerun.actors._metrics import Metrics
from blerun.actors._slot import Slot
from blerun.actors.errors import BleRuntimeError, RuntimeClosed
from blerun.messages import (
    ConnectionState,
    DeviceId,
    Reason,
    Recipient,
    Reply,
    Role,
    StateChanged,
)

log = logging.getLogger(__name__)


class Router:
    """Delivers messages by recipient, applies faults, completes requests, publishes state."""

    def __init__(
        self, *, clock: Clock, metrics: Metrics, faults: FaultPlan | None, lanes: Lanes
    ) -> None:
        self.clock = clock
        self._metrics = metrics
        self._faults = faults
        self.lanes = lanes
        self._slots: dict[Recipient, Slot] = {}
        self._hubs: dict[DeviceId, DeviceHub] = {}
        self._pending: dict[int, Pending] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # guards slot and hub creation only
        self.dead_letters = 0
        self.on_forget: list[Callable[[int], None]] = []
        """Called with each request id whose caller stopped waiting (radio hosts learn it)."""
        self.closed = False
        """Set first thing by ``Runtime.close()``: the facades refuse new work."""

    # --- recipients -------------------------------------------------------------------

    def open_group(self, device: DeviceId) -> DeviceHub:
        """Create a device group's slots and hub (before its actors start)."""
        with self._lock:
            for role in (Role.RADIO, Role.RECONNECT, Role.NOTIFY):
                recipient = Recipient(device=device, role=role)
                self._slots[recipient] = Slot(self, recipient)
            hub = DeviceHub(
                device,
                (
                    self._slots[Recipient(device=device, role=Role.RECONNECT)],
                    self._slots[Recipient(device=device, role=Role.NOTIFY)],
                ),
            )
            self._hubs[device] = hub
        return hub

    def slot(self, recipient: Recipient) -> Slot:
        """The recipient's slot; for a group that is gone, a closed one (mail is refused)."""
        slot = self._slots.get(recipient)
        if slot is not None:
            return slot
        if recipient.device is None:
            with self._lock:
                return self._slots.setdefault(recipient, Slot(self, recipient))
        gone = Slot(self, recipient)
        gone.close(_gone(recipient))
        return gone

    def slot_for(self, device: DeviceId | None, role: Role) -> Slot:
        return self.slot(Recipient(device=device, role=role))

    def forget_group(self, device: DeviceId, error: BaseException) -> None:
        """The group is over: close its slots (failing the mail that waits in them).

        Its hub goes when its terminal event is published (the radio may still be on its
        way to publishing it).
        """
        for role in (Role.RADIO, Role.RECONNECT, Role.NOTIFY):
            slot = self._slots.pop(Recipient(device=device, role=role), None)
            if slot is not None:
                slot.close(error)

    # --- sending ----------------------------------------------------------------------

    def tell(self, recipient: Recipient, message: object) -> None:
        """Send ``message`` to the actor serving ``recipient``, through the fault plan."""
        self.slot(recipient).tell(message)

    def send(self, slot: Slot, message: object) -> None:
        faults = self._faults
        if faults is None:
            slot.deliver(message)
            return
        decision = faults.decide(slot.recipient, message)
        match decision.kind:
            case None:
                slot.deliver(message)
                slot.release_held()
            case FaultKind.DROP:
                log.debug("fault: dropped %s to %s", type(message).__name__, slot.recipient)
            case FaultKind.DELAY:
                self.clock.call_later(
                    decision.seconds, lambda: slot.deliver(message), label="fault-delay"
                )
            case FaultKind.DUPLICATE:
                slot.deliver(message)
                slot.deliver(message)
                slot.release_held()
            case FaultKind.REORDER:
                # Held until the next message to this recipient passes, and never longer
                # than the plan's hold bound, so nothing is stranded.
                slot.hold(message)
                self.clock.call_later(faults.hold, slot.release_held, label="fault-reorder")

    def dead_letter(
        self, recipient: Recipient, message: object, error: BaseException | None
    ) -> None:
        """A message no actor will handle: count it, and fail its caller if it has one."""
        self.dead_letters += 1
        self._metrics.increment("router.dead_letters", tags={"role": recipient.role.value})
        log.debug("dead letter: %s to %s", type(message).__name__, recipient)
        request_id = getattr(message, "request_id", None)
        if isinstance(request_id, int):
            self.reply(request_id, error=error or _gone(recipient))

    # --- publishing -------------------------------------------------------------------

    def hub(self, device: DeviceId) -> DeviceHub | None:
        """The device's hub while its group runs (``None`` once it ended)."""
        return self._hubs.get(device)

    def publish(self, device: DeviceId, event: StateChanged, generation: int) -> bool:
        """Make ``event`` the device's state and tell everyone who listens; at most once.

        Called by the device's current RadioActor (``generation``) only. Returns False (and
        changes nothing) for an event from a replaced radio, one that is not newer than
        the last, or one that follows a terminal state.
        """
        hub = self._hubs.get(device)
        if (
            hub is None
            or hub.terminal
            or generation != hub.publisher
            or event.version <= hub.snapshot.version
        ):
            self._metrics.increment("state.refused_publications", tags={"device": str(device)})
            return False
        previous = hub.snapshot
        services = event.services or previous.services
        last_error = (
            None if event.new is ConnectionState.CONNECTED else event.error or previous.last_error
        )
        hub.snapshot = DeviceSnapshot(event.new, event.version, services, event.error, last_error)
        if event.new is ConnectionState.CLOSED or (
            event.new is ConnectionState.FAILED and event.reason is Reason.ESCALATED
        ):
            hub.terminal = True
            self._hubs.pop(device, None)
        for slot in hub.subscribers:
            slot.tell(event)
        listeners = tuple(hub.listeners())
        if listeners:
            self.lanes.lane(hub.lane_key).events(listeners, event)
        return True

    # --- requests and replies ---------------------------------------------------------

    def request(self) -> tuple[int, concurrent.futures.Future[object]]:
        """A new request id and the future its ``Reply`` will complete (any thread)."""
        request_id = next(self._ids)
        future: concurrent.futures.Future[object] = concurrent.futures.Future()
        self._pending[request_id] = future
        return request_id, future

    def request_on(self, loop: asyncio.AbstractEventLoop) -> tuple[int, asyncio.Future[object]]:
        """A new request id and an asyncio future of ``loop`` for its ``Reply``.

        For a caller awaiting on the loop the actors run on: the answer, set on that
        loop's thread, wakes the caller without a thread-safe hand-off.
        """
        request_id = next(self._ids)
        future: asyncio.Future[object] = loop.create_future()
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
        if isinstance(future, asyncio.Future):
            loop = future.get_loop()
            if _running_loop() is loop:
                _settle(future, reply.value, reply.error)
            else:
                with contextlib.suppress(RuntimeError):  # the caller's loop is closed
                    loop.call_soon_threadsafe(_settle, future, reply.value, reply.error)
            return
        _settle(future, reply.value, reply.error)

    def waiting(self, request_id: int) -> bool:
        """Whether someone still waits for this request's answer."""
        return request_id in self._pending

    def forget(self, request_id: int) -> None:
        """The caller stopped waiting (timeout, cancellation); drop the pending entry."""
        self._pending.pop(request_id, None)
        for hook in self.on_forget:
            hook(request_id)

    def fail_pending(self, error: BaseException) -> int:
        """Fail every request still waiting (used at close); returns how many."""
        failed = 0
        for request_id in list(self._pending):
            if request_id in self._pending:
                self.deliver_reply(Reply(request_id=request_id, error=error))
                failed += 1
        return failed


Pending = concurrent.futures.Future[object] | asyncio.Future[object]


def _settle(future: Pending, value: object, error: BaseException | None) -> None:
    if future.done():  # the caller cancelled meanwhile
        return
    with contextlib.suppress(concurrent.futures.InvalidStateError, asyncio.InvalidStateError):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _gone(recipient: Recipient) -> BleRuntimeError:
    address = recipient.device.address if recipient.device is not None else None
    return RuntimeClosed(f"{recipient} is gone", address=address)
