"""NotificationActor: the wanted subscriptions, their re-application, and dispatch.

Subscriptions are data (token, characteristic, callback, decoder). On every CONNECTED
the actor asks the RadioActor to enable each wanted characteristic once for the new
session; on link loss they are marked inactive, never dropped. A raw notification is
dropped if its session is over (stale) or its sequence number is not new (a duplicate
or a reorder), then decoded and handed to each subscriber's callback inside the error
guard. State listeners (``on_state_change``) are called here too, so user code never
runs on the RadioActor's thread.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading
import typing
from typing import Any, assert_never

import pykka

from blerun.actors._errors import InjectedCrash
from blerun.actors._guard import guarded
from blerun.actors._metrics import Metrics
from blerun.actors._router import Router
from blerun.messages import (
    Address,
    AddStateListener,
    Checkpoint,
    ChildFailed,
    ConnectionState,
    GetStats,
    NotifyCommand,
    NotifyStarted,
    Poison,
    RawNotification,
    RemoveStateListener,
    Resync,
    Role,
    StartNotify,
    StateChanged,
    StopNotify,
    Subscribe,
    Unsubscribe,
)

log = logging.getLogger(__name__)

_ACCEPTS = typing.get_args(NotifyCommand)

# Which device's NotificationActor the current thread is, if any: a subscription
# cancelled from inside its own callback must not wait for this very thread.
_dispatching = threading.local()


def dispatching_for(device: str) -> bool:
    """Whether the caller runs on ``device``'s NotificationActor thread (in a callback)."""
    return getattr(_dispatching, "device", None) == device


class Sentinel(enum.Enum):
    """Marker values delivered in place of a decoded value."""

    UNDECODABLE = "undecodable"
    """``Notification.value`` when the subscription's decoder raised (the error is logged
    and counted as ``notifications.decode_errors``); ``data`` still holds the bytes."""


UNDECODABLE = Sentinel.UNDECODABLE


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """What a subscriber's callback receives."""

    device: str
    """The device id."""
    char: str
    """Normalized characteristic UUID."""
    data: bytes
    """The payload as the peripheral sent it."""
    value: Any
    """``decode(data)``; ``data`` without a decoder; ``UNDECODABLE`` if decoding failed."""
    seq: int
    """Sequence number within the connection and characteristic, from 1."""
    received_at: float
    """Clock time when bleak delivered it."""


@dataclasses.dataclass(frozen=True, slots=True)
class NotifyCheckpoint:
    """What survives a NotificationActor restart: the user's subscriptions and listeners."""

    subscriptions: tuple[Subscribe, ...]
    listeners: tuple[AddStateListener, ...]


