"""NotificationActor: the wanted subscriptions, their re-application, and dispatch.

Subscriptions are data (token, characteristic, callback, decoder). On every CONNECTED the
actor asks the RadioActor to enable each wanted characteristic once for the new session;
on link loss they are marked inactive, never dropped. A token is a subscription's
identity: a second ``Subscribe`` with the same token changes nothing.

Notifications come in batches (one per loop iteration, numbered per session). A batch of
an ended session is dropped (stale); a duplicated batch is dropped; a batch that comes
early (an earlier one was delayed or reordered) waits for the missing one, at most
``reorder_window`` seconds or until its session ends, so every batch is delivered once and
in order, and only a batch that never comes leaves a gap (counted). A successor of an
actor that crashed continues its session where it was. Callbacks run on the device's
callback lane (never here, never on the loop); an async stream gets its notifications on
its own loop, with no thread in between.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import typing
from typing import Any, assert_never

from blerun.actors._actor_base import DeviceActor, GroupContext
from blerun.actors._clock import Timer
from blerun.actors._values import NotifyStats
from blerun.messages import (
    Checkpoint,
    ConnectionState,
    Drain,
    GetStats,
    NotificationBatch,
    NotifyCommand,
    NotifyStarted,
    Poison,
    RawNotification,
    ReorderWindowElapsed,
    Role,
    StartNotify,
    StateChanged,
    StopNotify,
    Subscribe,
    Unsubscribe,
)

log = logging.getLogger(__name__)

_EARLY_LIMIT = 1024
"""Batches kept for a session not announced yet; more are dropped as stale."""


@dataclasses.dataclass(frozen=True, slots=True)
class NotifyCheckpoint:
    """What survives a NotificationActor restart: the user's subscriptions, and (from a
    dying actor) the session it was in and where in that session's batches, so that its
    successor continues the session: the next batch is the next one, not a gap to wait
    for, and batches of the session that reach it first are not taken for stale."""

    subscriptions: tuple[Subscribe, ...]
    session: int | None = None
    next_batch: int = 1
    active: tuple[str, ...] = ()


class NotificationActor(DeviceActor):
    """One device's subscriptions and dispatch; see the module docstring."""

    role = Role.NOTIFY
    accepts = typing.get_args(NotifyCommand)

    def __init__(
        self,
        *,
        ctx: GroupContext,
        generation: int,
        reorder_window: float,
        checkpoint: NotifyCheckpoint | None,
    ) -> None:
        super().__init__(ctx=ctx, generation=generation)
        self._window = reorder_window
        self._radio = ctx.slot(Role.RADIO)
        self._me = ctx.slot(Role.NOTIFY)
        self._subs: dict[int, Subscribe] = {}
        self._by_uuid: dict[str, tuple[Subscribe, ...]] = {}
        for sub in checkpoint.subscriptions if checkpoint else ():
            self._add(sub)
        self._seen_version = 0
        self._session: int | None = None
        self._next_batch = 1
        self._held: dict[int, tuple[NotificationBatch, float]] = {}  # batch -> (it, arrival)
        self._early: list[NotificationBatch] = []
        self._gap_timer: Timer | None = None
        self._active: set[str] = set()
        if checkpoint is not None and checkpoint.session is not None:
            # The radio resyncs this session (a CONNECTED of this version) right after.
            self._session, self._next_batch = checkpoint.session, checkpoint.next_batch
            self._seen_version = checkpoint.session - 1
            self._active = set(checkpoint.active)
        self._starting: set[str] = set()
        self._awaiting: dict[str, list[int]] = {}
        self._counts = dict.fromkeys(("routed", "stale", "out_of_order", "gaps", "unsubscribed"), 0)

    def handle(self, msg: NotifyCommand) -> None:
        match msg:
            case NotificationBatch():
                self._on_batch(msg)
            case Subscribe():
                self._on_subscribe(msg)
            case Unsubscribe():
                self._on_unsubscribe(msg)
            case NotifyStarted():
                self._on_started(msg)
            case ReorderWindowElapsed():
                self._on_window(msg)
            case Drain():
                # Queued behind every callback routed so far (and every state event
                # published so far): answered once they have run.
                reply, request_id = self.router.reply, msg.request_id
                self.ctx.lane.call(lambda _: reply(request_id), None)
            case StateChanged():
                if msg.version > self._seen_version:  # duplicates and resyncs are seen once
                    self._seen_version = msg.version
                    self._on_state(msg)
            case GetStats() | Poison():
                pass  # answered by the prologue (DeviceActor.on_receive)
            case _:
                assert_never(msg)

    # --- the hot path: order, then dispatch -----------------------------------------

    def _on_batch(self, msg: NotificationBatch) -> None:
        if msg.session != self._session:
            if msg.session > self._seen_version and len(self._early) < _EARLY_LIMIT:
                self._early.append(msg)  # its CONNECTED was delayed: keep it for now
                self._arm_window(msg.session, msg.batch, self._window)
            else:
                self._count("stale", len(msg.items))
            return
        if msg.batch < self._next_batch or msg.batch in self._held:
            self._count("out_of_order", len(msg.items))  # a duplicate, or too late
            return
        if msg.batch > self._next_batch:
            # An earlier batch is late: wait for it, at most the reorder window.
            self._held[msg.batch] = (msg, self.ctx.clock.now())
            self._arm_window(msg.session, self._next_batch, self._window)
            return
        self._dispatch(msg)
        self._next_batch += 1
        self._release_held(skip_before=None)

    def _release_held(self, *, skip_before: float | None) -> None:
        """Deliver held batches in order; with ``skip_before``, a gap in front of a batch
        that has waited since then is given up (counted as a gap)."""
        while self._held:
            first = min(self._held)
            held, arrived = self._held[first]
            if first != self._next_batch:
                if skip_before is None or arrived > skip_before:
                    break
                self._count("gaps", first - self._next_batch)
                self._next_batch = first
            del self._held[first]
            self._dispatch(held)
            self._next_batch += 1
        if not self._held and not self._early:
            self._disarm_window()

    def _arm_window(self, session: int, batch: int, delay: float) -> None:
        if self._gap_timer is None:
            elapsed, me = ReorderWindowElapsed(session=session, batch=batch), self._me
            self._gap_timer = self.ctx.clock.call_later(
                delay, lambda: me.tell(elapsed), label="ReorderWindowElapsed"
            )

    def _disarm_window(self) -> None:
        if self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None

    def _on_window(self, msg: ReorderWindowElapsed) -> None:
        self._gap_timer = None
        if self._early:
            # Their session was never announced in time: they are not deliverable.
            self._count("stale", sum(len(b.items) for b in self._early))
            self._early = []
        if msg.session == self._session and self._held:
            now = self.ctx.clock.now()
            self._release_held(skip_before=now - self._window)
            if self._held:
                _, arrived = self._held[min(self._held)]
                wait = max(0.0, arrived + self._window - now)
                self._arm_window(msg.session, self._next_batch, wait)

    def _dispatch(self, msg: NotificationBatch) -> None:
        pairs: list[tuple[Subscribe, RawNotification]] = []
        streams: dict[int, tuple[Subscribe, list[RawNotification]]] = {}
        unsubscribed = 0
        for item in msg.items:
            subs = self._by_uuid.get(item.uuid)
            if not subs:
                unsubscribed += 1
                continue
            for sub in subs:
                if sub.loop is None:
                    pairs.append((sub, item))
                else:
                    streams.setdefault(sub.token, (sub, []))[1].append(item)
        if pairs:
            self.ctx.lane.notifications(pairs)
        routed = len(pairs)
        for sub, items in streams.values():
            assert sub.loop is not None
            routed += len(items)
            self.ctx.lane.count_streamed(len(items))
            sub.loop.call_soon_threadsafe(sub.callback, tuple(items))
        self._counts["routed"] += routed
        if unsubscribed:
            self._count("unsubscribed", unsubscribed)

    def _count(self, what: str, n: int) -> None:
        self._counts[what] += n
        self.ctx.metrics.increment(f"notifications.{what}", n, tags=self.tags)

    # --- subscriptions ----------------------------------------------------------------

    def _add(self, sub: Subscribe) -> None:
        self._subs[sub.token] = sub
        self._by_uuid[sub.uuid] = (*self._by_uuid.get(sub.uuid, ()), sub)

    def _remove(self, sub: Subscribe) -> None:
        self._subs.pop(sub.token, None)
        remaining = tuple(s for s in self._by_uuid.get(sub.uuid, ()) if s.token != sub.token)
        if remaining:
            self._by_uuid[sub.uuid] = remaining
        else:
            self._by_uuid.pop(sub.uuid, None)

    def _checkpoint(self, *, dying: bool = False) -> None:
        subs = tuple(self._subs.values())
        data = NotifyCheckpoint(subs)
        if dying and self._session is not None:
            data = NotifyCheckpoint(subs, self._session, self._next_batch, tuple(self._active))
        self.ctx.supervisor.tell(Checkpoint(device=self.ctx.device, role=Role.NOTIFY, data=data))

    def _on_subscribe(self, msg: Subscribe) -> None:
        if msg.cancelled.is_set() or msg.token in self._subs:
            self.router.reply(msg.request_id)  # cancelled already, or a duplicate
            return
        self._add(msg)
        self._checkpoint()
        if self._session is None or msg.uuid in self._active:
            self.router.reply(msg.request_id)  # recorded; applied on the next CONNECTED
            return
        self._awaiting.setdefault(msg.uuid, []).append(msg.request_id)
        self._start(msg.uuid)

    def _start(self, uuid: str) -> None:
        if self._session is not None and uuid not in self._starting:
            self._starting.add(uuid)
            self._radio.tell(StartNotify(uuid=uuid, session=self._session))

    def _on_started(self, msg: NotifyStarted) -> None:
        if msg.session != self._session:
            return
        self._starting.discard(msg.uuid)
        waiting = self._awaiting.pop(msg.uuid, [])
        if msg.error is None:
            self._active.add(msg.uuid)
            for request_id in waiting:
                self.router.reply(request_id)
            return
        log.warning(
            "could not enable notifications on %s: %r",
            msg.uuid,
            msg.error,
            extra={"device": self.address, "state_version": msg.session},
        )
        self.ctx.metrics.increment("notifications.start_errors", tags=self.tags)
        if waiting:
            # The callers get the error from subscribe(), so they hold no Subscription
            # to cancel: forget what they asked for.
            for sub in self._by_uuid.get(msg.uuid, ()):
                if sub.request_id in waiting:
                    self._remove(sub)
            self._checkpoint()
            for request_id in waiting:
                self.router.reply(request_id, error=msg.error)

    def _on_unsubscribe(self, msg: Unsubscribe) -> None:
        sub = self._subs.get(msg.token)
        if sub is None:
            self.router.reply(msg.request_id)  # idempotent
            return
        self._remove(sub)
        self._checkpoint()
        uuid = sub.uuid
        if uuid in self._by_uuid:
            self.router.reply(msg.request_id)  # others still want this characteristic
            return
        was_on = uuid in self._active or uuid in self._starting
        self._active.discard(uuid)
        self._starting.discard(uuid)
        if was_on and self._session is not None:
            # The RadioActor answers the caller once the backend has stopped.
            self._radio.tell(
                StopNotify(uuid=uuid, session=self._session, request_id=msg.request_id)
            )
        else:
            self.router.reply(msg.request_id)

    # --- state ------------------------------------------------------------------------

    def _on_state(self, event: StateChanged) -> None:
        if event.new is ConnectionState.CONNECTED:
            if event.version != self._session:  # else: the resync of a continued session
                self._end_session()
                self._session, self._next_batch = event.version, 1
            for uuid in self._by_uuid:
                self._start(uuid)
            early, self._early = self._early, []
            for batch in sorted(early, key=lambda b: (b.session, b.batch)):
                self._on_batch(batch)
        elif self._session is not None:
            # Inactive, not dropped: the next CONNECTED re-applies every subscription.
            self._end_session()
            for waiting in self._awaiting.values():
                for request_id in waiting:
                    self.router.reply(request_id)
            self._awaiting.clear()

    def _end_session(self) -> None:
        # Batches held for a gap arrived while their session was current: the gap can no
        # longer fill, so they go out now, in order, and the gap is counted.
        self._release_held(skip_before=math.inf)
        self._session = None
        self._active.clear()
        self._starting.clear()
        self._disarm_window()

    def release(self, error: BaseException) -> None:
        # Stopped (a restart of the whole group, a removal, close): what was held for a gap
        # arrived while its session was current, and goes out now.
        self._release_held(skip_before=math.inf)
        self._disarm_window()

    def on_failure(self, *exc_info: Any) -> None:
        # The successor continues the session where this actor was (the checkpoint reaches
        # the supervisor before the ChildFailed the base class sends), and gets the batches
        # held here with the rest of the mail.
        self._checkpoint(dying=True)
        held = [batch for _, (batch, _arrived) in sorted(self._held.items())] + self._early
        self._held, self._early = {}, []
        for batch in held:
            self._me.deliver(batch)
        super().on_failure(*exc_info)

    def statistics(self) -> NotifyStats:
        batches = [b for b, _ in self._held.values()] + self._early
        held = sum(len(b.items) for b in batches)
        return NotifyStats(
            subscriptions=len(self._subs),
            active_characteristics=len(self._active),
            notifications_routed=self._counts["routed"],
            notifications_stale=self._counts["stale"],
            notifications_out_of_order=self._counts["out_of_order"],
            notifications_gaps=self._counts["gaps"],
            notifications_held=held,
            notifications_unsubscribed=self._counts["unsubscribed"],
        )
