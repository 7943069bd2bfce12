"""ReconnectActor: owns the attempt counter, the next-attempt timer and the reset criteria.

It learns the device's state from ``StateChanged`` events and never sleeps: each delay
is a Clock timer whose firing tells the RadioActor ``ReconnectDue``. When the policy is
spent it tells ``GiveUp`` instead. Counting rules are in ``_policy``'s docstring.
"""

from __future__ import annotations

import logging
import random
import typing
from typing import Any, assert_never

import pykka

from blerun.actors._clock import Clock, Timer
from blerun.actors._errors import InjectedCrash
from blerun.actors._guard import guarded
from blerun.actors._metrics import Metrics
from blerun.actors._policy import AttemptInfo, Hook, ReconnectPolicy
from blerun.actors._router import Router
from blerun.messages import (
    Address,
    ChildFailed,
    ConnectionState,
    GetStats,
    GiveUp,
    IoSucceeded,
    Poison,
    Reason,
    ReconnectCommand,
    ReconnectDue,
    Resync,
    Role,
    StableWindowElapsed,
    StateChanged,
)

log = logging.getLogger(__name__)

S = ConnectionState
_ACCEPTS = typing.get_args(ReconnectCommand)


class ReconnectActor(pykka.ThreadingActor):
    """One device's backoff; see the module docstring."""

    use_daemon_thread = True

    def __init__(
        self,
        *,
        device: str,
        policy: ReconnectPolicy,
        router: Router,
        clock: Clock,
        metrics: Metrics,
        rng: random.Random,
        generation: int,
    ) -> None:
        super().__init__()
        self._device = device
        self._policy = policy
        self._router = router
        self._clock = clock
        self._metrics = metrics
        self._rng = rng
        self._generation = generation
        self._tags = {"device": device}
        self._radio = Address(device=device, role=Role.RADIO)
        self._me = Address(device=device, role=Role.RECONNECT)

        self._attempt = 0
        self._seen_version = 0
        self._connected_version: int | None = None
        self._deadline_at: float | None = None
        self._retry_timer: Timer | None = None
        self._stable_timer: Timer | None = None
        self._counts = {"scheduled": 0, "resets": 0, "give_ups": 0}

    def on_receive(self, message: Any) -> None:
        if not isinstance(message, _ACCEPTS):
            log.warning("ReconnectActor ignores %r", message, extra={"device": self._device})
            return
        msg: ReconnectCommand = message
        match msg:
            case StateChanged():
                if msg.version > self._seen_version:  # duplicates and resyncs are seen once
                    self._seen_version = msg.version
                    self._on_state(msg)
            case StableWindowElapsed():
                if msg.version == self._connected_version:
                    self._reset("stable window elapsed")
            case IoSucceeded():
                if self._policy.reset_on_io and msg.version == self._connected_version:
                    self._reset("successful I/O")
            case GetStats():
                self._router.reply(msg.request_id, {"attempt": self._attempt, **self._counts})
            case Resync():
                pass  # the RadioActor re-sends its last event; nothing of ours to re-announce
            case Poison():
                raise InjectedCrash(f"ReconnectActor poisoned: {msg.note}", device=self._device)
            case _:
                assert_never(msg)

    def _on_state(self, event: StateChanged) -> None:
        self._cancel(self._retry_timer)
        self._retry_timer = None
        match event.new:
            case S.CONNECTING:
                if event.reason in (Reason.USER_CONNECT, Reason.RESTARTED):
                    self._attempt = 0
                    deadline = self._policy.deadline
                    self._deadline_at = None if deadline is None else self._clock.now() + deadline
            case S.CONNECTED:
                self._connected_version = event.version
                self._deadline_at = None
                self._hook(self._policy.on_success, event.attempt, 0.0, None, "on_success")
                version, router, me = event.version, self._router, self._me
                self._stable_timer = self._clock.call_later(
                    self._policy.stable_window,
                    lambda: router.tell(me, StableWindowElapsed(version=version)),
                    label="StableWindowElapsed",
                )
            case S.RECONNECTING:
                self._leave_connected()
                self._schedule(event)
            case S.DISCONNECTED | S.DISCONNECTING | S.FAILED | S.CLOSED:
                self._leave_connected()
                self._deadline_at = None
            case _:
                assert_never(event.new)

    def _leave_connected(self) -> None:
        self._connected_version = None
        self._cancel(self._stable_timer)
        self._stable_timer = None

    def _schedule(self, event: StateChanged) -> None:
        self._attempt += 1
        attempt = self._attempt
        delay = self._policy.delay_after(attempt, self._rng, event.error)
        past_deadline = (
            self._deadline_at is not None and self._clock.now() + delay > self._deadline_at
        )
        if self._policy.exhausted(attempt) or past_deadline:
            made = attempt - 1
            self._counts["give_ups"] += 1
            log.warning(
                "%s: giving up after %d reconnection attempts%s",
                self._device,
                made,
                " (deadline)" if past_deadline else "",
                extra={"device": self._device, "attempt": made, "state_version": event.version},
            )
            self._hook(self._policy.on_give_up, made, 0.0, event.error, "on_give_up")
            self._router.tell(
                self._radio, GiveUp(version=event.version, attempt=made, error=event.error)
            )
            return
        self._counts["scheduled"] += 1
        self._metrics.observe("reconnect.delay", delay, tags=self._tags)
        log.info(
            "%s: reconnection attempt %d in %.3f s",
            self._device,
            attempt,
            delay,
            extra={
                "device": self._device,
                "attempt": attempt,
                "delay": delay,
                "state_version": event.version,
                "reason": event.reason.value,
            },
        )
        self._hook(self._policy.on_attempt, attempt, delay, event.error, "on_attempt")
        due = ReconnectDue(version=event.version, attempt=attempt, delay=delay)
        router, radio = self._router, self._radio
        self._retry_timer = self._clock.call_later(
            delay, lambda: router.tell(radio, due), label="ReconnectDue"
        )

    def _reset(self, why: str) -> None:
        if self._attempt:
            self._counts["resets"] += 1
            log.debug(
                "%s: attempt counter reset (%s)", self._device, why, extra={"device": self._device}
            )
        self._attempt = 0

    def _hook(
        self, hook: Hook | None, attempt: int, delay: float, error: BaseException | None, name: str
    ) -> None:
        if hook is None:
            return
        info = AttemptInfo(device=self._device, attempt=attempt, delay=delay, error=error)
        guarded(
            hook,
            info,
            what=f"ReconnectPolicy.{name} hook",
            counter="callbacks.errors",
            device=self._device,
            metrics=self._metrics,
        )

    @staticmethod
    def _cancel(timer: Timer | None) -> None:
        if timer is not None:
            timer.cancel()

    def on_stop(self) -> None:
        self._cancel(self._retry_timer)
        self._cancel(self._stable_timer)

    def on_failure(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        self.on_stop()
        self._router.tell(
            Address(device="", role=Role.SUPERVISOR),
            ChildFailed(
                device=self._device,
                role=Role.RECONNECT,
                generation=self._generation,
                error=exc_value if isinstance(exc_value, BaseException) else RuntimeError("crash"),
            ),
        )