class NotificationActor(pykka.ThreadingActor):
    """One device's subscriptions and user callbacks; see the module docstring."""

    use_daemon_thread = True

    def __init__(
        self,
        *,
        device: str,
        router: Router,
        metrics: Metrics,
        checkpoint: NotifyCheckpoint | None,
        generation: int,
    ) -> None:
        super().__init__()
        self._device = device
        self._router = router
        self._metrics = metrics
        self._generation = generation
        self._tags = {"device": device}
        self._me = Address(device=device, role=Role.NOTIFY)
        self._radio = Address(device=device, role=Role.RADIO)

        self._subs: dict[int, Subscribe] = {}
        self._by_char: dict[str, list[Subscribe]] = {}
        self._listeners: dict[int, AddStateListener] = {}
        if checkpoint is not None:
            for sub in checkpoint.subscriptions:
                self._add(sub)
            self._listeners = {ln.token: ln for ln in checkpoint.listeners}

        self._seen_version = 0
        self._session: int | None = None
        self._active: set[str] = set()
        self._starting: set[str] = set()
        self._awaiting: dict[str, list[int]] = {}
        self._last_seq: dict[str, int] = {}
        self._counts = {
            "delivered": 0,
            "stale": 0,
            "out_of_order": 0,
            "gaps": 0,
            "unsubscribed": 0,
            "callback_errors": 0,
            "decode_errors": 0,
        }

    def on_start(self) -> None:
        _dispatching.device = self._device

    def on_receive(self, message: Any) -> None:
        if not isinstance(message, _ACCEPTS):
            log.warning("NotificationActor ignores %r", message, extra={"device": self._device})
            return
        msg: NotifyCommand = message
        match msg:
            case RawNotification():
                self._on_raw(msg)
            case Subscribe():
                self._on_subscribe(msg)
            case Unsubscribe():
                self._on_unsubscribe(msg)
            case NotifyStarted():
                self._on_started(msg)
            case StateChanged():
                if msg.version > self._seen_version:  # duplicates and resyncs are seen once
                    self._seen_version = msg.version
                    self._on_state(msg)
            case AddStateListener():
                self._listeners[msg.token] = msg
                self._checkpoint()
            case RemoveStateListener():
                if self._listeners.pop(msg.token, None) is not None:
                    self._checkpoint()
            case GetStats():
                self._router.reply(
                    msg.request_id,
                    {
                        **self._counts,
                        "subscriptions": len(self._subs),
                        "active_characteristics": len(self._active),
                    },
                )
            case Resync():
                pass
            case Poison():
                raise InjectedCrash(f"NotificationActor poisoned: {msg.note}", device=self._device)
            case _:
                assert_never(msg)

    # --- the hot path -----------------------------------------------------------------

    def _on_raw(self, msg: RawNotification) -> None:
        if msg.session != self._session:
            self._count("stale")
            return
        char = msg.char
        last = self._last_seq.get(char, 0)
        if msg.seq <= last:
            self._count("out_of_order")
            return
        if msg.seq > last + 1:
            self._count("gaps", msg.seq - last - 1)
        self._last_seq[char] = msg.seq
        subscribers = self._by_char.get(char)
        if not subscribers:
            self._count("unsubscribed")
            return
        for sub in subscribers:
            if sub.cancelled.is_set():
                continue
            value: Any = msg.data
            if sub.decode is not None:
                ok, value = guarded(
                    sub.decode,
                    msg.data,
                    what=f"decoder for {char}",
                    counter="notifications.decode_errors",
                    device=self._device,
                    metrics=self._metrics,
                )
                if not ok:
                    self._counts["decode_errors"] += 1
                    if sub.skip_undecodable:
                        continue
                    value = UNDECODABLE
            note = Notification(
                device=self._device,
                char=char,
                data=msg.data,
                value=value,
                seq=msg.seq,
                received_at=msg.received_at,
            )
            ok, _ = guarded(
                sub.callback,
                note,
                what=f"notification callback for {char}",
                counter="callbacks.errors",
                device=self._device,
                metrics=self._metrics,
            )
            if not ok:
                self._counts["callback_errors"] += 1
            self._counts["delivered"] += 1
        self._metrics.increment("notifications.delivered", tags=self._tags)

    def _count(self, what: str, n: int = 1) -> None:
        self._counts[what] += n
        self._metrics.increment(f"notifications.{what}", n, tags=self._tags)

    # --- subscriptions ----------------------------------------------------------------

    def _add(self, sub: Subscribe) -> None:
        self._subs[sub.token] = sub
        self._by_char.setdefault(sub.char, []).append(sub)

    def _checkpoint(self) -> None:
        self._router.tell(
            Address(device="", role=Role.SUPERVISOR),
            Checkpoint(
                device=self._device,
                role=Role.NOTIFY,
                data=NotifyCheckpoint(tuple(self._subs.values()), tuple(self._listeners.values())),
            ),
        )

    def _on_subscribe(self, msg: Subscribe) -> None:
        if msg.cancelled.is_set():
            self._router.reply(msg.request_id)
            return
        self._add(msg)
        self._checkpoint()
        if self._session is None or msg.char in self._active:
            self._router.reply(msg.request_id)  # recorded; applied on the next CONNECTED
            return
        self._awaiting.setdefault(msg.char, []).append(msg.request_id)
        self._start(msg.char)

    def _start(self, char: str) -> None:
        if self._session is not None and char not in self._starting:
            self._starting.add(char)
            self._router.tell(self._radio, StartNotify(char=char, session=self._session))

    def _on_started(self, msg: NotifyStarted) -> None:
        if msg.session != self._session:
            return
        self._starting.discard(msg.char)
        waiting = self._awaiting.pop(msg.char, [])
        if msg.error is None:
            self._active.add(msg.char)
            for request_id in waiting:
                self._router.reply(request_id)
            return
        log.warning(
            "could not enable notifications on %s: %r",
            msg.char,
            msg.error,
            extra={"device": self._device, "state_version": msg.session},
        )
        self._metrics.increment("notifications.start_errors", tags=self._tags)
        if waiting:
            # The callers get the error from subscribe(), so they hold no Subscription
            # to cancel: forget what they asked for.
            for sub in list(self._by_char.get(msg.char, [])):
                if sub.request_id in waiting:
                    self._remove(sub)
            self._checkpoint()
            for request_id in waiting:
                self._router.reply(request_id, error=msg.error)

    def _remove(self, sub: Subscribe) -> None:
        self._subs.pop(sub.token, None)
        remaining = [s for s in self._by_char.get(sub.char, []) if s.token != sub.token]
        if remaining:
            self._by_char[sub.char] = remaining
        else:
            self._by_char.pop(sub.char, None)

    def _on_unsubscribe(self, msg: Unsubscribe) -> None:
        sub = self._subs.get(msg.token)
        if sub is None:
            self._router.reply(msg.request_id)  # idempotent
            return
        self._remove(sub)
        self._checkpoint()
        char = sub.char
        if char in self._by_char:
            self._router.reply(msg.request_id)  # others still want this characteristic
            return
        was_on = char in self._active or char in self._starting
        self._active.discard(char)
        self._starting.discard(char)
        self._last_seq.pop(char, None)
        if was_on and self._session is not None:
            # The RadioActor answers the caller once the backend has stopped.
            self._router.tell(
                self._radio,
                StopNotify(char=char, session=self._session, request_id=msg.request_id),
            )
        else:
            self._router.reply(msg.request_id)

    # --- state ------------------------------------------------------------------------

    def _on_state(self, event: StateChanged) -> None:
        for listener in list(self._listeners.values()):
            guarded(
                listener.callback,
                event,
                what="on_state_change callback",
                counter="callbacks.errors",
                device=self._device,
                metrics=self._metrics,
            )
        if event.new is ConnectionState.CONNECTED:
            self._session = event.version
            self._active.clear()
            self._starting.clear()
            self._last_seq.clear()
            for char in self._by_char:
                self._start(char)
        elif self._session is not None:
            # Inactive, not dropped: the next CONNECTED re-applies every subscription.
            self._session = None
            self._active.clear()
            self._starting.clear()
            for waiting in self._awaiting.values():
                for request_id in waiting:
                    self._router.reply(request_id)
            self._awaiting.clear()

    def on_failure(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        self._router.tell(
            Address(device="", role=Role.SUPERVISOR),
            ChildFailed(
                device=self._device,
                role=Role.NOTIFY,
                generation=self._generation,
                error=exc_value if isinstance(exc_value, BaseException) else RuntimeError("crash"),
            ),
        )

    def on_stop(self) -> None:
        _dispatching.device = None
